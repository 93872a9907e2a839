"""The builtins-only twins of an ``EmotionModel``: fixed-length sequence and streaming step.

Both read the trained model's variables (nothing is copied); see the package docstring.
"""

from __future__ import annotations

import contextlib

import tensorflow as tf

from e2e_emotion.export.tflite.base import TFLiteExportError
from e2e_emotion.models import stepping
from e2e_emotion.models.stepping import head_step, next_level_state, stream_state_sizes


def recurrent_cells(model):
    """``stepping.recurrent_cells``, its error a ``TFLiteExportError``."""
    try:
        return stepping.recurrent_cells(model)
    except stepping.NotStreamableError as error:
        raise TFLiteExportError(str(error)) from None


def check_streamable(model):
    """``stepping.check_streamable``, its error a ``TFLiteExportError``."""
    try:
        stepping.check_streamable(model)
    except stepping.NotStreamableError as error:
        raise TFLiteExportError(str(error)) from None


def _modality(model):
    modality = getattr(model, "modality", None)
    if modality not in ("audio", "visual", "multimodal"):
        raise TFLiteExportError(f"not an EmotionModel (modality {modality!r})")
    return modality


def _frame_specs(model):
    """``{name: per-frame shape}`` of the model's inputs, e.g. ``{"audio": (640,)}``."""
    specs = {}
    modality = _modality(model)
    if modality in ("audio", "multimodal"):
        specs["audio"] = (model.speech_network.frame_length,)
    if modality in ("visual", "multimodal"):
        size = model.visual_network.image_size
        specs["video"] = (size, size, 3)
    return specs


@contextlib.contextmanager
def _direct_convolutions(model):
    """Traces FFT convolutions (``method="fft"`` layers) as direct ones, then restores.

    TFLite has no inverse FFT among its builtin ops; both methods share the weights.
    """
    switched = []
    for network in (getattr(model, "speech_network", None), getattr(model, "visual_network", None)):
        for layer in network.layers if network is not None else ():
            if getattr(layer, "method", None) == "fft":
                layer.method = "direct"
                switched.append(layer)
    try:
        yield
    finally:
        for layer in switched:
            layer.method = "fft"


def _trace(model, function, specs):
    with _direct_convolutions(model):
        traced = tf.function(function, input_signature=[specs], autograph=False)
        return traced.get_concrete_function()


def sequence_function(model, sequence_length):
    """Concrete function of the fixed-length twin: windows of ``sequence_length`` frames.

    Inputs ``audio [1, T, 640]`` / ``video [1, T, S, S, 3]``; output
    ``{"predictions": [1, T, 2]}``. Reads the variables of ``model``.
    """
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int):
        raise TFLiteExportError(f"sequence_length must be an integer, got {sequence_length!r}")
    if sequence_length < 1:
        raise TFLiteExportError(f"sequence_length must be >= 1, got {sequence_length}")
    lstms = recurrent_cells(model)
    specs = {
        name: tf.TensorSpec([1, sequence_length, *shape], tf.float32, name=name)
        for name, shape in _frame_specs(model).items()
    }

    def forward(inputs):
        features = x = model.frame_features(inputs)[0]  # [T, F]
        for lstm in lstms:
            h = c = tf.zeros([1, lstm.units])
            outputs = []
            for t in range(sequence_length):  # unrolled: static T, no TensorList ops
                h, c = lstm.step(x[t : t + 1], h, c)
                outputs.append(h)
            x = tf.concat(outputs, axis=0)
        return {"predictions": model.readout(x[tf.newaxis], features[tf.newaxis])}

    return _trace(model, forward, specs)


def stream_function(model):
    """Concrete function of the streaming step twin: one 40 ms frame plus LSTM states.

    Inputs ``audio [1, 640]`` / ``video [1, S, S, 3]`` and ``h_k, c_k [1, units]`` for
    every LSTM layer ``k``; outputs ``predictions [1, 2]`` and ``new_h_k, new_c_k``. A
    model that normalises the audio level also takes ``audio_level [1, 2]`` and returns
    ``new_audio_level`` (``[0, 0]`` at the stream's start, like the LSTM state).

    Raises:
        TFLiteExportError: the ``paper`` speech preset (not frame-local).
    """
    check_streamable(model)
    lstms = recurrent_cells(model)
    specs = {
        name: tf.TensorSpec([1, *shape], tf.float32, name=name)
        for name, shape in _frame_specs(model).items()
    }
    for name, size in stream_state_sizes(model).items():
        specs[name] = tf.TensorSpec([1, size], tf.float32, name=name)

    def step(inputs):
        frames = {key: inputs[key][:, tf.newaxis] for key in ("audio", "video") if key in inputs}
        # The frames with a time axis of one; the level state, if any, read from inputs.
        x = model.frame_features({**inputs, **frames})[:, 0]  # [1, F]
        predictions, outputs = head_step(lstms, model.readout, x, inputs)
        return {**outputs, **next_level_state(model, frames, inputs), "predictions": predictions}

    return _trace(model, step, specs)
