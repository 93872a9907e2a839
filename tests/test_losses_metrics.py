"""CCC loss and streaming CCC metric against a float64 NumPy reference."""

import numpy as np
import pytest
import tensorflow as tf

from e2e_emotion.losses import CCCLoss, ccc_loss, concordance_correlation
from e2e_emotion.metrics import ConcordanceCorrelation


def numpy_ccc(y_true, y_pred, weights=None):
    """Float64 two-pass reference: CCC per last-axis dimension over all other axes."""
    x = np.asarray(y_pred, np.float64).reshape(-1, np.shape(y_pred)[-1])
    y = np.asarray(y_true, np.float64).reshape(-1, np.shape(y_true)[-1])
    if weights is not None:
        keep = np.asarray(weights).reshape(-1) > 0
        x, y = x[keep], y[keep]
    mx, my = x.mean(0), y.mean(0)
    cov = ((x - mx) * (y - my)).mean(0)
    return 2 * cov / (x.var(0) + y.var(0) + (mx - my) ** 2)


def random_pair(seed, shape=(3, 50, 2), offset=0.0):
    rng = np.random.default_rng(seed)
    y_true = rng.normal(offset, 0.5, shape)
    y_pred = 0.6 * y_true + rng.normal(0.1, 0.4, shape)
    return y_true.astype("float32"), y_pred.astype("float32")


def test_loss_equals_numpy_reference():
    for seed in range(4):
        y_true, y_pred = random_pair(seed)
        expected = np.mean(1 - numpy_ccc(y_true, y_pred))
        np.testing.assert_allclose(float(CCCLoss()(y_true, y_pred)), expected, rtol=1e-5)
        np.testing.assert_allclose(float(ccc_loss(y_true, y_pred)), expected, rtol=1e-5)
    # Arousal and valence are scored separately, not pooled together.
    y_true, y_pred = random_pair(9)
    per_dimension = concordance_correlation(y_true, y_pred).numpy()
    np.testing.assert_allclose(per_dimension, numpy_ccc(y_true, y_pred), rtol=1e-5)
    assert per_dimension.shape == (2,)


def test_loss_mask_removes_padded_frames():
    y_true, y_pred = random_pair(1, (2, 40, 2))
    mask = np.ones((2, 40), "float32")
    mask[1, 25:] = 0
    padded_pred = y_pred.copy()
    padded_pred[1, 25:] = 1e3  # garbage in padded frames must not matter
    got = float(CCCLoss()(y_true, padded_pred, sample_weight=mask))
    np.testing.assert_allclose(got, np.mean(1 - numpy_ccc(y_true, y_pred, mask)), rtol=1e-5)


@pytest.mark.parametrize("case", ["both_constant_equal", "pred_constant", "true_constant"])
def test_loss_finite_with_finite_gradients_on_constant_batches(case):
    y_true, y_pred = random_pair(2)
    if case in ("both_constant_equal", "true_constant"):
        y_true = np.full_like(y_true, 0.3)
    if case in ("both_constant_equal", "pred_constant"):
        y_pred = np.full_like(y_pred, 0.3)
    pred = tf.Variable(y_pred)
    with tf.GradientTape() as tape:
        loss = ccc_loss(y_true, pred)
    grad = tape.gradient(loss, pred)
    assert np.isfinite(float(loss))
    assert np.all(np.isfinite(grad.numpy()))
    np.testing.assert_allclose(float(loss), 1.0, atol=1e-3)  # CCC ~ 0 without variance


def test_perfect_prediction_gives_zero_loss():
    y_true, _ = random_pair(3)
    np.testing.assert_allclose(float(ccc_loss(y_true, y_true)), 0.0, atol=1e-6)
    np.testing.assert_allclose(float(ccc_loss(y_true, -y_true + 0.0)), 2.0, atol=1e-2)


