"""Traced inference-mode functions of an ``EmotionModel``, one set per model.

Evaluation (``e2e_emotion.training.predict_split``) and ``e2e_emotion.predict`` run the
same three: the whole model on windows, the feature networks alone and the recurrent head
alone (``EmotionModel.frame_features`` / ``recurrent_outputs``). Traced once per model and
input shape family, reused by every later call.
"""

from __future__ import annotations

import weakref

import tensorflow as tf

_FUNCTIONS = weakref.WeakKeyDictionary()


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
