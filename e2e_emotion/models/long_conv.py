"""A long 1-D convolution computed in blocks, directly or through the FFT.

The `paper` speech preset's second convolution has 4000 taps and 40 -> 40 channels over
the continuous waveform of a whole sequence: about 4.1 GFLOP per 40 ms frame when
computed directly. Both methods here compute TensorFlow's SAME-padded cross-correlation

    y[n] = sum_k x[n + k - (K - 1) // 2] w[k]

in blocks of ``M = block_length(K)`` outputs, each reading ``M + K - 1`` inputs (the
block and the ``K - 1`` samples after it), so the values at block edges are exact:

* ``fft`` (overlap-save): each block's circular cross-correlation with the kernel by real
  FFTs of length ``L = M + K - 1``, the smallest power of two >= ``2K - 1``; its first
  ``M`` outputs have no wrap-around. Per block and channel pair this costs one complex
  product per frequency instead of ``K`` multiply-adds per sample, and the kernel's
  ``Cin x Cout`` transforms stay short (8192 points for 4000 taps) however long the
  sequence is: at the paper's shapes ~4x faster than one FFT over the whole sequence.
* ``direct``: the kernel split into ranges of taps, each applied by ``tf.nn.conv1d``
  (VALID) on blocks of outputs stacked along the batch axis and on the shorter last
  block, and the ranges summed. Same multiplications as one convolution over the whole
  sequence, but each call's im2col buffer is bounded (``MAX_DIRECT_IM2COL``) instead of
  growing with the sequence (~30 GB per sequence of 150 frames at 4000 taps x 40
  channels), and each call stays within the kernel sizes oneDNN runs fast.

Both share the weights of ``keras.layers.Conv1D`` (``kernel [K, Cin, Cout]``, ``bias``),
so a model trained with one runs with the other. TFLite has no inverse FFT among its
builtin ops, so the TFLite converter traces these layers with ``method="direct"``.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from e2e_emotion.models.checks import check_choice, check_positive_int

METHODS = ("fft", "direct")
# The smallest FFT length used for blocks (short kernels): keeps tiny blocks from
# multiplying the number of transforms.
MIN_FFT_LENGTH = 64
# Sizes per ``tf.nn.conv1d`` call in the direct method. With oneDNN (on by default on
# x86), convolutions with long kernels or large im2col buffers (outputs x taps x input
# channels) can leave the optimised kernels for reference ones, orders of magnitude
# slower (the backward passes from about 1000 taps, or 500 taps over 4000 outputs; the
# forward pass from about 1600 taps x 40 x 40 channels). The direct method therefore
# splits the kernel into tap ranges and each range's outputs into blocks within these
# limits, and sums the ranges.
MAX_DIRECT_TAPS = 512
MAX_DIRECT_WEIGHTS = 1 << 21
MAX_DIRECT_IM2COL = 1 << 23


def block_fft_length(kernel_size):
    """FFT length of one block: the smallest power of two >= ``2K - 1`` (at least 64)."""
    check_positive_int("kernel_size", kernel_size)
    return max(MIN_FFT_LENGTH, 1 << (2 * kernel_size - 2).bit_length())


def block_length(kernel_size):
    """Outputs per block, ``block_fft_length(K) - K + 1`` (always >= K)."""
    return block_fft_length(kernel_size) - kernel_size + 1


def _length(tensor, axis=1):
    """Static length along ``axis`` when known (Python int), else a scalar tensor."""
    static = tensor.shape[axis]
    return static if static is not None else tf.shape(tensor)[axis]


def _pad_time(inputs, before, after):
    return tf.pad(inputs, [[0, 0], [before, after], [0, 0]])


def _blocks(padded, count, block, overlap):
    """``[B, P, C] -> [B, count, block + overlap, C]``, overlapping blocks.

    Block ``j`` is ``padded[j * block : (j + 1) * block + overlap]``: its own slice
    followed by the first ``overlap`` samples of the next one. Needs
    ``overlap <= block`` and ``P >= (count + 1) * block``.
    """
    channels = padded.shape[-1]
    batch = tf.shape(padded)[0]
    own = tf.reshape(padded[:, : count * block], [batch, count, block, channels])
    following = tf.reshape(padded[:, block : (count + 1) * block], [batch, count, block, channels])
    return tf.concat([own, following[:, :, :overlap]], axis=2)


def _ceil_div(a, b):
    return (a + b - 1) // b


def fft_conv1d_same(inputs, kernel):
    """SAME cross-correlation of ``[B, N, Cin]`` with ``[K, Cin, Cout]``, overlap-save FFT.

    Equals ``tf.nn.conv1d(inputs, kernel, 1, "SAME")`` (TensorFlow's padding rule:
    ``(K - 1) // 2`` zeros before, the rest after) up to float32 rounding.
    """
    kernel_size, channels, filters = kernel.shape
    size = block_fft_length(kernel_size)
    block = size - kernel_size + 1
    length = _length(inputs)
    count = _ceil_div(length, block)
    before = (kernel_size - 1) // 2
    padded = _pad_time(inputs, before, (count + 1) * block - length - before)
    blocks = _blocks(padded, count, block, kernel_size - 1)  # [B, J, L, Cin]
    blocks = tf.reshape(tf.transpose(blocks, [0, 1, 3, 2]), [-1, channels, size])
    # Frequency-major spectra: the channel mixing is one batched complex matmul over the
    # frequencies (an einsum over [BJ, Cin, F] x [Cin, Cout, F] is ~4x slower on CPU).
    spectrum = tf.transpose(tf.signal.rfft(blocks, fft_length=[size]), [2, 0, 1])  # [F, BJ, Cin]
    kernel_spectrum = tf.signal.rfft(tf.transpose(kernel, [2, 1, 0]), fft_length=[size])
    kernel_spectrum = tf.transpose(kernel_spectrum, [2, 0, 1])  # [F, Cout, Cin]
    # Cross-correlation: the conjugate kernel spectrum (adjoint), no kernel reversal.
    product = tf.matmul(spectrum, kernel_spectrum, adjoint_b=True)  # [F, BJ, Cout]
    outputs = tf.signal.irfft(tf.transpose(product, [1, 2, 0]), fft_length=[size])
    outputs = tf.transpose(outputs[..., :block], [0, 2, 1])  # [BJ, M, Cout]
    outputs = tf.reshape(outputs, [tf.shape(inputs)[0], -1, filters])
    return outputs[:, :length]


def tap_ranges(kernel_size, channels, filters):
    """``[(start, stop), ...]``: equal tap ranges of at most ``MAX_DIRECT_TAPS`` taps and
    ``MAX_DIRECT_WEIGHTS`` weights (at least one tap)."""
    per_range = max(1, min(MAX_DIRECT_TAPS, MAX_DIRECT_WEIGHTS // (channels * filters)))
    count = _ceil_div(kernel_size, per_range)
    size = _ceil_div(kernel_size, count)
    return [(start, min(start + size, kernel_size)) for start in range(0, kernel_size, size)]


def direct_block_length(taps, channels):
    """Outputs per block of one tap range: at least ``taps`` (blocks read ``block + taps -
    1`` inputs, overlapping by less than a block), else within ``MAX_DIRECT_IM2COL``."""
    return max(taps, MAX_DIRECT_IM2COL // (taps * channels))


def _blocked_valid_conv1d(inputs, kernel, length):
    """``tf.nn.conv1d(inputs, kernel, 1, "VALID")`` with ``length`` outputs, in blocks.

    Full blocks are stacked along the batch axis, the last (1 to ``M`` outputs) is one more
    convolution: no output is computed twice and none is thrown away.
    """
    taps, channels, filters = kernel.shape
    block = direct_block_length(taps, channels)
    # The last block always has 1..M outputs: a convolution with no output has a wrong
    # filter gradient on CPU (TensorFlow 2.21).
    full = (length - 1) // block
    rest = length - full * block
    if isinstance(full, int) and full == 0:  # short static sequence: one convolution
        return tf.nn.conv1d(inputs, kernel, 1, "VALID")
    # Zeros beyond length + taps - 1 only fill the unused tail of the last reshape.
    shortfall = block - rest - (taps - 1)
    extra = max(shortfall, 0) if isinstance(shortfall, int) else tf.maximum(shortfall, 0)
    blocks = _blocks(_pad_time(inputs, 0, extra), full, block, taps - 1)
    stacked = tf.reshape(blocks, [-1, block + taps - 1, channels])
    head = tf.nn.conv1d(stacked, kernel, 1, "VALID")  # [B * full, M, Cout]
    head = tf.reshape(head, [tf.shape(inputs)[0], -1, filters])
    tail = tf.nn.conv1d(inputs[:, full * block :], kernel, 1, "VALID")  # [B, rest, Cout]
    return tf.concat([head, tail], axis=1)


def direct_conv1d_same(inputs, kernel):
    """``tf.nn.conv1d(inputs, kernel, 1, "SAME")`` as a sum over ``tap_ranges`` of blocked
    VALID convolutions: taps ``[a, b)`` give output ``n`` the terms ``x[n + k - (K - 1) //
    2] w[k]`` for ``a <= k < b``."""
    kernel_size, channels, filters = kernel.shape
    length = _length(inputs)
    before = (kernel_size - 1) // 2
    padded = _pad_time(inputs, before, kernel_size - 1 - before)  # length N + K - 1
    # add_n of one tensor returns it: an unsplit kernel is one blocked convolution.
    return tf.add_n(
        [
            _blocked_valid_conv1d(padded[:, a : a + length + b - a - 1], kernel[a:b], length)
            for a, b in tap_ranges(kernel_size, channels, filters)
        ]
    )


@keras.saving.register_keras_serializable(package="e2e_emotion")
class LongConv1D(layers.Layer):
    """SAME, stride-1 ``Conv1D`` for long kernels: ``[B, N, Cin] -> [B, N, filters]``.

    Args:
        filters: output channels.
        kernel_size: taps.
        activation: Keras activation name (e.g. ``"relu"``) or None.
        method: ``"fft"`` (overlap-save blocks; fast for long kernels) or ``"direct"``
            (``tf.nn.conv1d`` on blocks; for TFLite export). Weights are the same.
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
            outputs = direct_conv1d_same(inputs, kernel)
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