def test_metric_is_exact_over_several_batches_not_a_batch_mean():
    metric = ConcordanceCorrelation()
    batches = [random_pair(seed, (2, 30 + 7 * seed, 2)) for seed in range(5)]
    batch_means = []
    for y_true, y_pred in batches:
        metric.update_state(y_true, y_pred)
        batch_means.append(numpy_ccc(y_true, y_pred))
    all_true = np.concatenate([b[0].reshape(-1, 2) for b in batches])
    all_pred = np.concatenate([b[1].reshape(-1, 2) for b in batches])
    expected = numpy_ccc(all_true, all_pred)
    result = metric.result()
    assert sorted(result) == ["ccc_arousal", "ccc_valence"]
    got = np.array([float(result["ccc_arousal"]), float(result["ccc_valence"])])
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert not np.allclose(got, np.mean(batch_means, axis=0), rtol=1e-3)
    metric.reset_state()
    np.testing.assert_array_equal(metric.ccc().numpy(), [0.0, 0.0])


def test_metric_with_mask():
    y_true, y_pred = random_pair(4, (2, 40, 2))
    mask = (np.arange(40) < 31).astype("float32")[None].repeat(2, 0)
    metric = ConcordanceCorrelation()
    metric.update_state(y_true, y_pred, sample_weight=mask)
    np.testing.assert_allclose(metric.ccc().numpy(), numpy_ccc(y_true, y_pred, mask), rtol=1e-6)


def test_metric_stable_for_millions_of_values_far_from_zero():
    """2 million frames around 1000 with unit-scale variation: float64 sums keep 1e-7."""
    metric = ConcordanceCorrelation()
    rng = np.random.default_rng(7)
    all_true, all_pred = [], []
    for _ in range(20):
        y_true = (1000.0 + rng.normal(0, 0.2, (100, 1000, 2))).astype("float32")
        y_pred = (y_true + rng.normal(0.05, 0.2, y_true.shape)).astype("float32")
        metric.update_state(y_true, y_pred)
        all_true.append(y_true.reshape(-1, 2))
        all_pred.append(y_pred.reshape(-1, 2))
    expected = numpy_ccc(np.concatenate(all_true), np.concatenate(all_pred))
    assert 0.3 < expected.min() < expected.max() < 0.7
    np.testing.assert_allclose(metric.ccc().numpy(), expected, rtol=1e-7)
    assert float(metric.count.numpy()) == 2_000_000


def test_metric_wrong_dimensions_named():
    with pytest.raises(ValueError, match="3 dimensions, expected 2"):
        ConcordanceCorrelation().update_state(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)))


def test_loss_and_metric_under_mirrored_strategy_with_two_cpus():
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices[:2]])
    assert strategy.num_replicas_in_sync == 2
    y_true, y_pred = random_pair(11, (8, 25, 2))
    with strategy.scope():
        metric = ConcordanceCorrelation()
    dataset = tf.data.Dataset.from_tensor_slices((y_true, y_pred)).batch(4)
    distributed = strategy.experimental_distribute_dataset(dataset)

    @tf.function
    def step(batch):
        def replica_fn(true, pred):
            metric.update_state(true, pred)
            return ccc_loss(true, pred)

        return strategy.run(replica_fn, args=batch)

    replica_losses = []
    for batch in distributed:
        replica_losses.extend(strategy.experimental_local_results(step(batch)))
    # Each replica's loss is the CCC loss of its own 2-sequence share of the batch.
    shares = [(y_true[i : i + 2], y_pred[i : i + 2]) for i in range(0, 8, 2)]
    expected_losses = [np.mean(1 - numpy_ccc(t, p)) for t, p in shares]
    np.testing.assert_allclose([float(v) for v in replica_losses], expected_losses, rtol=1e-5)
    # The metric's states are summed across replicas: exact CCC over all 8 sequences.
    np.testing.assert_allclose(metric.ccc().numpy(), numpy_ccc(y_true, y_pred), rtol=1e-6)
