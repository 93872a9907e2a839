"""Concordance correlation coefficient (CCC) loss (Tzirakis et al. 2017, Section 3.4).

For each output dimension (arousal, valence), with population moments over all
``batch x time`` values::

    CCC = 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)

and the loss is ``mean over dimensions of (1 - CCC)``. An optional weight (or 0/1
mask) per ``[batch, time]`` value turns every moment into a weighted one, so padded
frames do not count.
"""

from __future__ import annotations

import keras
from keras import ops

# Keeps the ratio finite (and its gradient zero) when predictions and labels are both
# constant and equal; negligible against label variances (~1e-2 for RECOLA ratings).
EPSILON = 1e-8


def _local(values):
    return values


def ccc_of_moments(mean_x, mean_y, var_x, var_y, cov, epsilon=EPSILON):
    """The CCC from population moments (tensors, per dimension): the one TensorFlow form,
    used by the loss and the streaming metric (``evaluation.scores.ccc_of_moments`` is its
    NumPy twin for reports).

    ``2 cov / (var_x + var_y + (mean_x - mean_y)^2 + epsilon)``; with ``epsilon=0``, 0
    where the denominator is 0 (both series constant and equal).
    """
    denominator = var_x + var_y + ops.square(mean_x - mean_y) + epsilon
    if epsilon:
        return 2.0 * cov / denominator
    safe = ops.where(denominator > 0.0, denominator, 1.0)
    return ops.where(denominator > 0.0, 2.0 * cov / safe, 0.0)


def concordance_correlation(y_true, y_pred, sample_weight=None, epsilon=EPSILON, all_reduce=None):
    """CCC per dimension over all leading axes.

    Args:
        y_true, y_pred: ``[..., D]`` (typically ``[batch, time, 2]``).
        sample_weight: optional ``[...]`` (e.g. ``[batch, time]``) non-negative weights.
        all_reduce: None, or a function summing a list of tensors over the replicas of a
            distributed batch (``e2e_emotion.training.distributed_loss``): the counts
            and sums are summed first (the global means), then the second moments about
            those means, so every replica gets the CCC of the whole batch.

    Returns:
        ``[D]`` CCC of each dimension.
    """
    reduce = all_reduce or _local
    y_true = ops.convert_to_tensor(y_true)
    y_pred = ops.convert_to_tensor(y_pred)
    dtype = y_pred.dtype
    y_true = ops.cast(y_true, dtype)
    dims = y_pred.shape[-1]
    x = ops.reshape(y_pred, (-1, dims))
    y = ops.reshape(y_true, (-1, dims))
    if sample_weight is None:
        w = ops.ones_like(x[:, :1])
    else:
        w = ops.reshape(ops.cast(sample_weight, dtype), (-1, 1))
    total, sum_x, sum_y = reduce([ops.sum(w), ops.sum(w * x, axis=0), ops.sum(w * y, axis=0)])
    total = ops.maximum(total, epsilon)
    mean_x, mean_y = sum_x / total, sum_y / total
    dx, dy = x - mean_x, y - mean_y
    sxx, syy, sxy = reduce(
        [ops.sum(w * dx * dx, axis=0), ops.sum(w * dy * dy, axis=0), ops.sum(w * dx * dy, axis=0)]
    )
    return ccc_of_moments(mean_x, mean_y, sxx / total, syy / total, sxy / total, epsilon)


@keras.saving.register_keras_serializable(package="e2e_emotion")
class CCCLoss(keras.losses.Loss):
    """``mean_d (1 - CCC_d)`` over all ``batch x time`` values of each dimension.

    ``sample_weight`` (``[batch, time]``) weights every moment, so a 0/1 mask removes
    padded frames exactly. Returns a scalar. Unlike per-example losses, CCC is not a
    mean over examples: under ``tf.distribute`` each replica computes it on its own
    share of the batch.
    """

    def __init__(self, epsilon=EPSILON, name="ccc_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.epsilon = epsilon

    def __call__(self, y_true, y_pred, sample_weight=None):
        ccc = concordance_correlation(y_true, y_pred, sample_weight, self.epsilon)
        return ops.mean(1.0 - ccc)

    def call(self, y_true, y_pred):
        return ops.mean(1.0 - concordance_correlation(y_true, y_pred, None, self.epsilon))

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


def ccc_loss(y_true, y_pred, sample_weight=None):
    """Functional form of ``CCCLoss``: a scalar ``mean_d (1 - CCC_d)``."""
    return ops.mean(1.0 - concordance_correlation(y_true, y_pred, sample_weight))
