"""One recording -> its frames as TFRecords: the options, the errors and the worker.

Audio decoded to 16 kHz mono, video sampled at one frame per 40 ms by timestamp, faces
cropped to 96x96, labels put on the same 40 ms grid, all aligned by time and trimmed to
the common length when they differ by no more than a tolerance; the frames go to one part
file. ``tfrecords_tools.writer`` runs this for every recording of a corpus (in a process
pool) and joins the parts into shards.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from tfrecords_tools import schema, storage
from tfrecords_tools.labels import LabelError, resample_to_frames
from tfrecords_tools.output_paths import is_disk_full


class ConversionError(RuntimeError):
    """A recording or the output could not be converted; the message names the file."""


class DiskFullError(ConversionError):
    """Writing failed for lack of space (or a file-size limit)."""


@dataclasses.dataclass(frozen=True)
class ConversionOptions:
    """How recordings become records.

    Attributes:
        name: data set name, the first part of shard names (``NAME-SPLIT.tfrecord-...``).
        num_shards: shards per split at most (never more than its recordings).
        image_format: ``"jpeg"`` or ``"png"`` for the face crops.
        jpeg_quality: JPEG quality (1-100).
        face_mode: ``"detect"`` (Haar cascade with tracking), ``"blazeface"`` (BlazeFace with
            tracking, ``tfrecords_tools.blazeface``) or ``"centre"`` (centre crop).
        detect_every: run the detector on every N-th frame only (the tracked box is reused
            in between); detection is most of the conversion time.
        face_tracking: look for the face near the tracked one first, the whole frame only
            when that finds nothing (``FaceCropper(track=...)``; ~6x faster conversion);
            ``False``: the whole frame at every detection.
        length_tolerance: seconds by which audio, video and labels may differ; the
            excess is trimmed and reported. A larger mismatch is an error.
        label_gap_tolerance: seconds between two consecutive ratings that are bridged by
            interpolation; a longer hole in a label track is an error naming the file.
        silent_threshold_db: audio whose RMS is below this (dBFS) is rejected as silent.
        processes: worker processes (1: convert in this process).
        on_error: ``"fail"`` (stop, write nothing) or ``"skip"`` (report the recording in
            ``metadata.json`` under ``skipped`` and go on).
    """

    name: str = "recola"
    num_shards: int = 4
    image_format: str = "jpeg"
    jpeg_quality: int = 95
    face_mode: str = schema.DEFAULT_FACE_MODE
    detect_every: int = 1
    face_tracking: bool = True
    length_tolerance: float = 1.0
    label_gap_tolerance: float = 0.5
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
        if self.face_mode not in schema.FACE_MODES:
            raise ValueError(
                f"face_mode must be one of {schema.FACE_MODES}, got {self.face_mode!r}"
            )
        if self.detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {self.detect_every!r}")
        if not self.length_tolerance >= 0:
            raise ValueError(
                f"length_tolerance must be >= 0 seconds, got {self.length_tolerance!r}"
            )
        if not self.label_gap_tolerance > 0:
            raise ValueError(
                f"label_gap_tolerance must be > 0 seconds, got {self.label_gap_tolerance!r}"
            )
        if self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {self.processes!r}")
        if self.on_error not in ("fail", "skip"):
            raise ValueError(f"on_error must be 'fail' or 'skip', got {self.on_error!r}")


def _label_frames(recording, max_gap):
    """``[n, 2]`` float32 labels on the 40 ms grid, or None for an unlabelled recording."""
    if recording.labels is None:
        return None
    columns = []
    for name in schema.LABEL_NAMES:
        track = recording.labels[name]
        columns.append(
            resample_to_frames(track, frame_seconds=schema.FRAME_SECONDS, max_gap=max_gap)
        )
    length = min(len(column) for column in columns)
    return np.stack([column[:length] for column in columns], axis=1).astype(np.float32)


def _aligned_length(recording, audio_frames, labels, video_steps, tolerance_frames):
    """Common frame count of the streams; raises if they differ by more than the tolerance."""
    lengths = {}
    if audio_frames is not None:
        lengths[f"audio {recording.audio_path}"] = audio_frames
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
    from tfrecords_tools.recording_frames import RecordingFrames

    started = time.perf_counter()
    sources = {"audio": recording.audio_path, "video": recording.video_path}
    streams = RecordingFrames(
        {name: path for name, path in sources.items() if path is not None},
        [name for name, path in sources.items() if path is not None],
        silent_threshold_db=options.silent_threshold_db,
        size=schema.IMAGE_SIZE,
        mode=options.face_mode,
        detect_every=options.detect_every,
        track=options.face_tracking,
    )
    if streams.silent:
        raise media.MediaError(
            f"{recording.audio_path}: audio is silent (RMS below "
            f"{options.silent_threshold_db} dBFS)",
            recording.audio_path,
        )
    audio = streams.audio
    audio_frames = None if audio is None else len(audio)
    labels = _label_frames(recording, options.label_gap_tolerance)
    video_steps = streams.video_steps
    tolerance_frames = int(round(options.length_tolerance / schema.FRAME_SECONDS))
    num_frames, _ = _aligned_length(recording, audio_frames, labels, video_steps, tolerance_frames)

    cropper = streams.cropper
    crops = streams.crops(max_steps=num_frames) if cropper is not None else iter(())
    written = 0
    with tf.io.TFRecordWriter(part_path) as writer:
        for index in range(num_frames):
            image = face = None
            if cropper is not None:
                crop = next(crops, None)
                if crop is None:
                    break  # the video ended early: checked against the tolerance below
                image = faces.encode_image(crop, options.image_format, options.jpeg_quality)
                face = cropper.found
            frame_audio = None if audio is None else audio[index]
            frame_labels = None if labels is None else labels[index]
            writer.write(
                schema.encode_example(recording.id, index, frame_audio, image, frame_labels, face)
            )
            written += 1
    if cropper is not None and written < num_frames:
        video_steps = written  # the header's duration was optimistic: the video ended here
    num_frames, trimmed = _aligned_length(
        recording, audio_frames, labels, video_steps, tolerance_frames
    )
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
        report.update(streams.face_summary(detected=options.face_mode != "centre"))
        report["face_detections"] = {"run": cropper.detections_run, "missed": cropper.missed}
    if labels is not None:
        report["label_sums"] = label_sums(labels[:written])
    return report


def label_sums(labels):
    """A report's ``label_sums`` of ``[frames, dimensions]`` labels: what
    ``corpus_totals.SplitTotals`` adds up into a split's label statistics."""
    kept = np.asarray(labels, np.float64)
    return {
        "count": len(kept),
        "sum": kept.sum(axis=0).tolist(),
        "sum_sq": (kept**2).sum(axis=0).tolist(),
        "min": kept.min(axis=0).tolist(),
        "max": kept.max(axis=0).tolist(),
    }


def convert_safely(recording, part_path, options):
    """Runs in a worker: returns ``(id, report, None)`` or ``(id, None, error message)``."""
    try:
        return recording.id, convert_recording(recording, part_path, options), None
    except Exception as error:
        if is_disk_full(error):
            raise DiskFullError(str(error)) from None
        if not isinstance(error, (OSError, ValueError, ConversionError, LabelError)):
            raise
        message = str(error)
    if recording.id not in message:
        message = f"recording {recording.id!r}: {message}"
    storage.remove(part_path)
    return recording.id, None, message
