"""The CCC loss over the GLOBAL batch when the batch is split across replicas.

CCC is not a mean of per-example terms, so the mean of per-replica CCC losses is not the
CCC loss of the whole batch. Inside ``strategy.run`` the moments are therefore summed
across replicas (``ReplicaContext.all_reduce``, which is differentiable): first the
weighted counts and sums (global means), then the centred second moments about those
means (numerically stable). Every replica then holds the same, exact, global loss.

Gradients: the gradient of an all-reduced sum is itself all-reduced, so each replica's
gradient of the global loss is ``num_replicas`` times its share; dividing the loss by
``num_replicas`` before differentiating, and letting the optimizer sum gradients across
replicas, gives exactly the single-device gradient of the same global batch.
"""

from __future__ import annotations

import tensorflow as tf

from e2e_emotion.losses import EPSILON, concordance_correlation


def _all_reduce_sum(values):
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.SUM, values)


def global_ccc(y_true, y_pred, weights=None, epsilon=EPSILON):
    """``[D]`` CCC of each dimension over the batch of ALL replicas (replica context).

    Args:
        y_true, y_pred: ``[batch, time, D]`` (this replica's share).
        weights: optional ``[batch, time]`` (0 for padded frames).
    """
    y_pred = tf.cast(y_pred, tf.float32)
    y_true = tf.cast(y_true, tf.float32)
    return concordance_correlation(y_true, y_pred, weights, epsilon, all_reduce=_all_reduce_sum)


def global_ccc_loss(y_true, y_pred, weights=None):
    """Scalar ``mean_d (1 - CCC_d)`` over the global batch (same value on every replica)."""
    return tf.reduce_mean(1.0 - global_ccc(y_true, y_pred, weights))
