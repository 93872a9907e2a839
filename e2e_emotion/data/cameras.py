"""Training-time camera conditions: a window's faces as another camera would give them.

Recordings differ in how a face reaches the model: mirrored or not, the camera's contrast
and white balance, and the face's size in the frame (a 45-pixel face enlarged to the 96x96
crop is blurred; a 150-pixel one is sharp). A window drawn for these conditions gets one
camera for all its frames, as a recording has: the per-frame shifts, brightness and
saturation of ``sequences.augment_video`` stay frame by frame on top.

Every function takes crops ``[S, H, W, 3]`` in [0, 1] and a ``[2]`` int seed (stateless
ops: reproducible at any parallelism).
"""

from __future__ import annotations

import tensorflow as tf

# Contrast about the window's mean grey level.
CONTRAST_RANGE = (0.6, 1.4)
# Per-channel gain: white balance and colour cast (light, camera, skin under it).
CHANNEL_GAIN_RANGE = (0.85, 1.15)
# The face's side in pixels before it was enlarged to the crop: from a small face in a
# 320x240 frame (about 32 px, the smallest the detector looks for) to the crop's own size.
SMALLEST_FACE = 32


def _uniform(seed, low, high, shape=()):
    return tf.random.stateless_uniform(shape, seed, low, high)


def mirror(frames):
    """Left and right swapped (a camera that mirrors, or the person seen the other way)."""
    return tf.reverse(frames, axis=[2])


def contrast_and_colour(frames, seed):
    """One contrast factor and one gain per colour channel for the whole window."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    factor = _uniform(seeds[0], *CONTRAST_RANGE)
    gains = _uniform(seeds[1], *CHANNEL_GAIN_RANGE, shape=[3])
    grey = tf.reduce_mean(frames)
    return tf.clip_by_value((grey + (frames - grey) * factor) * gains, 0.0, 1.0)


def lower_resolution(frames, seed):
    """The window as a face of ``SMALLEST_FACE`` to the crop's size would look once
    enlarged to the crop: shrunk (area average) to a random side, then enlarged back."""
    size = frames.shape[1]
    if size is None or frames.shape[2] is None:
        raise ValueError("the face crops need a static size for their camera conditions")
    if size <= SMALLEST_FACE:
        return frames
    side = tf.random.stateless_uniform([], seed, SMALLEST_FACE, size + 1, dtype=tf.int32)
    small = tf.image.resize(frames, [side, side], method="area")
    return tf.ensure_shape(tf.image.resize(small, [size, size], method="bilinear"), frames.shape)


def apply_conditions(frames, seed, probability):
    """With ``probability``, the window's faces through another camera: mirrored in half
    of those windows, with a contrast and colour cast, at a lower resolution."""
    if probability <= 0:
        return frames
    seeds = tf.random.experimental.stateless_split(seed, 4)
    draws = tf.random.stateless_uniform([2], seeds[0])

    def other_camera():
        x = tf.cond(draws[1] < 0.5, lambda: mirror(frames), lambda: frames)
        x = contrast_and_colour(x, seeds[1])
        return lower_resolution(x, seeds[2])

    return tf.cond(draws[0] < probability, other_camera, lambda: frames)
