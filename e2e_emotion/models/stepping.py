"""One 40 ms step of an ``EmotionModel``'s recurrent head, its state carried by the caller.

The streaming TFLite twin, the SavedModel's ``stream`` signature and a Keras model run
live (``runtime.StreamModel``) all step the head with these functions, which read the
trained model's variables (nothing is copied). Problems are ``NotStreamableError``.
"""

from __future__ import annotations

import dataclasses

import keras

from e2e_emotion.modalities import LEVEL_INPUT
from e2e_emotion.models.level import level_after
from e2e_emotion.models.recurrent import PeepholeLSTMCell


class NotStreamableError(ValueError):
    """The model cannot run one frame at a time; the message says why."""


@dataclasses.dataclass
class _Recurrent:
    """One ``temporal_lstm_k`` layer of the trained model: its cell, stepped by hand.

    The stepping code unrolls the recursion itself (a Keras ``LSTM`` layer over a time
    axis lowers to TensorList ops, which TFLite lacks), but every step is the layer's own
    cell (``LSTMCell`` or ``PeepholeLSTMCell``) called in inference mode: matmul, add,
    split and the gate activations. Nothing restates the cell's equations.
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
            raise NotStreamableError(f"{layer.name}: backward or stateful LSTMs cannot be stepped")
        if not isinstance(cell, PeepholeLSTMCell | keras.layers.LSTMCell):
            raise NotStreamableError(f"{layer.name}: unsupported recurrent cell {type(cell)}")
        found.append(_Recurrent(layer.name, cell.units, cell))
    if not found:
        raise NotStreamableError("the model has no temporal_lstm_1 layer (not an EmotionModel?)")
    return found


def check_streamable(model):
    """Raises NotStreamableError unless ``model`` can run frame by frame (its features
    of a frame depend on that frame only)."""
    speech = getattr(model, "speech_network", None)
    if speech is not None and speech.preset == "paper":
        raise NotStreamableError(
            "the 'paper' speech preset convolves the continuous waveform across frames "
            "(non-causal SAME 1x80 and 1x4000 kernels: each frame's features depend on about "
            "6 frames of future audio and on where the sequence ends), so a one-frame step "
            "model cannot reproduce it; export kind 'sequence' instead, or train with "
            "speech_preset='reference' (per-frame convolutions) for streaming."
        )


def head_step(lstms, readout, features, state):
    """One frame through the recurrent head: ``features [batch, F]`` and ``state``
    (``h_k``, ``c_k`` for every layer ``k`` of ``lstms``) -> ``(predictions [batch, 2],
    {"new_h_k": ..., "new_c_k": ...})``. The streaming TFLite twin, the SavedModel's
    ``stream`` signature and ``bin/live.py`` all step the head with it. ``readout``:
    the model's ``readout``, ``(h, features) -> predictions``."""
    x, new = features, {}
    for index, lstm in enumerate(lstms, start=1):
        x, c = lstm.step(x, state[f"h_{index}"], state[f"c_{index}"])
        new[f"new_h_{index}"], new[f"new_c_{index}"] = x, c
    return readout(x, features), new


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
