"""The builtins-only twins of an ``EmotionModel``: fixed-length sequence and streaming step.

Both read the trained model's variables (nothing is copied); see the package docstring.
"""

from __future__ import annotations

import contextlib
import dataclasses

import keras
import tensorflow as tf

from e2e_emotion.export.tflite.base import TFLiteExportError
from e2e_emotion.modalities import LEVEL_INPUT
from e2e_emotion.models.level import level_after
from e2e_emotion.models.recurrent import PeepholeLSTMCell


@dataclasses.dataclass
class _Recurrent:
    """One ``temporal_lstm_k`` layer of the trained model: its cell, stepped by hand.

    The twins unroll the recursion themselves (a Keras ``LSTM`` layer over a time axis
    lowers to TensorList ops), but every step is the layer's own cell (``LSTMCell`` or
    ``PeepholeLSTMCell``) called in inference mode: matmul, add, split and the gate
    activations, all TFLite builtins. Nothing restates the cell's equations.
    """

    name: str
    units: int
    cell: object

    def step(self, x, h, c):
        """``x [1, features]``, state ``(h, c)`` -> ``(h', c')``."""
        _, (h_new, c_new) = self.cell.call(x, [h, c], training=False)
        return h_new, c_new


def recurrent_cells(model):
    """The recurrent head of an ``EmotionModel`` as ``_Recurrent`` cells, bottom first."""
    found = []
    for layer in getattr(model, "recurrent_layers", []):
        cell = layer.cell
        if getattr(layer, "go_backwards", False) or getattr(layer, "stateful", False):
            raise TFLiteExportError(f"{layer.name}: backward or stateful LSTMs are not exported")
        if not isinstance(cell, PeepholeLSTMCell | keras.layers.LSTMCell):
            raise TFLiteExportError(f"{layer.name}: unsupported recurrent cell {type(cell)}")
        found.append(_Recurrent(layer.name, cell.units, cell))
    if not found:
        raise TFLiteExportError("the model has no temporal_lstm_1 layer (not an EmotionModel?)")
    return found


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
    dense = model.get_layer("predictions")
    specs = {
        name: tf.TensorSpec([1, sequence_length, *shape], tf.float32, name=name)
        for name, shape in _frame_specs(model).items()
    }

    def forward(inputs):
        x = model.frame_features(inputs)[0]  # [T, F]
        for lstm in lstms:
            h = c = tf.zeros([1, lstm.units])
            outputs = []
            for t in range(sequence_length):  # unrolled: static T, no TensorList ops
                h, c = lstm.step(x[t : t + 1], h, c)
                outputs.append(h)
            x = tf.concat(outputs, axis=0)
        return {"predictions": dense(x[tf.newaxis])}

    return _trace(model, forward, specs)


def check_streamable(model):
    """Raises TFLiteExportError unless ``model`` can run frame by frame (its features
    of a frame depend on that frame only)."""
    speech = getattr(model, "speech_network", None)
    if speech is not None and speech.preset == "paper":
        raise TFLiteExportError(
            "the 'paper' speech preset convolves the continuous waveform across frames "
            "(non-causal SAME 1x80 and 1x4000 kernels: each frame's features depend on about "
            "6 frames of future audio and on where the sequence ends), so a one-frame step "
            "model cannot reproduce it; export kind 'sequence' instead, or train with "
            "speech_preset='reference' (per-frame convolutions) for streaming."
        )


def head_step(lstms, dense, features, state):
    """One frame through the recurrent head: ``features [batch, F]`` and ``state``
    (``h_k``, ``c_k`` for every layer ``k`` of ``lstms``) -> ``(predictions [batch, 2],
    {"new_h_k": ..., "new_c_k": ...})``. The streaming TFLite twin, the SavedModel's
    ``stream`` signature and ``bin/live.py`` all step the head with it."""
    x, new = features, {}
    for index, lstm in enumerate(lstms, start=1):
        x, c = lstm.step(x, state[f"h_{index}"], state[f"c_{index}"])
        new[f"new_h_{index}"], new[f"new_c_{index}"] = x, c
    return dense(x), new


def stream_state_sizes(model):
    """``{name: size}`` of a streaming step's state, in input order: ``h_k`` and ``c_k``
    (the units) of every LSTM layer ``k``, then ``audio_level`` (2) for a model that
    normalises the audio level. All zeros start a stream; output ``new_<name>`` is fed back.
    """
    sizes = {}
    for index, lstm in enumerate(recurrent_cells(model), start=1):
        sizes[f"h_{index}"] = sizes[f"c_{index}"] = lstm.units
    if model.level_normalization is not None:
        sizes[LEVEL_INPUT] = 2
    return sizes


def next_level_state(model, frames, inputs):
    """``{"new_audio_level": ...}``: the level state after the step's audio ``frames``
    ``[batch, 1, 640]``, or ``{}`` for a model without level normalisation."""
    if model.level_normalization is None:
        return {}
    return {f"new_{LEVEL_INPUT}": level_after(frames["audio"], inputs[LEVEL_INPUT])}


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
    dense = model.get_layer("predictions")
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
        predictions, outputs = head_step(lstms, dense, x, inputs)
        return {**outputs, **next_level_state(model, frames, inputs), "predictions": predictions}

    return _trace(model, step, specs)
