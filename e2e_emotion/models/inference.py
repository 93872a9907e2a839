"""Traced inference-mode functions of an ``EmotionModel``, one set per model.

Evaluation (``e2e_emotion.training.predict_split``) and ``e2e_emotion.predict`` run the
same three: the whole model on windows, the feature networks alone and the recurrent head
alone (``EmotionModel.frame_features`` / ``recurrent_outputs``). Traced once per model and
input shape family, reused by every later call.
"""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from e2e_emotion.frames import predict_windows, to_float
from e2e_emotion.modalities import LEVEL_INPUT
from e2e_emotion.models.level import level_states

_FUNCTIONS = weakref.WeakKeyDictionary()
# Frames per call of the feature networks when a whole recording is predicted.
FEATURE_CHUNK = 150


def inference_functions(model):
    """``{"window": f(inputs), "features": f(inputs), "head": f(features)}`` for ``model``."""
    if model not in _FUNCTIONS:

        def traced(function):
            return tf.function(function, reduce_retracing=True)

        _FUNCTIONS[model] = {
            "window": traced(lambda inputs: model(inputs, training=False)),
            "features": traced(lambda inputs: model.frame_features(inputs, training=False)),
            "head": traced(lambda x: model.recurrent_outputs(x, training=False)),
        }
    return _FUNCTIONS[model]


def predict_recording(model, frames, window=None, chunk=FEATURE_CHUNK):
    """Inference-mode ``[n, 2]`` predictions of one recording's checked ``frames``.

    ``window``: consecutive windows of that many frames, each from a zero LSTM state (the
    last zero-padded). ``None``: the whole recording as one sequence; with frame-local
    feature networks their features are computed ``chunk`` frames at a time (bounded
    memory for the ResNet; the level normaliser's state carried from chunk to chunk) and
    the recurrent head runs once over them all; the ``paper``
    preset's cross-frame kernels need the model on the whole recording at once.
    """
    functions = inference_functions(model)
    speech = model.speech_network
    if window is not None or (speech is not None and speech.preset == "paper"):
        return predict_windows(functions["window"], frames, window)
    count = len(next(iter(frames.values())))
    starts = range(0, count, chunk)
    levels = None
    if model.level_normalization is not None:  # the normaliser's state at each chunk's start
        levels = level_states(frames["audio"], starts)
    features = []
    for index, start in enumerate(starts):
        part = {
            name: to_float(value[start : start + chunk])[np.newaxis]
            for name, value in frames.items()
        }
        if levels is not None:
            part[LEVEL_INPUT] = levels[index : index + 1]
        features.append(functions["features"](part)[0].numpy())
    whole = np.concatenate(features)[np.newaxis]
    return np.asarray(functions["head"](whole)[0], np.float32)
