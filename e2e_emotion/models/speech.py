"""Speech network on the raw 16 kHz waveform (Tzirakis et al. 2017, Figure 1).

Two presets give 1280 features per 40 ms frame:

* ``paper``: the convolutions run over the continuous waveform of the whole sequence
  (``time x 640`` samples): conv 1x80 (40 filters) -> max-pool 2 over time -> conv
  1x4000 (40 filters) -> max-pool 10 over the 40 channels -> 320 x 4 per frame.
* ``reference`` (the authors' public code): the same pipeline with 1x20 and 1x40
  kernels applied to each 640-sample frame on its own.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf
from keras import layers, ops

from e2e_emotion.config import SPEECH_PRESETS, SpeechConfig
from e2e_emotion.models.checks import check_choice, check_positive_int, check_unit_interval
from e2e_emotion.models.long_conv import METHODS, LongConv1D
from e2e_emotion.models.time_layers import FoldTime, UnfoldTime
from e2e_emotion.settings import take_fields

CONV2_METHODS = ("auto", *METHODS)
# `conv2_method="auto"` uses the (blocked) FFT from this many taps on, direct convolution
# below: above the `reference` preset's 40 taps on purpose, so that preset keeps the exact
# direct convolution, and where the FFT's advantage has become large (docs/performance.md,
# `bin/benchmark.py --conv_kernels`).
FFT_MIN_KERNEL = 64


@keras.saving.register_keras_serializable(package="e2e_emotion")
class ChannelMaxPool(layers.Layer):
    """Max over groups of `pool_size` adjacent channels: ``[..., C] -> [..., C / pool_size]``.

    The authors' code pools the 40 conv channels in non-overlapping groups of 10
    (``ksize=[1, 1, 10, 1]`` on a transposed tensor), leaving 4 values per sample.
    """

    def __init__(self, pool_size, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("pool_size", pool_size)
        self.pool_size = pool_size

    def call(self, inputs):
        channels = inputs.shape[-1]
        shape = (*ops.shape(inputs)[:-1], channels // self.pool_size, self.pool_size)
        return ops.max(ops.reshape(inputs, shape), axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] // self.pool_size)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


GRADIENT_DTYPES = ("float32", "bfloat16")


def _frame_conv_gradients(inputs, kernel, bias, outputs, upstream, gradient_dtype):
    """Gradients of ``relu(conv2d(inputs, kernel) + bias)`` (SAME, stride 1) given
    ``upstream``, the loss gradient of ``outputs``: ``(d inputs, d kernel, d bias)``."""
    grad = tf.raw_ops.ReluGrad(gradients=upstream, features=outputs)
    grad_bias = tf.reduce_sum(grad, axis=[0, 1, 2])
    low = tf.cast(grad, gradient_dtype)
    _, taps, channels, filters = kernel.shape
    if channels == 1:
        # One input channel: the kernel's gradient is a single matrix product of the
        # input's taps-long windows with the output gradient. oneDNN's backward-filter
        # kernel is several times slower on this shape (no channel dimension to block).
        windows = tf.nn.conv2d(
            inputs, tf.reshape(tf.eye(taps, dtype=inputs.dtype), [1, taps, 1, taps]), 1, "SAME"
        )
        grad_kernel = tf.matmul(
            tf.reshape(windows, [-1, taps]), tf.reshape(grad, [-1, filters]), transpose_a=True
        )
        grad_kernel = tf.reshape(grad_kernel, kernel.shape)
    else:
        grad_kernel = tf.raw_ops.Conv2DBackpropFilter(
            input=tf.cast(inputs, gradient_dtype),
            filter_sizes=tf.shape(kernel),
            out_backprop=low,
            strides=[1, 1, 1, 1],
            padding="SAME",
        )
    grad_inputs = tf.raw_ops.Conv2DBackpropInput(
        input_sizes=tf.shape(inputs),
        filter=tf.cast(kernel, gradient_dtype),
        out_backprop=low,
        strides=[1, 1, 1, 1],
        padding="SAME",
    )
    return (
        tf.cast(grad_inputs, inputs.dtype),
        tf.cast(grad_kernel, kernel.dtype),
        tf.cast(grad_bias, bias.dtype),
    )


# The class keeps Keras' name: a `.keras` file addresses each layer's weights by its class
# name in snake case (`conv2d`, `conv2d_1`, ...), so models saved when these layers were
# `keras.layers.Conv2D` load unchanged, and the other way round. It is registered, and
# exported, as `FrameConv2D`.
@keras.saving.register_keras_serializable(package="e2e_emotion", name="FrameConv2D")
class Conv2D(layers.Conv2D):
    """The ``reference`` preset's per-frame convolution: ReLU(conv + bias) over one-row
    images ``[N, 1, samples, C]``, SAME, stride 1, with its backward pass written out.

    Inference runs ``keras.layers.Conv2D`` itself (same weights, same graph). In training
    the forward pass is the same convolution; the backward pass computes the kernel's
    gradient of a one-channel input as one matrix product, and, with ``gradient_dtype``
    ``"bfloat16"``, the gradients of the convolution in bfloat16 (oneDNN runs them on
    AMX tiles), the forward pass and every variable staying in the compute dtype.
    """

    def __init__(self, filters, kernel_size, gradient_dtype="float32", **kwargs):
        kwargs.setdefault("padding", "same")
        kwargs.setdefault("activation", "relu")
        super().__init__(filters, kernel_size, **kwargs)
        activation = keras.activations.serialize(self.activation)
        if (
            self.padding != "same"
            or self.strides != (1, 1)
            or self.dilation_rate != (1, 1)
            or activation != "relu"
            or not self.use_bias
            or self.data_format != "channels_last"
        ):
            # The backward pass below is written for exactly this convolution.
            raise ValueError(
                "FrameConv2D is a SAME, stride-1, undilated, channels-last convolution with "
                f"a bias and relu; got padding={self.padding!r}, strides={self.strides}, "
                f"dilation_rate={self.dilation_rate}, data_format={self.data_format!r}, "
                f"use_bias={self.use_bias}, activation={activation!r}"
            )
        self.gradient_dtype = gradient_dtype

    @property
    def gradient_dtype(self):
        return self._gradient_dtype

    @gradient_dtype.setter
    def gradient_dtype(self, value):
        check_choice("gradient_dtype", value, GRADIENT_DTYPES)
        self._gradient_dtype = value

    def call(self, inputs, training=None):
        if not training:
            return super().call(inputs)
        gradient_dtype = self.gradient_dtype

        @tf.custom_gradient
        def forward(inputs, kernel, bias):
            outputs = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(inputs, kernel, 1, "SAME"), bias))

            def backward(upstream):
                return _frame_conv_gradients(
                    inputs, kernel, bias, outputs, upstream, gradient_dtype
                )

            return outputs, backward

        kernel = tf.cast(self.kernel, self.compute_dtype)
        bias = tf.cast(self.bias, self.compute_dtype)
        return forward(inputs, kernel, bias)

    def get_config(self):
        return {**super().get_config(), "gradient_dtype": self.gradient_dtype}


FrameConv2D = Conv2D


def set_gradient_dtype(model, gradient_dtype):
    """Sets the backward-pass dtype of every ``FrameConv2D`` in ``model`` (and its
    sub-models); returns how many layers it set. Call before the training step is traced."""
    check_choice("gradient_dtype", gradient_dtype, GRADIENT_DTYPES)
    count = 0
    pending = list(getattr(model, "layers", []))
    while pending:
        layer = pending.pop()
        pending.extend(getattr(layer, "layers", []))
        if isinstance(layer, FrameConv2D):
            layer.gradient_dtype = gradient_dtype
            count += 1
    return count


@keras.saving.register_keras_serializable(package="e2e_emotion")
class SpeechNetwork(keras.Model):
    """Raw-waveform feature extractor: ``[batch, time, frame_length] -> [batch, time, F]``.

    ``F = (frame_length / pool1_size) * (conv2_filters / channel_pool_size)``, 1280 for
    the defaults (640-sample frames, pool 2, 40 filters pooled by 10).

    Args:
        config: a ``SpeechConfig``; its fields may also be given as keyword arguments,
            which replace the config's:
            preset: ``"paper"`` (continuous waveform, kernels 80 and 4000) or
                ``"reference"`` (per frame, kernels 20 and 40).
            frame_length: samples per label frame (640 = 40 ms at 16 kHz).
            conv1_filters, conv2_filters: filters of the two convolutions (40 and 40).
            conv1_kernel, conv2_kernel: kernel lengths in samples; ``None`` takes the
                preset's value.
            pool1_size: max-pool over time after the first convolution (2: 16 -> 8 kHz).
            channel_pool_size: max-pool over channels after the second convolution (10).
            input_dropout: dropout rate on the raw waveform.
            conv2_method: how the `paper` preset's long second convolution is computed:
                ``"fft"``, ``"direct"`` or ``"auto"`` (FFT from ``FFT_MIN_KERNEL`` taps
                on). Same weights and outputs (within float32 rounding) either way.
    """

    def __init__(self, config=None, name="speech_network", **kwargs):
        given, kwargs = take_fields(SpeechConfig, kwargs)
        config = dataclasses.replace(config or SpeechConfig(), **given)
        (
            preset,
            frame_length,
            conv1_filters,
            conv1_kernel,
            pool1_size,
            conv2_filters,
            conv2_kernel,
            channel_pool_size,
            input_dropout,
            conv2_method,
        ) = dataclasses.astuple(config)
        check_choice("speech preset", preset, tuple(SPEECH_PRESETS))
        spec = SPEECH_PRESETS[preset]
        conv1_kernel = spec["conv1_kernel"] if conv1_kernel is None else conv1_kernel
        conv2_kernel = spec["conv2_kernel"] if conv2_kernel is None else conv2_kernel
        for argument, value in [
            ("frame_length", frame_length),
            ("conv1_filters", conv1_filters),
            ("conv1_kernel", conv1_kernel),
            ("pool1_size", pool1_size),
            ("conv2_filters", conv2_filters),
            ("conv2_kernel", conv2_kernel),
            ("channel_pool_size", channel_pool_size),
        ]:
            check_positive_int(argument, value)
        if frame_length % pool1_size:
            raise ValueError(
                f"`frame_length` ({frame_length}) must be a multiple of `pool1_size` "
                f"({pool1_size}) so that pooled frames stay aligned with label frames."
            )
        if conv2_filters % channel_pool_size:
            raise ValueError(
                f"`conv2_filters` ({conv2_filters}) must be a multiple of "
                f"`channel_pool_size` ({channel_pool_size})."
            )
        check_choice("conv2_method", conv2_method, CONV2_METHODS)
        check_unit_interval("input_dropout", input_dropout)

        pooled_length = frame_length // pool1_size
        num_features = pooled_length * (conv2_filters // channel_pool_size)

        waveform = keras.Input(shape=(None, frame_length), name="audio")
        x = layers.Dropout(input_dropout, name="speech_input_dropout")(waveform)
        if spec["continuous"]:
            # One long signal per sequence: frames see their neighbours through the
            # kernels; zero padding only at the two ends of the sequence.
            x = layers.Reshape((-1, 1), name="speech_concatenate_frames")(x)
            conv, pool = layers.Conv1D, layers.MaxPooling1D
            k1, k2, p1 = conv1_kernel, conv2_kernel, pool1_size
        else:
            # Each frame an image of one row, [batch * time, 1, samples, 1]: the kernels
            # never mix two frames. Time folded into the batch rather than kept as the
            # image's height: the CPU convolution kernels split their work over the batch,
            # and their backward passes are several times slower over one tall image per
            # sequence (docs/performance.md).
            x = FoldTime(name="speech_fold_time")(x)
            x = layers.Reshape((1, frame_length, 1), name="speech_frames_as_rows")(x)
            conv, pool = FrameConv2D, layers.MaxPooling2D
            k1, k2, p1 = (1, conv1_kernel), (1, conv2_kernel), (1, pool1_size)
        x = conv(conv1_filters, k1, padding="same", activation="relu", name="speech_conv1")(x)
        x = pool(p1, strides=p1, padding="same", name="speech_pool1")(x)
        if spec["continuous"]:
            method = conv2_method
            if method == "auto":
                method = "fft" if conv2_kernel >= FFT_MIN_KERNEL else "direct"
            conv2 = LongConv1D(
                conv2_filters, conv2_kernel, activation="relu", method=method, name="speech_conv2"
            )
        else:
            conv2 = conv(conv2_filters, k2, padding="same", activation="relu", name="speech_conv2")
        x = conv2(x)
        x = ChannelMaxPool(channel_pool_size, name="speech_channel_pool")(x)
        if spec["continuous"]:
            features = layers.Reshape((-1, num_features), name="speech_features")(x)
        else:
            x = layers.Reshape((num_features,), name="speech_frame_features")(x)
            features = UnfoldTime(name="speech_features")([x, waveform])
        super().__init__(inputs=waveform, outputs=features, name=name, **kwargs)

        # The kernels resolved from the preset, as the saved config states them; each
        # setting is also an attribute (``network.preset``, ``network.frame_length``, ...).
        self.speech_config = dataclasses.replace(
            config, conv1_kernel=conv1_kernel, conv2_kernel=conv2_kernel
        )
        vars(self).update(dataclasses.asdict(self.speech_config))
        self.num_features = num_features

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            **dataclasses.asdict(self.speech_config),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
