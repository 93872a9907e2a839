"""Visual network: ResNet-50 on 96x96 face crops, one 2048-feature vector per frame.

Bottleneck ResNet (He et al. 2016) with stages of (3, 4, 6, 3) blocks and widths
(64, 128, 256, 512) x 4, global average pooling (Tzirakis et al. 2017, Section 3.2).
Depth and widths are arguments so tests can build a tiny network of the same shape.

Its BatchNorm layers are :class:`FusedBatchNormalization`: Keras' ``BatchNormalization``
(same weights, configuration and results) computed by TensorFlow's fused kernel, one op
forward and one backward per layer, where Keras 3 composes moments, normalisation and
their gradients from a dozen element-wise ops.
"""

from __future__ import annotations

import dataclasses
import os

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from e2e_emotion.config import BN_MOMENTUM, VisualConfig
from e2e_emotion.models.checks import check_positive_int, check_unit_interval
from e2e_emotion.models.time_layers import FoldTime, UnfoldTime
from e2e_emotion.settings import take_fields

BN_EPSILON = 1.001e-5


# The smallest epsilon TensorFlow's fused batch norm accepts (it raises smaller ones).
FUSED_MIN_EPSILON = 1.001e-5


# Keras' class name kept, as for the fused LSTM (`recurrent.py`): a `.keras` file addresses
# weights by class name, so models saved with `keras.layers.BatchNormalization` load into
# it. Registered and exported as `FusedBatchNormalization`.
@keras.saving.register_keras_serializable(package="e2e_emotion", name="FusedBatchNormalization")
class BatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` on 4-D channels-last inputs by the fused kernel.

    Same weights and configuration; same outputs, gradients and moving statistics (the
    fused kernel's batch variance carries Bessel's correction, removed here before the
    moving average, as Keras averages the plain batch variance). Other cases (masks,
    other axes or ranks, renormalisation, synchronised statistics, an epsilon below
    ``FUSED_MIN_EPSILON``) take the Keras path.
    """

    def _fusable(self, inputs, mask):
        return (
            mask is None
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and not self.renorm
            and not self.synchronized
            and self.epsilon >= FUSED_MIN_EPSILON
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, "float32")  # as Keras: statistics in float32 under bfloat16
        channels = x.shape[-1]
        gamma = ops.cast(self.gamma, "float32") if self.scale else tf.ones([channels])
        beta = ops.cast(self.beta, "float32") if self.center else tf.zeros([channels])
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, is_training=True
            )
            count = tf.cast(tf.size(x) // channels, "float32")
            variance = variance * tf.maximum(count - 1.0, 0.0) / count
            momentum = self.momentum
            self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
            self.moving_variance.assign(
                self.moving_variance * momentum + variance * (1.0 - momentum)
            )
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x,
                gamma,
                beta,
                mean=ops.cast(self.moving_mean, "float32"),
                variance=ops.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon,
                is_training=False,
            )
        return ops.cast(y, self.compute_dtype)


FusedBatchNormalization = BatchNormalization


def _conv_bn(x, filters, kernel, strides, name, activation=True, momentum=BN_MOMENTUM, fold=False):
    # Folded: the BatchNorm's inference-time affine map lives in the convolution's kernel
    # and bias (``fold_batch_norm``), one op instead of two per layer.
    x = layers.Conv2D(
        filters, kernel, strides=strides, padding="same", use_bias=fold, name=f"{name}_conv"
    )(x)
    if not fold:
        x = FusedBatchNormalization(epsilon=BN_EPSILON, momentum=momentum, name=f"{name}_bn")(x)
    if activation:
        x = layers.ReLU(name=f"{name}_relu")(x)
    return x


def _bottleneck(x, filters, expansion, strides, name, momentum, fold):
    """1x1 reduce -> 3x3 (carries the stride) -> 1x1 expand, plus the shortcut."""
    out_filters = filters * expansion
    options = {"momentum": momentum, "fold": fold}
    if strides != 1 or x.shape[-1] != out_filters:
        shortcut = _conv_bn(
            x, out_filters, 1, strides, f"{name}_shortcut", activation=False, **options
        )
    else:
        shortcut = x
    y = _conv_bn(x, filters, 1, 1, f"{name}_reduce", **options)
    y = _conv_bn(y, filters, 3, strides, f"{name}_spatial", **options)
    y = _conv_bn(y, out_filters, 1, 1, f"{name}_expand", activation=False, **options)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.ReLU(name=f"{name}_out")(y)


@keras.saving.register_keras_serializable(package="e2e_emotion")
class VisualNetwork(keras.Model):
    """Face-crop feature extractor: ``[batch, time, S, S, 3] -> [batch, time, F]``.

    Input is RGB in [0, 1]. ``F = stage_filters[-1] * expansion`` (2048 for ResNet-50).

    Args:
        config: a ``VisualConfig``; its fields may also be given as keyword arguments,
            which replace the config's:
            image_size: side of the square face crop (96).
            stem_filters: filters of the 7x7/2 stem convolution (64).
            stage_blocks: bottleneck blocks per stage ((3, 4, 6, 3) for ResNet-50).
            stage_filters: bottleneck width per stage ((64, 128, 256, 512)).
            expansion: output channels = width x expansion (4).
            bn_momentum: BatchNorm moving-average momentum (``BN_MOMENTUM``, 0.9; Keras'
                default 0.99 makes inference differ from training in short runs).
        weights: optional path to a local ``.weights.h5`` file written by
            ``VisualNetwork.save_weights`` for the same configuration (for example the
            visual network of a trained visual model). Nothing is ever downloaded. The
            path is not part of the config: once loaded, the weights belong to the model.
        folded: an inference-only network whose convolutions carry a bias and no
            BatchNorm follows them (``fold_batch_norm`` makes one from a trained network).
    """

    def __init__(self, config=None, weights=None, name="visual_network", folded=False, **kwargs):
        given, kwargs = take_fields(VisualConfig, kwargs)
        config = dataclasses.replace(config or VisualConfig(), **given)
        image_size, stem_filters, stage_blocks, stage_filters, expansion, bn_momentum = (
            dataclasses.astuple(config)
        )
        stage_blocks, stage_filters = list(stage_blocks), list(stage_filters)
        check_positive_int("image_size", image_size)
        check_positive_int("stem_filters", stem_filters)
        check_positive_int("expansion", expansion)
        check_unit_interval("bn_momentum", bn_momentum)
        if not stage_blocks or len(stage_blocks) != len(stage_filters):
            raise ValueError(
                "`stage_blocks` and `stage_filters` must be non-empty and of equal length, "
                f"received {stage_blocks!r} and {stage_filters!r}."
            )
        for value in stage_blocks:
            check_positive_int("stage_blocks", value)
        for value in stage_filters:
            check_positive_int("stage_filters", value)

        frames = keras.Input(shape=(None, image_size, image_size, 3), name="video")
        x = FoldTime(name="visual_fold_time")(frames)
        x = _conv_bn(x, stem_filters, 7, 2, "resnet_stem", momentum=bn_momentum, fold=folded)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="resnet_stem_pool")(x)
        stages = zip(stage_blocks, stage_filters, strict=True)
        for stage, (blocks, filters) in enumerate(stages, start=1):
            for block in range(1, blocks + 1):
                strides = 2 if block == 1 and stage > 1 else 1
                block_name = f"resnet_stage{stage}_block{block}"
                x = _bottleneck(x, filters, expansion, strides, block_name, bn_momentum, folded)
        x = layers.GlobalAveragePooling2D(name="resnet_global_pool")(x)
        features = UnfoldTime(name="visual_features")([x, frames])
        super().__init__(inputs=frames, outputs=features, name=name, **kwargs)

        # Each setting is also an attribute (``network.image_size``, ...).
        self.visual_config = dataclasses.replace(
            config, stage_blocks=stage_blocks, stage_filters=stage_filters
        )
        vars(self).update(dataclasses.asdict(self.visual_config))
        self.folded = bool(folded)
        self.num_features = stage_filters[-1] * expansion
        if weights is not None:
            if not os.path.isfile(weights):
                raise FileNotFoundError(f"Visual network weights file not found: {weights!r}")
            self.load_weights(weights)

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            **dataclasses.asdict(self.visual_config),
        }
        if self.folded:
            config["folded"] = True
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def fold_into(network, folded):
    """Sets the weights of ``folded`` (a ``VisualNetwork(..., folded=True)`` of the same
    configuration) from the trained ``network``: each convolution followed by a BatchNorm
    gets ``kernel * s`` and bias ``beta - mean * s``, ``s = gamma / sqrt(variance + eps)``
    (the BatchNorm in inference mode), so both give the same features to float32 rounding."""
    for layer in folded.layers:
        if not layer.weights:
            continue
        source = network.get_layer(layer.name)
        if not (isinstance(layer, layers.Conv2D) and layer.name.endswith("_conv")):
            layer.set_weights(source.get_weights())
            continue
        norm = network.get_layer(layer.name[: -len("_conv")] + "_bn")
        variance = np.asarray(norm.moving_variance, np.float64)
        scale = 1.0 / np.sqrt(variance + norm.epsilon)
        if norm.scale:
            scale = scale * np.asarray(norm.gamma, np.float64)
        shift = -np.asarray(norm.moving_mean, np.float64) * scale
        if norm.center:
            shift = shift + np.asarray(norm.beta, np.float64)
        kernel = np.asarray(source.kernel, np.float64) * scale  # output channels last
        layer.set_weights([kernel.astype(np.float32), shift.astype(np.float32)])
