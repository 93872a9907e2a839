"""A manifest of recordings, and what batch prediction writes for each of them.

A manifest lists one recording per line: a media file (``talk.mp4``), or an audio and a
video file recorded apart (``talk.wav,talk_face.mp4``); blank lines and lines starting
with ``#`` are skipped, relative paths are read from the manifest's directory. Each
recording's predictions go to ``OUTPUT_DIR/<stem>.csv`` (``predict_entry``); a recording
that cannot be read is returned with its reason, and the reasons go to
``OUTPUT_DIR/failures.csv``. Both runners of ``e2e_emotion.batch`` use these.
``OUTPUT_DIR`` may be an object-store URL (``gs://...``, ``tfrecords_tools.storage``).
"""

from __future__ import annotations

import csv
import io
import os

from e2e_emotion.files import atomic_path
from e2e_emotion.runtime import one_line
from tfrecords_tools import storage

FAILURES_FILE = "failures.csv"


class BatchError(ValueError):
    """The manifest or the output directory cannot be used; the message names it."""


def read_manifest(path):
    """``[(line number, entry)]`` of a manifest; an entry is a media path or ``{"audio":
    path, "video": path}``. Raises ``BatchError`` naming the manifest and line."""
    path = os.fspath(path)
    try:
        lines = storage.read_text(path).splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise BatchError(f"--input_manifest={path}: cannot read it ({error})") from None
    base = storage.dirname(storage.absolute(path))
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
        # A URL (gs://...) as it is; a relative path from the manifest's folder.
        paths = [part if storage.is_url(part) else storage.join(base, part) for part in parts]
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


def output_path(output_dir, entry):
    """``OUTPUT_DIR/<stem>.csv`` of a manifest entry."""
    return storage.join(output_dir, f"{output_name(entry)}.csv")


def failure_reason(error):
    """How ``failures.csv`` states why a recording failed: the error's type and message."""
    return f"{type(error).__name__}: {one_line(error)}"


def predict_entry(predictor, entry, output_dir, face_mode, video_offset=0.0):
    """Predicts one recording into ``OUTPUT_DIR/<stem>.csv``; returns ``""``, or the
    reason it failed. Never raises for a recording that cannot be read: the reason is
    returned (the dead letter)."""
    from e2e_emotion import predict

    try:
        predict.predict_file(
            entry,
            predictor,
            output_path(output_dir, entry),
            None,
            face_mode,
            video_offset=video_offset,
        )
    except Exception as error:  # a bad file must not end the batch: it is reported
        return failure_reason(error)
    return ""


def shown(entry):
    """How ``failures.csv`` names an entry: its path, or ``audio,video``."""
    return f"{entry['audio']},{entry['video']}" if isinstance(entry, dict) else entry


def write_failures(output_dir, failures):
    """``failures.csv`` (``file,reason``), written atomically; removed when empty."""
    path = storage.join(output_dir, FAILURES_FILE)
    if not failures:
        storage.remove(path)
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
    path = storage.join(output_dir, FAILURES_FILE)
    if not storage.exists(path):
        return []
    with storage.open_file(path) as stream:
        return [tuple(row) for row in list(csv.reader(stream))[1:]]
