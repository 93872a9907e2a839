"""Streaming concordance correlation coefficient (CCC) metric.

The paper scores a whole evaluation split with one CCC per dimension, computed over
every frame (never a mean of per-batch CCCs). ``ConcordanceCorrelation`` accumulates
sufficient statistics per dimension, so its value after any number of updates is the
exact CCC of everything seen.

Every statistic is a plain sum, hence additive: under ``tf.distribute`` each replica
keeps its own and Keras sums them on read (``synchronization=ON_READ,
aggregation=SUM``). For numerical stability with millions of values and labels offset
far from zero, each batch's second moments are taken about the batch mean (in
float64) and summed separately from the batch means' own contribution
``n_b * mean_b^2``: the final ``sum x^2 / n - mean^2`` cancellation then involves one
term per batch instead of one per value (Chan et al.'s pairwise update, written as
sums so replicas can be added).
"""

from __future__ import annotations

import keras
from keras import ops

from e2e_emotion.losses import ccc_of_moments
from e2e_emotion.models import LABEL_NAMES


@keras.saving.register_keras_serializable(package="e2e_emotion")
class ConcordanceCorrelation(keras.metrics.Metric):
    """Exact CCC of all values seen so far, per output dimension.

    Args:
        dimension_names: names of the last-axis dimensions (arousal, valence).
        name: metric name; ``result()`` returns ``{f"{name}_{dimension}": CCC}``.

    ``update_state(y_true, y_pred, sample_weight=None)`` takes ``[..., D]`` tensors and
    optional ``[...]`` weights (a 0/1 mask for padded frames).
    """

    def __init__(self, dimension_names=LABEL_NAMES, name="ccc", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.dimension_names = tuple(dimension_names)
        dims = len(self.dimension_names)
        if dims == 0:
            raise ValueError("`dimension_names` must name at least one dimension.")

        def state(state_name, shape):
            return self.add_variable(
                shape=shape, initializer="zeros", dtype="float64", name=state_name
            )

        # n; sum of values; within-batch centred moments; batch means' moments.
        self.count = state("count", ())
        self.sum_pred = state("sum_pred", (dims,))
        self.sum_true = state("sum_true", (dims,))
        self.within_pred = state("within_pred", (dims,))
        self.within_true = state("within_true", (dims,))
        self.within_cross = state("within_cross", (dims,))
        self.between_pred = state("between_pred", (dims,))
        self.between_true = state("between_true", (dims,))
        self.between_cross = state("between_cross", (dims,))

    def update_state(self, y_true, y_pred, sample_weight=None):
        dims = len(self.dimension_names)
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != dims:
            raise ValueError(
                f"{self.name}: predictions have {y_pred.shape[-1]} dimensions, expected "
                f"{dims} ({', '.join(self.dimension_names)})."
            )
        x = ops.reshape(ops.cast(y_pred, "float64"), (-1, dims))
        y = ops.reshape(ops.cast(y_true, "float64"), (-1, dims))
        if sample_weight is None:
            w = ops.ones_like(x[:, :1])
        else:
            w = ops.reshape(ops.cast(sample_weight, "float64"), (-1, 1))
        n = ops.sum(w)
        sum_x, sum_y = ops.sum(w * x, axis=0), ops.sum(w * y, axis=0)
        safe_n = ops.maximum(n, 1e-300)
        mean_x, mean_y = sum_x / safe_n, sum_y / safe_n
        dx, dy = x - mean_x, y - mean_y
        self.count.assign_add(n)
        self.sum_pred.assign_add(sum_x)
        self.sum_true.assign_add(sum_y)
        self.within_pred.assign_add(ops.sum(w * dx * dx, axis=0))
        self.within_true.assign_add(ops.sum(w * dy * dy, axis=0))
        self.within_cross.assign_add(ops.sum(w * dx * dy, axis=0))
        self.between_pred.assign_add(n * mean_x * mean_x)
        self.between_true.assign_add(n * mean_y * mean_y)
        self.between_cross.assign_add(n * mean_x * mean_y)

    def ccc(self):
        """``[D]`` float64 tensor: the CCC of every dimension (0 before any update)."""
        n = ops.maximum(self.count, 1e-300)
        mean_x, mean_y = self.sum_pred / n, self.sum_true / n
        # Population moments: within-batch part + spread of the batch means.
        var_x = ops.maximum(self.within_pred + self.between_pred - n * mean_x * mean_x, 0.0) / n
        var_y = ops.maximum(self.within_true + self.between_true - n * mean_y * mean_y, 0.0) / n
        cov = (self.within_cross + self.between_cross - n * mean_x * mean_y) / n
        return ccc_of_moments(mean_x, mean_y, var_x, var_y, cov, epsilon=0.0)

    def result(self):
        values = ops.cast(self.ccc(), self.dtype)
        return {
            f"{self.name}_{dimension}": values[index]
            for index, dimension in enumerate(self.dimension_names)
        }

    def get_config(self):
        return {**super().get_config(), "dimension_names": list(self.dimension_names)}
