"""Recurrent head shared by the audio, visual and multimodal models.

A stack of unidirectional LSTMs (2 x 256 units in the paper) over per-frame features,
then a linear layer giving arousal and valence at every 40 ms step. The authors' code
uses LSTM cells with peepholes and cell clipping at 100 (TensorFlow 0.12 ``LSTMCell``
with ``use_peepholes=True, cell_clip=100``); ``PeepholeLSTMCell`` provides that, the
standard Keras ``LSTM`` (fused kernels on GPU) is the default.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="e2e_emotion")
class PeepholeLSTMCell(layers.Layer):
    """LSTM cell with peephole connections and optional cell-state clipping.

    With gates ``i, f, o`` and candidate ``g``::

        i = sigmoid(W_i x + U_i h + p_i * c + b_i)
        f = sigmoid(W_f x + U_f h + p_f * c + b_f)      (b_f initialised to 1)
        c' = clip(f * c + i * tanh(W_g x + U_g h + b_g), -cell_clip, cell_clip)
        o = sigmoid(W_o x + U_o h + p_o * c' + b_o)
        h' = o * tanh(c')

    Weight layout follows Keras: ``kernel [input, 4 units]`` and ``recurrent_kernel
    [units, 4 units]`` with gates ordered i, f, g, o; ``peepholes [3, units]`` (i, f, o).
    Use inside ``keras.layers.RNN``.
    """

    def __init__(self, units, cell_clip=100.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive integer, received {units!r}.")
        if cell_clip is not None and cell_clip <= 0:
            raise ValueError(f"`cell_clip` must be positive or None, received {cell_clip!r}.")
        self.units = units
        self.cell_clip = cell_clip
        self.state_size = [units, units]
        self.output_size = units

    def build(self, input_shape):
        units = self.units
        self.kernel = self.add_weight(
            shape=(input_shape[-1], 4 * units), initializer="glorot_uniform", name="kernel"
        )
        self.recurrent_kernel = self.add_weight(
            shape=(units, 4 * units), initializer="orthogonal", name="recurrent_kernel"
        )
        self.peepholes = self.add_weight(
            shape=(3, units), initializer="glorot_uniform", name="peepholes"
        )

        def bias_initializer(shape, dtype=None):
            zeros = keras.initializers.Zeros()((units,), dtype=dtype)
            ones = keras.initializers.Ones()((units,), dtype=dtype)
            return ops.concatenate([zeros, ones, zeros, zeros])

        self.bias = self.add_weight(shape=(4 * units,), initializer=bias_initializer, name="bias")

    def call(self, inputs, states, training=None):
        h, c = states
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h, self.recurrent_kernel) + self.bias
        z_i, z_f, z_g, z_o = ops.split(z, 4, axis=-1)
        i = ops.sigmoid(z_i + self.peepholes[0] * c)
        f = ops.sigmoid(z_f + self.peepholes[1] * c)
        c_new = f * c + i * ops.tanh(z_g)
        if self.cell_clip is not None:
            c_new = ops.clip(c_new, -self.cell_clip, self.cell_clip)
        o = ops.sigmoid(z_o + self.peepholes[2] * c_new)
        h_new = o * ops.tanh(c_new)
        return h_new, [h_new, c_new]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "cell_clip": self.cell_clip}


def recurrent_head(features, lstm_units, lstm_layers, lstm_type, cell_clip, num_outputs):
    """``[batch, time, F] -> [batch, time, num_outputs]``; layers named ``temporal_*``."""
    x = features
    for index in range(1, lstm_layers + 1):
        name = f"temporal_lstm_{index}"
        if lstm_type == "peephole":
            cell = PeepholeLSTMCell(lstm_units, cell_clip=cell_clip, name=f"{name}_cell")
            x = layers.RNN(cell, return_sequences=True, name=name)(x)
        else:
            x = layers.LSTM(lstm_units, return_sequences=True, name=name)(x)
    # float32 outputs even under a mixed-precision policy: the CCC is computed in float32.
    return layers.Dense(num_outputs, name="predictions", dtype="float32")(x)
