"""Per-frame model inputs held in NumPy arrays: checks and windowed prediction.

``{"audio": [n, 640] float, "video": [n, S, S, 3] float in [0, 1] or uint8}``: the same
rules as the SavedModel's signatures, so no entry point predicts on input it would refuse.
NumPy only.
"""

from __future__ import annotations

import numpy as np

from tfrecords_tools.schema import FRAME_SECONDS


def check_frames(inputs, frame_shapes, what, first_frame=0):
    """``inputs`` checked against ``frame_shapes`` (``{"audio": (640,), ...}``).

    Returns ``{name: array}`` for the names of ``frame_shapes``. Raises ``ValueError``
    naming ``what``, the input and, for bad values, the first bad frame: a missing input,
    a wrong rank or frame shape (the message states the expected one), no frames, a
    dtype other than float (or uint8 for video), NaN or Inf, video floats outside
    [0, 1], or streams of different lengths. Non-finite input is refused, never predicted.
    ``first_frame``: the recording's frame number of ``inputs``' first frame (a chunk of
    a longer recording), for the messages.
    """
    frames = {}
    for name, shape in frame_shapes.items():
        if name not in inputs:
            raise ValueError(f"{what}: needs a {name!r} input")
        value = np.asarray(inputs[name])
        expected = f"[frames, {', '.join(str(size) for size in shape)}]"
        if value.shape[1:] != tuple(shape):
            raise ValueError(
                f"{what}: {name!r} must have shape {expected}, got {list(value.shape)}"
            )
        if len(value) == 0:
            raise ValueError(f"{what}: {name!r} has no frames")
        if value.dtype == np.uint8 and name == "video":
            frames[name] = value
            continue
        if not np.issubdtype(value.dtype, np.floating):
            allowed = "float32 or uint8" if name == "video" else "float32"
            raise ValueError(f"{what}: {name!r} must be {allowed}, got {value.dtype}")
        flat = value.reshape(len(value), -1)
        bad = ~np.isfinite(flat).all(axis=1)
        problem = "NaN or Inf"
        if name == "video":
            with np.errstate(invalid="ignore"):
                bad |= ((flat < 0.0) | (flat > 1.0)).any(axis=1)
            problem = "NaN, Inf or a value outside [0, 1] (8-bit pixels must be divided by 255)"
        if bad.any():
            first = first_frame + int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{what}: {name!r} frame {first} (at {first * FRAME_SECONDS:.2f} s) has "
                f"{problem}; such input is refused, not predicted"
            )
        frames[name] = value
    counts = {name: len(value) for name, value in frames.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(f"{what}: the streams have different frame counts {counts}")
    return frames


def to_float(values):
    """float32 frames: uint8 video divided by 255, anything else cast."""
    if values.dtype == np.uint8:
        return values.astype(np.float32) / np.float32(255.0)
    return np.asarray(values, np.float32)


def predict_windows(call, frames, window=None):
    """Runs ``call({name: [1, w, ...]}) -> [1, w, 2]`` over consecutive windows.

    ``frames`` are checked inputs (``check_frames``); each window of ``window`` frames
    (the whole recording when None) starts from the model's zero state, the last one is
    zero-padded, as evaluation does. Returns float32 ``[n, 2]``.
    """
    count = len(next(iter(frames.values())))
    window = window or count
    out = np.zeros((count, 2), np.float32)
    for start in range(0, count, window):
        valid = min(window, count - start)
        chunk = {}
        for name, values in frames.items():
            part = to_float(values[start : start + window])
            if valid < window:
                padding = np.zeros((window - valid, *part.shape[1:]), np.float32)
                part = np.concatenate([part, padding])
            chunk[name] = part[np.newaxis]
        out[start : start + valid] = np.asarray(call(chunk))[0, :valid]
    return out
