"""Predictions for many media files, locally or as an Apache Beam pipeline.

A manifest lists one recording per line: a media file (``talk.mp4``), or an audio and a
video file recorded apart (``talk.wav,talk_face.mp4``); blank lines and lines starting
with ``#`` are skipped, relative paths are read from the manifest's directory. Each
recording's predictions go to ``OUTPUT_DIR/<stem>.csv`` (the stem of its media file, or
of its audio file for a pair), written as ``bin/predict.py`` writes them (atomically).
A recording whose CSV already exists is skipped, so a rerun resumes. A recording that
cannot be read is not fatal: it is listed with the reason in ``OUTPUT_DIR/failures.csv``
and the others go on.

``runner="beam"`` runs the same per-recording step (``predict_entry``) in a Beam
pipeline, the model opened once per worker (``DoFn.setup``).
"""

from __future__ import annotations

import csv
import io
import json
import os

from e2e_emotion.files import atomic_path

try:  # the beam extra; the local runner works without it
    import apache_beam as beam
except ImportError:
    beam = None

FAILURES_FILE = "failures.csv"
RUNNERS = ("local", "beam")


class BatchError(ValueError):
    """The manifest or the output directory cannot be used; the message names it."""


def read_manifest(path):
    """``[(line number, entry)]`` of a manifest; an entry is a media path or ``{"audio":
    path, "video": path}``. Raises ``BatchError`` naming the manifest and line."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise BatchError(f"--input_manifest={path}: cannot read it ({error})") from None
    base = os.path.dirname(os.path.abspath(path))
    entries, names = [], {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) > 2 or not all(parts):
            raise BatchError(
                f"{path}, line {number}: expected one media path or 'audio,video', got {line!r}"
            )
        paths = [os.path.join(base, part) for part in parts]
        entry = paths[0] if len(paths) == 1 else {"audio": paths[0], "video": paths[1]}
        name = output_name(entry)
        if name in names:
            raise BatchError(
                f"{path}, lines {names[name]} and {number}: both would write {name}.csv"
            )
        names[name] = number
        entries.append((number, entry))
    if not entries:
        raise BatchError(f"{path}: no media listed")
    return entries


def output_name(entry):
    """The CSV's stem: the media file's, or the audio file's for a pair."""
    first = entry["audio"] if isinstance(entry, dict) else entry
    return os.path.splitext(os.path.basename(first))[0]


def predict_entry(predictor, entry, output_dir, face_mode, video_offset=0.0):
    """One recording: ``("done" | "exists" | "failed", name, reason)``. Never raises for
    a recording that cannot be read: the reason is returned (the dead letter)."""
    from e2e_emotion import predict

    name = output_name(entry)
    csv_path = os.path.join(output_dir, f"{name}.csv")
    if os.path.exists(csv_path):
        return "exists", name, ""
    try:
        predict.predict_file(entry, predictor, csv_path, None, face_mode, video_offset=video_offset)
    except Exception as error:  # a bad file must not end the batch: it is reported
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        return "failed", name, f"{type(error).__name__}: {reason}"
    return "done", name, ""


def _shown(entry):
    return f"{entry['audio']},{entry['video']}" if isinstance(entry, dict) else entry


def write_failures(output_dir, failures):
    """``failures.csv`` (``file,reason``), written atomically; removed when empty."""
    path = os.path.join(output_dir, FAILURES_FILE)
    if not failures:
        if os.path.exists(path):
            os.remove(path)
        return None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "reason"])
    writer.writerows(sorted(failures))
    with atomic_path(path, suffix=".csv") as temporary, open(temporary, "w") as stream:
        stream.write(buffer.getvalue())
    return path


def _summary(results, output_dir):
    counts = {status: 0 for status in ("done", "exists", "failed")}
    for status, _, _ in results:
        counts[status] += 1
    failures = os.path.join(output_dir, FAILURES_FILE)
    return {**counts, "failures": failures if counts["failed"] else None}


