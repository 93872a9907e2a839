"""Predictions for many media files, locally or as an Apache Beam pipeline.

A manifest lists one recording per line: a media file (``talk.mp4``), or an audio and a
video file recorded apart (``talk.wav,talk_face.mp4``); blank lines and lines starting
with ``#`` are skipped, relative paths are read from the manifest's directory. Each
recording's predictions go to ``OUTPUT_DIR/<stem>.csv`` (the stem of its media file, or
of its audio file for a pair), written as ``bin/predict.py`` writes them (atomically).
A recording whose CSV already exists is skipped, so a rerun resumes. A recording that
cannot be read is not fatal: it is listed with the reason in ``OUTPUT_DIR/failures.csv``
and the others go on.

``runner="beam"`` runs the same per-recording prediction in a Beam pipeline, through
Beam's ``RunInference`` (``batch_beam``), the model opened once per worker process. The
manifest and the per-recording step are ``e2e_emotion.manifest``'s, shared by both.
"""

from __future__ import annotations

import os

from e2e_emotion.manifest import (
    FAILURES_FILE,
    BatchError,
    output_path,
    predict_entry,
    read_failures,
    read_manifest,
    shown,
    write_failures,
)
from tfrecords_tools import storage

RUNNERS = ("local", "beam")


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
            ``predict.PredictError``: the model cannot be opened. Each is raised before
            anything is written (with Beam, the model is opened here once too, so that a
            wrong path is not found out by every worker).
    """
    from e2e_emotion import predict
    from tfrecords_tools.schema import DEFAULT_FACE_MODE

    face_mode = face_mode or DEFAULT_FACE_MODE
    if runner not in RUNNERS:
        raise BatchError(f"--runner={runner!r}: expected one of {RUNNERS}")
    entries = read_manifest(manifest)
    options = _beam_options(beam_args) if runner == "beam" else None  # before any output
    output_dir = os.fspath(output_dir)
    problem = storage.is_url(output_dir) and storage.url_problem(output_dir)
    if problem:
        raise BatchError(f"--output_dir={problem}")
    if storage.exists(output_dir) and not storage.isdir(output_dir):
        raise BatchError(f"--output_dir={output_dir}: a file, not a directory")
    # A recording whose CSV exists was done by an earlier run: not sent again.
    todo = [entry for _, entry in entries if not storage.exists(output_path(output_dir, entry))]
    # Opened before any output, with Beam too: a wrong --model is one error here, not one
    # in every worker (which open their own; this one is then let go).
    predictor = predict.load_predictor(model_path, sequence_length) if todo else None
    storage.makedirs(output_dir, exist_ok=True)
    if options is not None and todo:
        del predictor
        from e2e_emotion import batch_beam

        batch_beam.run(
            todo, model_path, output_dir, face_mode, sequence_length, video_offset, options
        )
        failures = read_failures(output_dir)
    else:
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
        "failures": storage.join(output_dir, FAILURES_FILE) if failures else None,
    }


def _beam_options(args):
    from tfrecords_tools.beam_options import pipeline_options

    try:
        return pipeline_options(args)
    except ValueError as error:
        raise BatchError(str(error)) from None
