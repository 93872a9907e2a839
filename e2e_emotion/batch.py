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
import os

from e2e_emotion.files import atomic_path
from e2e_emotion.runtime import one_line

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
    """Predicts one recording into ``OUTPUT_DIR/<stem>.csv``; returns ``""``, or the
    reason it failed. Never raises for a recording that cannot be read: the reason is
    returned (the dead letter)."""
    from e2e_emotion import predict

    csv_path = os.path.join(output_dir, f"{output_name(entry)}.csv")
    try:
        predict.predict_file(entry, predictor, csv_path, None, face_mode, video_offset=video_offset)
    except Exception as error:  # a bad file must not end the batch: it is reported
        return f"{type(error).__name__}: {one_line(error)}"
    return ""


def shown(entry):
    """How ``failures.csv`` names an entry: its path, or ``audio,video``."""
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


def read_failures(output_dir):
    """``[(file, reason)]`` of ``failures.csv`` (empty when there is none)."""
    path = os.path.join(output_dir, FAILURES_FILE)
    if not os.path.exists(path):
        return []
    with open(path, newline="") as stream:
        return [tuple(row) for row in list(csv.reader(stream))[1:]]


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
        BatchError: a bad manifest, runner, Beam option or output directory;
            ``predict.PredictError``: the model cannot be opened (locally; a Beam worker
            fails the job).
    """
    from e2e_emotion import predict
    from tfrecords_tools.schema import DEFAULT_FACE_MODE

    face_mode = face_mode or DEFAULT_FACE_MODE
    if runner not in RUNNERS:
        raise BatchError(f"--runner={runner!r}: expected one of {RUNNERS}")
    entries = read_manifest(manifest)
    options = _beam_options(beam_args) if runner == "beam" else None  # before any output
    output_dir = os.fspath(output_dir)
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise BatchError(f"--output_dir={output_dir}: a file, not a directory")
    os.makedirs(output_dir, exist_ok=True)
    # A recording whose CSV exists was done by an earlier run: not sent again.
    todo = [
        entry
        for _, entry in entries
        if not os.path.exists(os.path.join(output_dir, f"{output_name(entry)}.csv"))
    ]
    if options is not None and todo:
        from e2e_emotion import batch_beam

        batch_beam.run(
            todo, model_path, output_dir, face_mode, sequence_length, video_offset, options
        )
        failures = read_failures(output_dir)
    else:
        predictor = predict.load_predictor(model_path, sequence_length) if todo else None
        failures = []
        for entry in todo:
            reason = predict_entry(predictor, entry, output_dir, face_mode, video_offset)
            if reason:
                failures.append((shown(entry), reason))
        write_failures(output_dir, failures)
    return {
        "done": len(todo) - len(failures),
        "exists": len(entries) - len(todo),
        "failed": len(failures),
        "failures": os.path.join(output_dir, FAILURES_FILE) if failures else None,
    }


def _beam_options(args):
    from tfrecords_tools.beam_options import pipeline_options

    try:
        return pipeline_options(args)
    except ValueError as error:
        raise BatchError(str(error)) from None
