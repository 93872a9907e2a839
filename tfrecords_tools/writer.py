"""Corpus -> TFRecord shards + ``metadata.json``.

Each recording is converted on its own (in a process pool): audio decoded to 16 kHz
mono, video sampled at one frame per 40 ms by timestamp, faces cropped to 96x96,
labels put on the same 40 ms grid, all aligned by time and trimmed to the common
length when they differ by no more than a tolerance. The recording's frames go to a
part file; part files are then joined (TFRecord files concatenate) into shards that
each hold whole recordings, so a sequence reader never needs two shards for one
recording.

Everything is written into a hidden staging directory beside the output and renamed
at the very end: an interrupted run never leaves a directory that looks complete, and
with ``overwrite`` the previous output is only removed once the new one is in place.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import errno
import json
import math
import multiprocessing
import os
import shutil
import sys
import time

import numpy as np

from tfrecords_tools import schema
from tfrecords_tools.labels import LabelError, resample_to_frames

DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


class ConversionError(RuntimeError):
    """A recording or the output could not be converted; the message names the file."""


class DiskFullError(ConversionError):
    """Writing failed for lack of space (or a file-size limit)."""


DISK_FULL_MESSAGES = ("No space left on device", "File too large", "Disk quota exceeded")


def _is_disk_full(error):
    """True for OSErrors and TensorFlow file errors caused by a full disk or size limit."""
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return True
    return any(message in str(error) for message in DISK_FULL_MESSAGES)


@dataclasses.dataclass(frozen=True)
class ConversionOptions:
    """How recordings become records.

    Attributes:
        name: data set name, the first part of shard names (``NAME-SPLIT.tfrecord-...``).
        num_shards: shards per split at most (never more than its recordings).
        image_format: ``"jpeg"`` or ``"png"`` for the face crops.
        jpeg_quality: JPEG quality (1-100).
        face_mode: ``"detect"`` (Haar cascade with tracking) or ``"centre"`` (centre crop).
        detect_every: run the detector on every N-th frame only (the tracked box is reused
            in between); detection is most of the conversion time.
        length_tolerance: seconds by which audio, video and labels may differ; the
            excess is trimmed and reported. A larger mismatch is an error.
        silent_threshold_db: audio whose RMS is below this (dBFS) is rejected as silent.
        processes: worker processes (1: convert in this process).
        on_error: ``"fail"`` (stop, write nothing) or ``"skip"`` (report the recording in
            ``metadata.json`` under ``skipped`` and go on).
    """

    name: str = "recola"
    num_shards: int = 4
    image_format: str = "jpeg"
    jpeg_quality: int = 95
    face_mode: str = "detect"
    detect_every: int = 1
    length_tolerance: float = 1.0
    silent_threshold_db: float = -60.0
    processes: int = 1
    on_error: str = "fail"

    def check(self):
        if not self.name or any(c in self.name for c in "/\\ -"):
            raise ValueError(
                f"name must be a non-empty word without '/', '-' or spaces: {self.name!r}"
            )
        if self.num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {self.num_shards!r}")
        if self.image_format not in schema.IMAGE_FORMATS:
            raise ValueError(
                f"image_format must be one of {schema.IMAGE_FORMATS}, got {self.image_format!r}"
            )
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality!r}")
        if self.face_mode not in ("detect", "centre"):
            raise ValueError(f"face_mode must be 'detect' or 'centre', got {self.face_mode!r}")
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every!r}")
        if not self.length_tolerance >= 0:
            raise ValueError(
                f"length_tolerance must be >= 0 seconds, got {self.length_tolerance!r}"
            )
        if self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {self.processes!r}")
        if self.on_error not in ("fail", "skip"):
            raise ValueError(f"on_error must be 'fail' or 'skip', got {self.on_error!r}")


def _label_frames(recording):
    """``[n, 2]`` float32 labels on the 40 ms grid, or None for an unlabelled recording."""
    if recording.labels is None:
        return None
    columns = []
    for name in schema.LABEL_NAMES:
        track = recording.labels[name]
        columns.append(resample_to_frames(track, frame_seconds=schema.FRAME_SECONDS))
    length = min(len(column) for column in columns)
    return np.stack([column[:length] for column in columns], axis=1).astype(np.float32)


def _aligned_length(recording, audio, labels, video_steps, tolerance_frames):
    """Common frame count of the streams; raises if they differ by more than the tolerance."""
    lengths = {}
    if audio is not None:
        lengths[f"audio {recording.audio_path}"] = len(audio) // schema.FRAME_LENGTH
    if video_steps is not None:
        lengths[f"video {recording.video_path}"] = video_steps
    if labels is not None:
        lengths["labels"] = len(labels)
    shortest, longest = min(lengths.values()), max(lengths.values())
    if longest - shortest > tolerance_frames:
        detail = ", ".join(
            f"{key}: {value} frames ({value * schema.FRAME_SECONDS:.2f} s)"
            for key, value in lengths.items()
        )
        raise ConversionError(
            f"recording {recording.id!r}: lengths differ by {longest - shortest} frames, more "
            f"than the tolerance of {tolerance_frames} ({detail})"
        )
    if shortest == 0:
        raise ConversionError(f"recording {recording.id!r}: no complete 40 ms frame ({lengths})")
    return shortest, {key: value - shortest for key, value in lengths.items()}


def convert_recording(recording, part_path, options):
    """Writes one recording's frames to ``part_path``; returns its report (a dict)."""
    # Imported here so that worker processes load them once, and the pure readers stay light.
    import tensorflow as tf

    from tfrecords_tools import faces, media

    started = time.perf_counter()
    audio = None
    if recording.audio_path is not None:
        audio = media.read_audio(recording.audio_path, schema.SAMPLE_RATE)
        if media.audio_is_silent(audio, options.silent_threshold_db):
            raise media.MediaError(
                f"{recording.audio_path}: audio is silent (RMS below "
                f"{options.silent_threshold_db} dBFS)",
                recording.audio_path,
            )
    labels = _label_frames(recording)
    video_steps = None
    if recording.video_path is not None:
        info = media.probe(recording.video_path)
        if not info.has_video:
            raise media.MediaError(f"{recording.video_path}: no video stream", recording.video_path)
        duration = info.video_duration or 0.0
        video_steps = math.ceil(round(duration / schema.FRAME_SECONDS, 6))
    tolerance_frames = int(round(options.length_tolerance / schema.FRAME_SECONDS))
    num_frames, _ = _aligned_length(recording, audio, labels, video_steps, tolerance_frames)

    cropper = None
    frames_iter = iter(())
    if recording.video_path is not None:
        cropper = faces.FaceCropper(
            size=schema.IMAGE_SIZE, mode=options.face_mode, detect_every=options.detect_every
        )
        frames_iter = media.iter_video_frames(
            recording.video_path, schema.FRAME_SECONDS, max_steps=num_frames
        )
    written = 0
    with tf.io.TFRecordWriter(part_path) as writer:
        for index in range(num_frames):
            image = None
            if cropper is not None:
                step = next(frames_iter, None)
                if step is None:
                    break  # the video ended early: checked against the tolerance below
                crop = cropper.crop(step[1])
                image = faces.encode_image(crop, options.image_format, options.jpeg_quality)
            frame_audio = None
            if audio is not None:
                start = index * schema.FRAME_LENGTH
                frame_audio = audio[start : start + schema.FRAME_LENGTH]
            frame_labels = None if labels is None else labels[index]
            writer.write(
                schema.encode_example(recording.id, index, frame_audio, image, frame_labels)
            )
            written += 1
    if cropper is not None and written < num_frames:
        video_steps = written  # the header's duration was optimistic: the video ended here
    num_frames, trimmed = _aligned_length(recording, audio, labels, video_steps, tolerance_frames)
    report = {
        "split": recording.split,
        "num_frames": written,
        "audio_path": recording.audio_path,
        "video_path": recording.video_path,
        "labelled": labels is not None,
        "trimmed_frames": {key: value for key, value in trimmed.items() if value},
        "seconds": round(time.perf_counter() - started, 3),
    }
    if cropper is not None:
        report["face_missed_fraction"] = round(cropper.missed_fraction, 4)
        report["face_detections"] = {"run": cropper.detections_run, "missed": cropper.missed}
    if labels is not None:
        kept = labels[:written].astype(np.float64)
        report["label_sums"] = {
            "count": int(written),
            "sum": kept.sum(axis=0).tolist(),
            "sum_sq": (kept**2).sum(axis=0).tolist(),
            "min": kept.min(axis=0).tolist(),
            "max": kept.max(axis=0).tolist(),
        }
    return report


