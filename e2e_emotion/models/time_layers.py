"""Layers that move the time axis in and out of the batch axis.

Per-frame networks (the ResNet on face crops) run on ``[batch * time, ...]`` so that one
large batch of images goes through each convolution, instead of a loop over time.
They are plain registered layers (no ``Lambda``) so models save and load safely.
"""

from __future__ import annotations

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="e2e_emotion")
class FoldTime(layers.Layer):
    """``[batch, time, *rest] -> [batch * time, *rest]``."""

    def call(self, inputs):
        return ops.reshape(inputs, (-1, *inputs.shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, time = input_shape[0], input_shape[1]
        folded = None if batch is None or time is None else batch * time
        return (folded, *input_shape[2:])


@keras.saving.register_keras_serializable(package="e2e_emotion")
class UnfoldTime(layers.Layer):
    """``([batch * time, *rest], reference [batch, time, ...]) -> [batch, time, *rest]``.

    The reference tensor (the network's input) supplies the dynamic batch and time sizes.
    """

    def call(self, inputs):
        folded, reference = inputs
        reference_shape = ops.shape(reference)
        return ops.reshape(folded, (reference_shape[0], reference_shape[1], *folded.shape[1:]))

    def compute_output_shape(self, input_shape):
        folded_shape, reference_shape = input_shape
        return (reference_shape[0], reference_shape[1], *folded_shape[1:])
