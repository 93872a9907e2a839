"""Reading a directory written by ``tfrecords_tools.writer``: metadata and records.

Beside the schema (``schema.parse_example``) that the writer and every reader share:
``metadata.json`` for everyone (the training input ``e2e_emotion.data`` reads the shards
itself, with ``tf.data``), whole splits and recordings as NumPy for the evaluation's
baseline, the TFLite parity check and the inspector (``inspect_records``).
"""

from __future__ import annotations

import json

import numpy as np

from tfrecords_tools import schema, storage

# A recording whose face was found in fewer of its frames than this is named in a warning
# (``face_warnings``): its visual stream is largely a guess.
FACE_WARNING_FRACTION = 0.9


class RecordsError(ValueError):
    """The directory is not a valid record directory; the message names the file."""


def split_of(metadata, members):
    """A ``metadata.json`` split entry holding only the recordings in ``members``: the
    shards that hold any of them, each once, and their frame counts; labelled if every
    split they come from is. Fold views and unions of splits (``train+dev``) are made of
    these; readers read only the recordings an entry lists."""
    shards, seen, frames, labelled = [], set(), {}, True
    for info in metadata["splits"].values():
        held = {rid: count for rid, count in info["recordings"].items() if rid in members}
        if held:
            frames.update(held)
            labelled = labelled and bool(info["labelled"])
        for shard in info["shards"]:
            # A fold view lists a shard under several splits: it is read once.
            if shard["file"] not in seen and any(rid in members for rid in shard["recordings"]):
                seen.add(shard["file"])
                shards.append(shard)
    return {
        "labelled": labelled,
        "num_recordings": len(frames),
        "num_frames": sum(frames.values()),
        "shards": shards,
        "recordings": frames,
        "label_stats": None,
    }


def load_metadata(directory):
    """Reads and checks ``metadata.json`` (schema version, required keys, shard files)."""
    path = storage.join(directory, schema.METADATA_FILE)
    problem = storage.is_url(directory) and storage.url_problem(directory)
    if problem:
        raise RecordsError(problem)
    if storage.isfile(directory):
        raise RecordsError(
            f"{directory} is a file: give the record directory (the one holding "
            f"{schema.METADATA_FILE})"
        )
    if not storage.isfile(path):
        raise RecordsError(
            f"{path}: no metadata.json (not a tfrecords_tools output directory, or one whose "
            "conversion did not finish)"
        )
    try:
        with storage.open_file(path) as stream:
            metadata = json.load(stream)
    except (OSError, json.JSONDecodeError) as error:
        raise RecordsError(f"{path}: unreadable metadata ({error})") from error
    for key in ("schema_version", "modalities", "splits", "frame_length", "sample_rate"):
        if key not in metadata:
            raise RecordsError(f"{path}: missing key {key!r}")
    if metadata["schema_version"] not in schema.READABLE_SCHEMA_VERSIONS:
        readable = ", ".join(str(v) for v in schema.READABLE_SCHEMA_VERSIONS)
        raise RecordsError(
            f"{path}: schema version {metadata['schema_version']}, this code reads "
            f"versions {readable}; re-run bin/make_tfrecords.py"
        )
    if (
        metadata["frame_length"] != schema.FRAME_LENGTH
        or metadata["sample_rate"] != schema.SAMPLE_RATE
    ):
        raise RecordsError(f"{path}: frame length / sample rate differ from the schema's")
    for split, info in metadata["splits"].items():
        for shard in info["shards"]:
            shard_path = storage.join(directory, shard["file"])
            if not storage.isfile(shard_path):
                raise RecordsError(
                    f"{path}: split {split!r} lists {shard['file']}, which is missing"
                )
    return metadata


def face_warnings(metadata):
    """One line per recording whose face was found in under ``FACE_WARNING_FRACTION`` of its
    frames (those frames carry ``face`` = 0 in the records), naming its video file."""
    lines = []
    for rid, fraction in (metadata.get("low_face_recordings") or {}).items():
        video = metadata["recordings"].get(rid, {}).get("video_path")
        lines.append(
            f"warning: recording {rid!r} ({video}): a face was found in {100 * fraction:.1f}% "
            f"of its frames (under {100 * FACE_WARNING_FRACTION:.0f}%); the others are marked "
            "without a face in the records"
        )
    return lines


def iter_shard(directory, metadata, split, shard_file, decode_video=True):
    """Yields parsed records (dicts of NumPy values) of one shard; names it on corruption."""
    import tensorflow as tf

    labelled = metadata["splits"][split]["labelled"]
    path = storage.join(directory, shard_file)
    dataset = tf.data.TFRecordDataset(path)
    index = 0
    iterator = iter(dataset)
    while True:
        try:
            serialized = next(iterator)
        except StopIteration:
            return
        except tf.errors.OpError as error:
            raise RecordsError(
                f"{path}: corrupted shard after record {index} ({error.message})"
            ) from None
        try:
            parsed = schema.parse_example(
                serialized, metadata["modalities"], labelled, decode_video
            )
        except tf.errors.OpError as error:
            raise RecordsError(
                f"{path}: record {index} does not match the schema ({error.message})"
            ) from None
        index += 1
        yield {key: value.numpy() for key, value in parsed.items()}


def read_recording(directory, recording_id, metadata=None):
    """All frames of one recording: dict of stacked NumPy arrays (audio, video, labels)."""
    metadata = metadata or load_metadata(directory)
    for split, info in metadata["splits"].items():
        if recording_id in info["recordings"]:
            for shard in info["shards"]:
                if recording_id in shard["recordings"]:
                    frames = [
                        r
                        for r in iter_shard(directory, metadata, split, shard["file"])
                        if r["recording_id"].decode() == recording_id
                    ]
                    return _stack(frames)
    known = [rid for info in metadata["splits"].values() for rid in info["recordings"]]
    raise RecordsError(f"recording {recording_id!r} is not in {directory}; known: {known}")


def read_split(directory, split, metadata=None):
    """All recordings of one split, each shard read once: ``{rid: stacked arrays}``.

    Recordings come in ``metadata.json`` order; one listed there without frames in its
    shards is an error naming it.
    """
    metadata = metadata or load_metadata(directory)
    if split not in metadata["splits"]:
        raise RecordsError(
            f"split {split!r} is not in {directory}; splits: {sorted(metadata['splits'])}"
        )
    info = metadata["splits"][split]
    grouped = {rid: [] for rid in info["recordings"]}
    for shard in info["shards"]:
        for record in iter_shard(directory, metadata, split, shard["file"]):
            grouped.setdefault(record["recording_id"].decode(), []).append(record)
    missing = [rid for rid, frames in grouped.items() if not frames]
    if missing:
        raise RecordsError(f"{directory}: split {split!r} lists {missing} but no shard holds them")
    # Shards may also hold recordings the split does not list (a fold's view): left out.
    return {rid: _stack(grouped[rid]) for rid in info["recordings"]}


def _stack(frames):
    return {key: np.stack([frame[key] for frame in frames]) for key in frames[0]}
