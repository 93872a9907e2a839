"""Recurrent head shared by the audio, visual and multimodal models.

A stack of unidirectional LSTMs (2 x 256 units in the paper) over per-frame features,
then a linear layer giving arousal and valence at every 40 ms step. The authors' code
uses LSTM cells with peepholes and cell clipping at 100 (TensorFlow 0.12 ``LSTMCell``
with ``use_peepholes=True, cell_clip=100``); ``PeepholeLSTMCell`` provides that, the
standard LSTM is the default.

The standard LSTM is :class:`FusedLSTM`: the Keras ``LSTM`` (same weights, configuration and
outputs) with a training step laid out for the CPU. The Keras loop multiplies every frame's
input by the input kernel inside the recurrence and lets automatic differentiation
accumulate the kernels' gradients frame by frame; here the input projection of the whole
sequence is one matrix product before the loop, the loop carries only ``h @ U``, and a
hand-written backward pass runs the recurrence in reverse and forms the recurrent kernel's
gradient as one matrix product after it (the layout of cuDNN's and PyTorch's LSTM).
"""

from __future__ import annotations

import keras
import tensorflow as tf
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


def _forward_loop(by_time, h0, c0, recurrent_kernel):
    """The recurrence over ``by_time = (x @ kernel + bias)`` ``[time, batch, 4 units]``:
    ``(h_last, c_last, hs, cs, gates)``, the last three ``[time, batch, ...]`` (what the
    backward pass reads)."""
    steps = tf.shape(by_time)[0]
    units = recurrent_kernel.shape[0]

    def arrays(width):
        return tf.TensorArray(by_time.dtype, size=steps, element_shape=[None, width])

    def body(t, h, c, hs, cs, gates):
        z = by_time[t] + tf.matmul(h, recurrent_kernel)
        z_i, z_f, z_g, z_o = tf.split(z, 4, axis=-1)
        i, f, o = tf.sigmoid(z_i), tf.sigmoid(z_f), tf.sigmoid(z_o)
        g = tf.tanh(z_g)
        c = f * c + i * g
        h = o * tf.tanh(c)
        gates = gates.write(t, tf.concat([i, f, g, o], axis=-1))
        return t + 1, h, c, hs.write(t, h), cs.write(t, c), gates

    _, h_last, c_last, hs, cs, gates = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (0, h0, c0, arrays(units), arrays(units), arrays(4 * units)),
        maximum_iterations=steps,  # XLA sizes the arrays from it
    )
    return h_last, c_last, hs.stack(), cs.stack(), gates.stack()


# In training the two loops (forward and backward) are compiled by XLA, the rest of the
# step is not: a loop step is a few small products and element-wise operations, and XLA
# fuses them and runs the iterations without the executor's per-operation cost, while the
# convolutions outside stay with oneDNN (docs/performance.md). Inference and the exports
# run the same loop uncompiled, so an exported graph needs no XLA.
_compiled_forward_loop = tf.function(_forward_loop, jit_compile=True, autograph=False)


def _unwatched(compiled, *tensors):
    """The loop's inputs, cut from any gradient tape when the loop is compiled: the
    gradient is ``_lstm_backward``'s, and a tape watching a compiled function asks for
    its intermediates, which XLA cannot hand over (the loops' tensor lists)."""
    return [tf.stop_gradient(t) for t in tensors] if compiled else list(tensors)


def _lstm_recurrence(zx, h0, c0, recurrent_kernel, compiled=False):
    """The LSTM recurrence over ``zx = x @ kernel + bias`` ``[batch, time, 4 units]``.

    Gates ordered i, f, g, o as in Keras, sigmoid gates and tanh candidate/output. Returns
    ``(outputs [batch, time, units], h_last, c_last)``; differentiable in all four inputs
    through :func:`_lstm_backward` (one reverse loop, then one matrix product for the
    recurrent kernel's gradient). ``compiled``: both loops compiled by XLA.
    """

    @tf.custom_gradient
    def recurrence(zx, h0, c0, recurrent_kernel):
        loop = _compiled_forward_loop if compiled else _forward_loop
        h_last, c_last, hs, cs, gates = loop(
            *_unwatched(compiled, tf.transpose(zx, [1, 0, 2]), h0, c0, recurrent_kernel)
        )

        def grad(d_outputs, d_h_last, d_c_last):
            return _lstm_backward(
                (d_outputs, d_h_last, d_c_last),
                (h0, c0, recurrent_kernel),
                (hs, cs, gates),
                compiled,
            )

        return (tf.transpose(hs, [1, 0, 2]), h_last, c_last), grad

    return recurrence(zx, h0, c0, recurrent_kernel)


