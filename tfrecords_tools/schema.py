"""The record schema: the one contract between `tfrecords_tools` and `e2e_emotion`.

One ``tf.train.Example`` per 40 ms label frame:

| feature | dtype | shape | present |
|---|---|---|---|
| ``recording_id`` | bytes | scalar | always |
| ``frame_index`` | int64 | scalar | always (0, 1, ... within a recording) |
| ``audio`` | float32 | ``[640]`` (16 kHz mono samples of the frame) | audio corpora |
| ``video`` | bytes | JPEG or PNG of a ``96x96x3`` RGB face crop | video corpora |
| ``face`` | int64 | scalar: 1 a detected face, 0 none found | video corpora (version 2 on) |
| ``arousal``, ``valence`` | float32 | scalar | labelled splits |

Which optional features a directory holds is written in its ``metadata.json``
(``modalities`` and, per split, ``labelled``); ``feature_spec`` builds the parsing spec
from those facts, so writer and reader cannot disagree. Records of version 1 have no
``face`` feature: they read as ``FACE_UNKNOWN`` (-1), which every consumer treats as a face
(nothing says otherwise). Values are checked at write
time and errors name the feature and the record (recording id and frame index).
"""

from __future__ import annotations

import numpy as np

# Face crop modes of the conversion and of every reader of media files: the Haar cascade,
# BlazeFace (tfrecords_tools.faces), or the central square of the frame.
FACE_MODES = ("detect", "blazeface", "centre")
# BlazeFace (with the cascade for faces too small for its view) found the most faces on
# real and hard synthetic recordings at conversion speed (docs/robustness.md).
DEFAULT_FACE_MODE = "blazeface"

# Version 2 added the per-frame ``face`` flag; version 1 directories are still read.
SCHEMA_VERSION = 2
READABLE_SCHEMA_VERSIONS = (1, 2)
FACE_FOUND, FACE_MISSING, FACE_UNKNOWN = 1, 0, -1
SAMPLE_RATE = 16000
FRAME_SECONDS = 0.04
FRAME_LENGTH = round(SAMPLE_RATE * FRAME_SECONDS)  # 640 samples per 40 ms frame
IMAGE_SIZE = 96
IMAGE_FORMATS = ("jpeg", "png")
LABEL_NAMES = ("arousal", "valence")
STREAMS = ("audio", "video")  # record streams (model kinds: e2e_emotion.modalities)
METADATA_FILE = "metadata.json"


class SchemaError(ValueError):
    """A value does not fit the schema; the message names the feature and the record."""


def shard_name(name, split, index, count):
    """``NAME-SPLIT.tfrecord-00003-of-00016`` (index counts from 0)."""
    return f"{name}-{split}.tfrecord-{index:05d}-of-{count:05d}"


def _record(recording_id, frame_index):
    return f"recording {recording_id!r} frame {frame_index}"


