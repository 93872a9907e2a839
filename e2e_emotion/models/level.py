"""Causal, recording-level gain normalisation of the waveform (an automatic gain control).

Recordings differ in level (microphone distance, gain, voice): a speaker's loudness base is
a recording-level fact that a 6 s training window cannot see. Each 40 ms frame ``k`` of a
recording is scaled by ``sqrt(P / m_k)``, ``m_k`` the mean frame power (mean square of the
frame's samples) from the recording's first frame up to frame ``k``, shrunk towards the
target power ``P`` with the weight of ``prior_frames`` frames::

    m_k = (prior_frames * P + sum_{j <= k} e_j) / (prior_frames + k + 1)

Causal: frame ``k`` uses frames ``0..k`` only, so a stream computes it with two numbers of
state. A sequence that does not start at the recording's first frame takes that state,
``level = [sum of e_j before the sequence, number of frames before it]`` (``[0, 0]`` at
the recording's start): the training pipeline gives each window the state of its
recording up to the window's start, and the streaming paths carry it from frame to frame.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from e2e_emotion.models.checks import check_positive_int


def check_target_db(name, value):
    """Raises ``ValueError`` naming ``name`` unless ``value`` is a number in [-100, 0] dBFS."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not -100 <= value <= 0:
        raise ValueError(f"`{name}` must be a number in [-100, 0] dBFS, received {value!r}")


def frame_power(audio):
    """Mean square of each frame: ``[..., T, L] -> [..., T]``."""
    return ops.mean(ops.square(audio), axis=-1)


def level_after(audio, level):
    """The state after ``audio`` ``[batch, T, L]`` that started from ``level`` ``[batch, 2]``."""
    power = ops.sum(frame_power(audio), axis=1)
    count = ops.cast(ops.shape(audio)[1], audio.dtype)
    return level + ops.stack([power, ops.ones_like(power) * count], axis=-1)


def level_states(frames, starts):
    """NumPy: the state ``[len(starts), 2]`` of a recording's ``frames`` ``[n, L]`` before
    each start frame in ``starts`` (float64 sums, cast to float32)."""
    power = np.mean(np.square(np.asarray(frames, np.float64)), axis=-1)
    before = np.concatenate([[0.0], np.cumsum(power)])
    starts = np.asarray(starts, np.int64)
    return np.stack([before[starts], starts.astype(np.float64)], axis=-1).astype(np.float32)


@keras.saving.register_keras_serializable(package="e2e_emotion")
class LevelNormalization(layers.Layer):
    """``(audio [batch, T, L], level [batch, 2]) -> audio [batch, T, L]`` scaled per frame.

    Args:
        prior_frames: weight of the target power in the running mean, in frames (250:
            10 s of 40 ms frames); the first frames of a recording are scaled mostly by
            the target, later ones by the recording's own level.
        target_db: target frame power ``P`` in dB relative to full scale (-30).
    """

    def __init__(self, prior_frames=250, target_db=-30.0, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("prior_frames", prior_frames)
        check_target_db("target_db", target_db)
        self.prior_frames = prior_frames
        self.target_db = float(target_db)

    def call(self, audio, level):
        target = 10.0 ** (self.target_db / 10.0)
        power = frame_power(audio)  # [B, T]
        seen = ops.cast(ops.arange(1, ops.shape(audio)[1] + 1), audio.dtype)
        total = level[:, :1] + ops.cumsum(power, axis=1)
        count = level[:, 1:] + seen[None, :]
        mean = (self.prior_frames * target + total) / (self.prior_frames + count)
        return audio * ops.sqrt(target / mean)[..., None]

    def compute_output_shape(self, audio_shape, level_shape=None):
        return audio_shape

    def get_config(self):
        return {
            **super().get_config(),
            "prior_frames": self.prior_frames,
            "target_db": self.target_db,
        }