def _backward_loop(d_by_time, d_h, d_c, cs, previous_c, gates, kernel_t):
    """The reverse recurrence: ``(d_h0, d_c0, d_z [time, batch, 4 units])``."""
    steps = tf.shape(cs)[0]

    def body(t, d_h, d_c, d_z):
        i, f, g, o = tf.split(gates[t], 4, axis=-1)
        d_h = d_h + d_by_time[t]
        tanh_c = tf.tanh(cs[t])
        d_c = d_c + d_h * o * (1.0 - tanh_c * tanh_c)
        d_gates = tf.concat(
            [
                d_c * g * i * (1.0 - i),
                d_c * previous_c[t] * f * (1.0 - f),
                d_c * i * (1.0 - g * g),
                d_h * tanh_c * o * (1.0 - o),
            ],
            axis=-1,
        )
        return t - 1, tf.matmul(d_gates, kernel_t), d_c * f, d_z.write(t, d_gates)

    d_z = tf.TensorArray(cs.dtype, size=steps, element_shape=gates.shape[1:])
    _, d_h0, d_c0, d_z = tf.while_loop(
        lambda t, *_: t >= 0, body, (steps - 1, d_h, d_c, d_z), maximum_iterations=steps
    )
    return d_h0, d_c0, d_z.stack()


_compiled_backward_loop = tf.function(_backward_loop, jit_compile=True, autograph=False)


def _lstm_backward(upstream, inputs, saved, compiled=False):
    """Gradients ``(d_zx, d_h0, d_c0, d_recurrent_kernel)`` of :func:`_lstm_recurrence`."""
    d_outputs, d_h, d_c = upstream
    h0, c0, recurrent_kernel = inputs
    hs, cs, gates = saved
    previous_c = tf.concat([c0[None], cs[:-1]], axis=0)
    d_h = tf.zeros_like(h0) if d_h is None else d_h
    d_c = tf.zeros_like(c0) if d_c is None else d_c
    loop = _compiled_backward_loop if compiled else _backward_loop
    d_h0, d_c0, d_z = loop(
        *_unwatched(
            compiled,
            tf.transpose(d_outputs, [1, 0, 2]),
            d_h,
            d_c,
            cs,
            previous_c,
            gates,
            tf.transpose(recurrent_kernel),
        )
    )
    previous_h = tf.concat([h0[None], hs[:-1]], axis=0)
    units = recurrent_kernel.shape[0]
    d_kernel = tf.matmul(
        tf.reshape(previous_h, [-1, units]), tf.reshape(d_z, [-1, 4 * units]), transpose_a=True
    )
    return tf.transpose(d_z, [1, 0, 2]), d_h0, d_c0, d_kernel