def encode_example(recording_id, frame_index, audio=None, image=None, labels=None, face=None):
    """Serializes one frame as a ``tf.train.Example``.

    Args:
        recording_id: str.
        frame_index: int >= 0.
        audio: optional ``[640]`` float samples in [-1, 1].
        image: optional encoded JPEG/PNG bytes of a 96x96 RGB crop.
        labels: optional ``(arousal, valence)`` floats.
        face: with ``image``: whether the crop holds a detected face (bool); None leaves
            the flag out, and the record reads as ``FACE_UNKNOWN``.

    Returns:
        The serialized example (bytes).
    """
    import tensorflow as tf

    where = _record(recording_id, frame_index)
    if not recording_id:
        raise SchemaError(f"recording_id: empty id at {where}")
    if isinstance(frame_index, bool) or int(frame_index) != frame_index or frame_index < 0:
        raise SchemaError(f"frame_index: {frame_index!r} is not a non-negative int at {where}")
    feature = {
        "recording_id": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[recording_id.encode()])
        ),
        "frame_index": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(frame_index)])),
    }
    if audio is not None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.shape != (FRAME_LENGTH,):
            raise SchemaError(f"audio: shape {audio.shape}, expected ({FRAME_LENGTH},) at {where}")
        if not np.all(np.isfinite(audio)):
            raise SchemaError(f"audio: non-finite samples at {where}")
        feature["audio"] = tf.train.Feature(float_list=tf.train.FloatList(value=audio))
    if image is not None:
        if not isinstance(image, bytes) or not image:
            raise SchemaError(f"video: expected encoded image bytes at {where}")
        if not (image.startswith(b"\xff\xd8") or image.startswith(b"\x89PNG")):
            raise SchemaError(f"video: bytes are neither JPEG nor PNG at {where}")
        feature["video"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[image]))
        if face is not None:
            if not isinstance(face, bool | np.bool_):
                raise SchemaError(f"face: expected True or False, got {face!r} at {where}")
            flag = FACE_FOUND if face else FACE_MISSING
            feature["face"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[flag]))
    elif face is not None:
        raise SchemaError(f"face: given without an image at {where}")
    if labels is not None:
        labels = np.asarray(labels, dtype=np.float32)
        if labels.shape != (len(LABEL_NAMES),):
            raise SchemaError(f"labels: shape {labels.shape}, expected (2,) at {where}")
        for name, value in zip(LABEL_NAMES, labels, strict=True):
            if not np.isfinite(value):
                raise SchemaError(f"{name}: value {value} is not finite at {where}")
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(deterministic=True)  # sorted map keys: reproducible bytes


def feature_spec(modalities, labelled):
    """The ``tf.io.parse_example`` spec of a directory's records.

    Args:
        modalities: the ``modalities`` of its ``metadata.json`` (subset of audio, video).
        labelled: whether the split's records carry arousal and valence.
    """
    import tensorflow as tf

    unknown = set(modalities) - set(STREAMS)
    if unknown:
        raise SchemaError(f"unknown modalities {sorted(unknown)}; expected a subset of {STREAMS}")
    spec = {
        "recording_id": tf.io.FixedLenFeature([], tf.string),
        "frame_index": tf.io.FixedLenFeature([], tf.int64),
    }
    if "audio" in modalities:
        spec["audio"] = tf.io.FixedLenFeature([FRAME_LENGTH], tf.float32)
    if "video" in modalities:
        spec["video"] = tf.io.FixedLenFeature([], tf.string)
        spec["face"] = tf.io.FixedLenFeature([], tf.int64, default_value=FACE_UNKNOWN)
    if labelled:
        for name in LABEL_NAMES:
            spec[name] = tf.io.FixedLenFeature([], tf.float32)
    return spec


def decode_image(encoded, image_size=IMAGE_SIZE):
    """Encoded JPEG/PNG (scalar string tensor) -> ``[S, S, 3]`` uint8 tensor."""
    import tensorflow as tf

    image = tf.io.decode_image(encoded, channels=3, expand_animations=False)
    image = tf.ensure_shape(image, [image_size, image_size, 3])
    return image


def blank_missing_faces(video, face):
    """``video`` ``[..., H, W, 3]`` with the frames whose ``face`` flag ``[...]`` is
    ``FACE_MISSING`` set to 0: a frame without a face is a black crop for the model, never
    the last face's crop (unknown flags keep their frames)."""
    import tensorflow as tf

    keep = tf.cast(tf.not_equal(face, FACE_MISSING), video.dtype)
    return video * keep[..., None, None, None]


def parse_example(serialized, modalities, labelled, decode_video=True):
    """Parses one serialized example into a dict of tensors (video as uint8 if decoded)."""
    import tensorflow as tf

    parsed = tf.io.parse_single_example(serialized, feature_spec(modalities, labelled))
    if decode_video and "video" in parsed:
        parsed["video"] = decode_image(parsed["video"])
    return parsed