def predict_manifest(
    manifest,
    model_path,
    output_dir,
    runner="local",
    beam_args=(),
    face_mode=None,
    sequence_length=150,
    video_offset=0.0,
):
    """Predicts every recording of ``manifest`` into ``output_dir`` (module docstring).

    Returns ``{"done": n, "exists": n, "failed": n, "failures": path or None}``.

    Raises:
        BatchError: a bad manifest, runner or output directory; ``predict.PredictError``:
            the model cannot be opened (locally; a Beam worker fails the job).
    """
    from e2e_emotion import predict
    from tfrecords_tools.schema import DEFAULT_FACE_MODE

    face_mode = face_mode or DEFAULT_FACE_MODE
    if runner not in RUNNERS:
        raise BatchError(f"--runner={runner!r}: expected one of {RUNNERS}")
    entries = read_manifest(manifest)
    if runner == "beam":
        _beam_options(beam_args)  # before any output: the extra may be missing, an option wrong
    output_dir = os.fspath(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise BatchError(f"--output_dir={output_dir}: a file, not a directory")
    os.makedirs(output_dir, exist_ok=True)
    if runner == "beam":
        results = _run_beam(
            entries, model_path, output_dir, face_mode, sequence_length, video_offset, beam_args
        )
    else:
        predictor = predict.load_predictor(model_path, sequence_length)
        results = []
        for _, entry in entries:
            status, name, reason = predict_entry(
                predictor, entry, output_dir, face_mode, video_offset
            )
            results.append((status, _shown(entry), reason))
        write_failures(output_dir, [(n, r) for s, n, r in results if s == "failed"])
    return _summary(results, output_dir)


class _PredictDoFn(beam.DoFn if beam is not None else object):
    """The Beam step: the model opened once per worker, then one recording per element."""

    def __init__(self, model_path, output_dir, face_mode, sequence_length, video_offset):
        self.model_path = model_path
        self.output_dir = output_dir
        self.face_mode = face_mode
        self.sequence_length = sequence_length
        self.video_offset = video_offset
        self.predictor = None

    def setup(self):
        from e2e_emotion import predict

        self.predictor = predict.load_predictor(self.model_path, self.sequence_length)

    def process(self, element):
        _, entry = element
        status, _, reason = predict_entry(
            self.predictor, entry, self.output_dir, self.face_mode, self.video_offset
        )
        yield status, _shown(entry), reason


_RESULTS_FILE = ".batch_results.json"


def _collect(results, output_dir):
    """The pipeline's last step: ``failures.csv`` and the results for the driver."""
    failed = [(name, reason) for status, name, reason in results if status == "failed"]
    write_failures(output_dir, failed)
    path = os.path.join(output_dir, _RESULTS_FILE)
    with atomic_path(path) as temporary, open(temporary, "w") as stream:
        json.dump(results, stream)


def _beam_options(args):
    if beam is None:
        raise BatchError("--runner=beam needs Apache Beam: pip install -e '.[cpu,beam]'")
    from tfrecords_tools.beam_options import pipeline_options

    try:
        return pipeline_options(args)
    except ValueError as error:
        raise BatchError(str(error)) from None


def _run_beam(entries, model_path, output_dir, face_mode, sequence_length, video_offset, args):
    options = _beam_options(args)
    results_path = os.path.join(output_dir, _RESULTS_FILE)
    if os.path.exists(results_path):
        os.remove(results_path)
    step = _PredictDoFn(model_path, output_dir, face_mode, sequence_length, video_offset)
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | "manifest" >> beam.Create(entries)
            | "predict" >> beam.ParDo(step)
            | "all results" >> beam.combiners.ToList()
            | "failures" >> beam.Map(_collect, output_dir)
        )
    with open(results_path) as stream:
        results = [tuple(row) for row in json.load(stream)]
    os.remove(results_path)
    return results
