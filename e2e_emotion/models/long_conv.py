"""A long 1-D convolution computed directly or through the FFT.

The `paper` speech preset's second convolution has 4000 taps and 40 -> 40 channels over
the continuous waveform of a whole sequence: about 4.1 GFLOP per 40 ms frame when
computed directly. By the convolution theorem the same SAME-padded cross-correlation is

    y = irfft( sum_c rfft(x_c) * rfft(reverse(w_{c,o})) )[right : right + N]

with an FFT length L >= N + K - 1 (no circular wrap-around), costing O(L log L) per
channel plus one complex [Cin x Cout] product per frequency, about 1000x less at the
paper's shapes. Both methods share the same weights (``kernel [K, Cin, Cout]``, ``bias``,
as ``keras.layers.Conv1D``), so a model trained with one runs with the other; TFLite has
no inverse FFT among its builtin ops, so exports use ``method="direct"``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from e2e_emotion.models.checks import check_choice, check_positive_int

METHODS = ("fft", "direct")


def fft_length(signal_length, kernel_size):
    """Smallest power of two >= ``signal_length + kernel_size - 1`` (scalar int32 tensor)."""
    needed = tf.cast(signal_length + kernel_size - 1, tf.float64)
    exponent = tf.math.ceil(tf.math.log(needed) / tf.math.log(tf.constant(2.0, tf.float64)))
    return tf.cast(tf.pow(tf.constant(2.0, tf.float64), exponent), tf.int32)


def fft_conv1d_same(inputs, kernel):
    """SAME cross-correlation of ``[B, N, Cin]`` with ``[K, Cin, Cout]`` via real FFTs.

    Equals ``tf.nn.conv1d(inputs, kernel, 1, "SAME")`` (TensorFlow's padding rule:
    ``(K - 1) // 2`` zeros before, the rest after) up to float32 rounding.
    """
    kernel_size = kernel.shape[0]
    right = kernel_size - 1 - (kernel_size - 1) // 2
    length = tf.shape(inputs)[1]
    size = fft_length(length, kernel_size)
    spectrum = tf.signal.rfft(tf.transpose(inputs, [0, 2, 1]), fft_length=[size])  # [B,Cin,F]
    reversed_kernel = tf.transpose(tf.reverse(kernel, axis=[0]), [1, 2, 0])  # [Cin,Cout,K]
    kernel_spectrum = tf.signal.rfft(reversed_kernel, fft_length=[size])  # [Cin, Cout, F]
    product = tf.einsum("bcf,cof->bof", spectrum, kernel_spectrum)
    full = tf.signal.irfft(product, fft_length=[size])  # [B, Cout, L], linear convolution
    return tf.transpose(full[:, :, right : right + length], [0, 2, 1])


@keras.saving.register_keras_serializable(package="e2e_emotion")
class LongConv1D(layers.Layer):
    """SAME, stride-1 ``Conv1D`` for long kernels: ``[B, N, Cin] -> [B, N, filters]``.

    Args:
        filters: output channels.
        kernel_size: taps.
        activation: Keras activation name (e.g. ``"relu"``) or None.
        method: ``"fft"`` (fast for long kernels, with gradients) or ``"direct"``
            (``tf.nn.conv1d``; for TFLite export). Weights are the same either way.
    """

    def __init__(self, filters, kernel_size, activation=None, method="fft", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("filters", filters)
        check_positive_int("kernel_size", kernel_size)
        check_choice("convolution method", method, METHODS)
        self.filters = filters
        self.kernel_size = kernel_size
        self.activation = keras.activations.get(activation)
        self.method = method

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, input_shape[-1], self.filters),
            initializer="glorot_uniform",
        )
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, inputs):
        kernel = tf.cast(self.kernel, inputs.dtype)
        if self.method == "fft":
            outputs = tf.cast(
                fft_conv1d_same(tf.cast(inputs, tf.float32), tf.cast(kernel, tf.float32)),
                inputs.dtype,
            )
        else:
            outputs = tf.nn.conv1d(inputs, kernel, stride=1, padding="SAME")
        return self.activation(outputs + tf.cast(self.bias, inputs.dtype))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "activation": keras.activations.serialize(self.activation),
            "method": self.method,
        }