# The class keeps Keras' name: a `.keras` file addresses each layer's weights by its class
# name in snake case (`lstm`, `lstm_1`, ...), so models saved with `keras.layers.LSTM` load
# into this class unchanged. It is registered, and exported, as `FusedLSTM`.
@keras.saving.register_keras_serializable(package="e2e_emotion", name="FusedLSTM")
class LSTM(layers.LSTM):
    """``keras.layers.LSTM`` with the input projection hoisted out of the recurrence.

    Same weights, configuration and outputs as the Keras layer (a saved Keras ``LSTM``
    loads its weights unchanged); only the computation is laid out differently (module
    docstring). Configurations the fused path does not cover (dropout inside the layer,
    masks, other activations, reversed or unrolled sequences, a GPU, where Keras uses
    cuDNN) run the Keras implementation.
    """

    def _fusable(self, mask):
        cell = self.cell
        return (
            mask is None
            and not self.go_backwards
            and not self.unroll
            and not cell.dropout
            and not cell.recurrent_dropout
            and cell.activation is keras.activations.tanh
            and cell.recurrent_activation is keras.activations.sigmoid
            and not tf.config.list_logical_devices("GPU")
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if tf.nest.is_nested(mask):
            mask = mask[0]
        if not self._fusable(mask):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        cell = self.cell
        dtype = sequences.dtype
        zx = ops.matmul(sequences, ops.cast(cell.kernel, dtype))
        if cell.use_bias:
            zx = zx + ops.cast(cell.bias, dtype)
        h0, c0 = (ops.cast(state, dtype) for state in initial_state)
        outputs, h_last, c_last = _lstm_recurrence(
            zx, h0, c0, ops.cast(cell.recurrent_kernel, dtype), compiled=bool(training)
        )
        return h_last, outputs, [h_last, c_last]


FusedLSTM = LSTM


def recurrent_layers(features, config):
    """``[batch, time, F] -> [batch, time, units]`` through the LSTM layers of ``config``
    (a ``HeadConfig``), named ``temporal_lstm_1..k``.

    The layers compute in float32 under any dtype policy: under ``mixed_bfloat16`` a
    bfloat16 cell state (8 bits of mantissa) would round away the small updates that
    accumulate over hundreds of frames, while the head costs little beside the networks."""
    x = features
    for index in range(1, config.lstm_layers + 1):
        name = f"temporal_lstm_{index}"
        if config.lstm_type == "peephole":
            cell = PeepholeLSTMCell(
                config.lstm_units, cell_clip=config.cell_clip, name=f"{name}_cell", dtype="float32"
            )
            x = layers.RNN(cell, return_sequences=True, name=name, dtype="float32")(x)
        else:
            x = FusedLSTM(config.lstm_units, return_sequences=True, name=name, dtype="float32")(x)
    return x


@keras.saving.register_keras_serializable(package="e2e_emotion")
class FacePresence(layers.Layer):
    """``[batch, time, S, S, 3]`` crops -> ``[batch, time, 1]``: 1 where the crop has a
    pixel that is not black, 0 where the frame has no face (its crop blanked)."""

    def call(self, video):
        brightest = ops.max(ops.abs(video), axis=(-3, -2, -1))
        return ops.expand_dims(ops.cast(brightest > 0, self.compute_dtype), -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-3], 1)


@keras.saving.register_keras_serializable(package="e2e_emotion")
class FallbackReadout(layers.Layer):
    """The predictions of a head whose frames may lack a face.

    Called on ``[h, features]`` (the last LSTM layer's output and the features the head
    read, whose last channel is ``FacePresence``): ``full(h)`` where the frame has a face,
    ``voice(h[..., :voice_units])`` where it has none. In a late-fusion head the first
    units are the audio model's, which read the speech features only, so a lost face
    falls back to what the voice carries instead of to a visual half fed black crops.
    """

    def __init__(self, units, voice_units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.voice_units = voice_units
        self.full = layers.Dense(units, name="full", dtype=self.dtype_policy)
        self.voice = layers.Dense(units, name="voice", dtype=self.dtype_policy)

    def build(self, input_shape):
        h_shape, _ = input_shape
        self.full.build(h_shape)
        self.voice.build((*h_shape[:-1], self.voice_units))

    def call(self, inputs):
        h, features = inputs
        face = ops.cast(features[..., -1:], self.compute_dtype)
        h = ops.cast(h, self.compute_dtype)
        return face * self.full(h) + (1 - face) * self.voice(h[..., : self.voice_units])

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "voice_units": self.voice_units}


def readout_layer(h, features, config, num_outputs):
    """The head's output layer ``predictions`` on the LSTM output ``h``: a ``Dense``, or a
    ``FallbackReadout`` with ``config.voice_units``. float32 even under a mixed-precision
    policy: the CCC is computed in float32."""
    if config.voice_units:
        layer = FallbackReadout(
            num_outputs, config.voice_units, name="predictions", dtype="float32"
        )
        return layer([h, features])
    return layers.Dense(num_outputs, name="predictions", dtype="float32")(h)