def _convert_safely(recording, part_path, options):
    """Runs in a worker: returns ``(id, report, None)`` or ``(id, None, error message)``."""
    try:
        return recording.id, convert_recording(recording, part_path, options), None
    except Exception as error:
        if _is_disk_full(error):
            raise DiskFullError(str(error)) from None
        if not isinstance(error, (OSError, ValueError, ConversionError, LabelError)):
            raise
        message = str(error)
    if recording.id not in message:
        message = f"recording {recording.id!r}: {message}"
    if os.path.exists(part_path):
        os.remove(part_path)
    return recording.id, None, message


class _Progress:
    """Recordings done, frames written and frames/s, on Keras' progress bar (the one the
    trainer shows); nothing is shown when ``enabled`` is False."""

    def __init__(self, total, enabled):
        self.done, self.frames = 0, 0
        self.started = time.perf_counter()
        self.bar = None
        if enabled:
            from keras.utils import Progbar  # Keras is installed with TensorFlow

            metrics = ["frames", "frames/s"]
            self.bar = Progbar(total, unit_name="recording", stateful_metrics=metrics)

    def update(self, frames):
        self.done += 1
        self.frames += frames
        if self.bar is None:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.frames / elapsed if elapsed > 0 else 0.0
        self.bar.update(self.done, [("frames", self.frames), ("frames/s", rate)])


