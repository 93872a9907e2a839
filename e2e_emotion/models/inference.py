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

_FUNCTIONS = weakref.WeakKeyDictionary()
# Frames per call of the feature networks when a whole recording is predicted.
FEATURE_CHUNK = 150


def inference_functions(model):
    """``{"window": f(inputs), "features": f(inputs), "head": f(features), "head_part":
    f(features, states) -> (outputs, states)}`` for ``model``."""
    if model not in _FUNCTIONS:

        def traced(function):
            return tf.function(function, reduce_retracing=True)

        def head_part(features, states):
            # The recurrent layers' own loops, each from the given state (the one the
            # previous part ended in), returning the state they end in.
            x, ended = features, []
            for layer, state in zip(model.recurrent_layers, states, strict=True):
                _, x, state = layer.inner_loop(x, list(state), None, training=False)
                ended.append(list(state))
            return model.readout(x, features, training=False), ended

        _FUNCTIONS[model] = {
            "window": traced(lambda inputs: model(inputs, training=False)),
            "features": traced(lambda inputs: model.frame_features(inputs, training=False)),
            "head": traced(lambda x: model.recurrent_outputs(x, training=False)),
            "head_part": traced(head_part),
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
    if window is not None or not streams_features(model):
        return predict_windows(inference_functions(model)["window"], frames, window)
    count = len(next(iter(frames.values())))
    parts = (
        {name: value[start : start + chunk] for name, value in frames.items()}
        for start in range(0, count, chunk)
    )
    return predict_recording_chunks(model, parts)


def streams_features(model):
    """Whether ``model``'s feature networks are frame-local, so a whole recording can be
    predicted from its frames a chunk at a time (not the ``paper`` speech preset, whose
    kernels span frames)."""
    speech = model.speech_network
    return speech is None or speech.preset != "paper"


def predict_recording_chunks(model, parts):
    """``[n, 2]`` predictions of one whole recording given as consecutive chunks of
    checked frames (an iterator of ``{name: [m, ...]}``, read from a file as it goes):
    each chunk goes through the feature networks (the level normaliser's state carried
    from chunk to chunk) and the recurrent head (its LSTM states carried), so the
    predictions are those of the model over the whole recording at once while memory
    holds one chunk, whatever the recording's length. Needs ``streams_features(model)``.
    """
    functions = inference_functions(model)
    levelled = model.level_normalization is not None
    power, seen = 0.0, 0  # the level normaliser's state: frame power summed, frames
    states = None
    outputs = []
    for part in parts:
        inputs = {name: to_float(value)[np.newaxis] for name, value in part.items()}
        if levelled:
            inputs[LEVEL_INPUT] = np.array([[power, seen]], np.float32)
            audio = np.asarray(part["audio"], np.float64)
            power += float(np.sum(np.mean(np.square(audio), axis=-1)))
            seen += len(audio)
        features = functions["features"](inputs)
        if states is None:
            states = [layer.get_initial_state(1) for layer in model.recurrent_layers]
        predictions, states = functions["head_part"](features, states)
        outputs.append(np.asarray(predictions[0], np.float32))
    if not outputs:
        raise ValueError("no frames to predict")
    return np.concatenate(outputs)