def _assign_shards(recording_frames, num_shards):
    """Whole recordings to at most ``num_shards`` shards, balanced by frames.

    Largest recordings first into the least-filled shard; within a shard recordings keep
    the corpus order. Returns a list of lists of recording ids.
    """
    ids = list(recording_frames)
    count = min(num_shards, len(ids))
    loads = [0] * count
    members = [[] for _ in range(count)]
    for rid in sorted(ids, key=lambda r: (-recording_frames[r], ids.index(r))):
        target = loads.index(min(loads))
        loads[target] += recording_frames[rid]
        members[target].append(rid)
    return [sorted(group, key=ids.index) for group in members]


def _label_stats(sums_list):
    """Mean/std/min/max per label dimension from per-recording sums."""
    count = sum(s["count"] for s in sums_list)
    if count == 0:
        return None
    stats = {}
    for d, name in enumerate(schema.LABEL_NAMES):
        total = sum(s["sum"][d] for s in sums_list)
        total_sq = sum(s["sum_sq"][d] for s in sums_list)
        mean = total / count
        stats[name] = {
            "count": count,
            "mean": mean,
            "std": math.sqrt(max(total_sq / count - mean * mean, 0.0)),
            "min": min(s["min"][d] for s in sums_list),
            "max": max(s["max"][d] for s in sums_list),
        }
    return stats


def _check_output(output_dir, overwrite):
    if os.path.exists(output_dir):
        if not os.path.isdir(output_dir):
            raise ConversionError(f"output {output_dir} exists and is not a directory")
        if os.listdir(output_dir) and not overwrite:
            raise ConversionError(
                f"output directory {output_dir} is not empty; pass --overwrite to replace it"
            )


def _publish(staging, output_dir):
    """Renames ``staging`` to ``output_dir``, replacing an old output only at the end."""
    backup = None
    if os.path.exists(output_dir):
        backup = f"{staging}.previous"
        os.rename(output_dir, backup)
    os.rename(staging, output_dir)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def convert_corpus(
    recordings,
    output_dir,
    options=ConversionOptions(),
    overwrite=False,
    progress=True,
    tool_arguments=None,
):
    """Converts ``recordings`` (a list of ``Recording``) into shards in ``output_dir``.

    Returns the metadata dict that was written to ``output_dir/metadata.json``.

    Raises:
        ConversionError: the output exists (without ``overwrite``), a recording failed
            (with ``on_error="fail"``), or the disk filled up. Nothing is left behind
            in any of these cases.
    """
    options.check()
    if not recordings:
        raise ConversionError("no recordings to convert")
    ids = [r.id for r in recordings]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConversionError(f"duplicate recording ids: {duplicates}")
    modalities = sorted(
        {m for r in recordings for m, p in (("audio", r.audio_path), ("video", r.video_path)) if p}
    )
    for r in recordings:
        missing = [
            m
            for m, p in (("audio", r.audio_path), ("video", r.video_path))
            if m in modalities and not p
        ]
        if missing:
            raise ConversionError(
                f"recording {r.id!r} has no {' or '.join(missing)} while others do: a directory "
                "holds one set of modalities (convert audio-only recordings separately)"
            )
    output_dir = os.path.abspath(output_dir)
    _check_output(output_dir, overwrite)
    parent = os.path.dirname(output_dir)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{os.path.basename(output_dir)}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        metadata = _convert_into(staging, recordings, modalities, options, progress, tool_arguments)
        _publish(staging, output_dir)
    except (OSError, DiskFullError) as error:
        shutil.rmtree(staging, ignore_errors=True)
        if _is_disk_full(error):
            detail = str(error).rsplit("; ", 1)[-1]
            if isinstance(error, OSError):
                detail = error.strerror
            raise ConversionError(
                f"disk full while writing {output_dir} ({detail}); nothing was written"
                + (" and the previous output is untouched" if os.path.exists(output_dir) else "")
            ) from error
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return metadata


def _convert_into(staging, recordings, modalities, options, progress, tool_arguments):
    parts = os.path.join(staging, "parts")
    os.makedirs(parts)
    part_path = {r.id: os.path.join(parts, f"{i:05d}.tfrecord") for i, r in enumerate(recordings)}
    reports, failures = {}, {}
    bar = _Progress(len(recordings), progress)

    def collect(result):
        rid, report, error = result
        if error is not None:
            if options.on_error == "fail":
                raise ConversionError(error)
            failures[rid] = error
            if progress:
                sys.stderr.write(f"\nskipped: {error}\n")
        else:
            reports[rid] = report
        bar.update(report["num_frames"] if report else 0)

    if options.processes == 1 or len(recordings) == 1:
        for r in recordings:
            collect(_convert_safely(r, part_path[r.id], options))
    else:
        context = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
        workers = min(options.processes, len(recordings))
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = [
                pool.submit(_convert_safely, r, part_path[r.id], options) for r in recordings
            ]
            try:
                for future in concurrent.futures.as_completed(futures):
                    collect(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise

    splits = {}
    for split in dict.fromkeys(r.split for r in recordings):
        members = [r for r in recordings if r.split == split and r.id in reports]
        if not members:
            continue
        frames = {r.id: reports[r.id]["num_frames"] for r in members}
        groups = _assign_shards(frames, options.num_shards)
        shards = []
        for index, group in enumerate(groups):
            filename = schema.shard_name(options.name, split, index, len(groups))
            with open(os.path.join(staging, filename), "wb") as out:
                for rid in group:
                    with open(part_path[rid], "rb") as part:
                        shutil.copyfileobj(part, out, 1 << 20)
                out.flush()
                os.fsync(out.fileno())
            shards.append(
                {"file": filename, "num_frames": sum(frames[r] for r in group), "recordings": group}
            )
        labelled = {reports[r.id]["labelled"] for r in members}
        if len(labelled) > 1:
            raise ConversionError(f"split {split!r} mixes labelled and unlabelled recordings")
        splits[split] = {
            "labelled": labelled.pop(),
            "num_recordings": len(members),
            "num_frames": sum(frames.values()),
            "shards": shards,
            "recordings": frames,
            "label_stats": _label_stats(
                [reports[r.id]["label_sums"] for r in members if "label_sums" in reports[r.id]]
            ),
        }
    shutil.rmtree(parts)
    if not splits:
        raise ConversionError("every recording failed: " + "; ".join(failures.values()))

    recording_reports = {}
    for r in recordings:
        if r.id in reports:
            report = dict(reports[r.id])
            report.pop("label_sums", None)
            recording_reports[r.id] = report
    # Detector runs without a face over all detector runs of the corpus (a long recording
    # weighs more than a short one), not a mean of the per-recording fractions.
    detections = [
        rep["face_detections"] for rep in recording_reports.values() if "face_detections" in rep
    ]
    runs = sum(d["run"] for d in detections)
    missed = sum(d["missed"] for d in detections)
    metadata = {
        "schema_version": schema.SCHEMA_VERSION,
        "name": options.name,
        "sample_rate": schema.SAMPLE_RATE,
        "frame_length": schema.FRAME_LENGTH,
        "frame_seconds": schema.FRAME_SECONDS,
        "image_size": schema.IMAGE_SIZE,
        "image_format": options.image_format,
        "label_names": list(schema.LABEL_NAMES),
        "modalities": modalities,
        "splits": splits,
        "recordings": recording_reports,
        "skipped": failures,
        "face_missed_fraction": round(missed / runs, 4) if runs else (0.0 if detections else None),
        "tool_arguments": tool_arguments or dataclasses.asdict(options),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    path = os.path.join(staging, schema.METADATA_FILE)
    with open(path, "w") as stream:
        json.dump(metadata, stream, indent=2, sort_keys=False)
        stream.flush()
        os.fsync(stream.fileno())
    return metadata
