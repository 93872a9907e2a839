"""Training-time camera conditions: mirroring, contrast and colour, lower resolution."""

import numpy as np
import pytest
import tensorflow as tf

from e2e_emotion.data import SequenceConfig, cameras, training_dataset


def seed(value):
    return tf.constant([11, value], tf.int64)


def frames(count=4, size=96):
    return tf.random.stateless_uniform([count, size, size, 3], [5, count], 0.2, 0.8)


def test_mirror_swaps_left_and_right():
    x = frames().numpy()
    mirrored = cameras.mirror(tf.constant(x)).numpy()
    np.testing.assert_array_equal(mirrored[:, :, 0], x[:, :, -1])
    np.testing.assert_array_equal(cameras.mirror(tf.constant(mirrored)).numpy(), x)


def test_one_contrast_and_colour_cast_for_the_whole_window():
    # Values that no factor of the ranges pushes out of [0, 1]: nothing is clipped.
    x = tf.random.stateless_uniform([4, 96, 96, 3], [5, 1], 0.3, 0.7).numpy()
    out = cameras.contrast_and_colour(tf.constant(x), seed(1)).numpy()
    assert out.shape == x.shape and out.min() >= 0.0 and out.max() <= 1.0
    slopes = []
    for channel in range(3):
        # One line per channel for every pixel of every frame: one camera for the window.
        slope, intercept = np.polyfit(x[..., channel].ravel(), out[..., channel].ravel(), 1)
        np.testing.assert_allclose(
            out[..., channel], slope * x[..., channel] + intercept, atol=1e-5
        )
        slopes.append(slope)
    low = cameras.CONTRAST_RANGE[0] * cameras.CHANNEL_GAIN_RANGE[0]
    high = cameras.CONTRAST_RANGE[1] * cameras.CHANNEL_GAIN_RANGE[1]
    assert all(low - 1e-4 <= slope <= high + 1e-4 for slope in slopes)
    assert max(slopes) / min(slopes) > 1.001  # a colour cast: the channels' gains differ
    draws = [cameras.contrast_and_colour(tf.constant(x), seed(v)).numpy() for v in range(4)]
    assert len({float(d.mean()) for d in draws}) == 4  # drawn, not one fixed cast


def test_lower_resolution_blurs_fine_detail_and_keeps_flat_areas():
    stripes = np.zeros([2, 96, 96, 3], np.float32)
    stripes[:, :, ::2] = 1.0  # one-pixel stripes: detail only a full-size face has
    flat = np.full([2, 96, 96, 3], 0.4, np.float32)
    for value in range(5):
        blurred = cameras.lower_resolution(tf.constant(stripes), seed(value)).numpy()
        assert blurred.shape == stripes.shape
        assert blurred.std() < 0.5 * stripes.std()
        np.testing.assert_allclose(
            cameras.lower_resolution(tf.constant(flat), seed(value)).numpy(), flat, atol=1e-5
        )
    # Crops no larger than the smallest face are left as they are.
    small = frames(size=cameras.SMALLEST_FACE)
    np.testing.assert_array_equal(cameras.lower_resolution(small, seed(0)).numpy(), small.numpy())


def test_apply_conditions_is_seeded_and_drawn_with_its_probability():
    x = frames()
    np.testing.assert_array_equal(cameras.apply_conditions(x, seed(0), 0.0).numpy(), x.numpy())
    first = cameras.apply_conditions(x, seed(3), 1.0).numpy()
    np.testing.assert_array_equal(first, cameras.apply_conditions(x, seed(3), 1.0).numpy())
    changed, mirrored = 0, 0
    for value in range(40):
        out = cameras.apply_conditions(x, seed(value), 0.5).numpy()
        if not np.array_equal(out, x.numpy()):
            changed += 1
            # A mirrored window correlates with the mirrored input more than with the input.
            flipped = cameras.mirror(x).numpy()
            mirrored += (
                np.corrcoef(out.ravel(), flipped.ravel())[0, 1]
                > np.corrcoef(out.ravel(), x.numpy().ravel())[0, 1]
            )
    assert 10 <= changed <= 30 and 0 < mirrored < changed


def test_camera_conditions_in_the_training_pipeline(small_records):
    base = SequenceConfig(sequence_length=10, batch_size=2, seed=1)
    other = SequenceConfig(sequence_length=10, batch_size=2, seed=1, camera_prob=1.0)
    clean = next(iter(training_dataset(small_records, "train", "visual", base)))[0]["video"]
    first = next(iter(training_dataset(small_records, "train", "visual", other)))[0]["video"]
    again = next(iter(training_dataset(small_records, "train", "visual", other)))[0]["video"]
    assert first.shape == clean.shape and np.isfinite(first.numpy()).all()
    assert not np.allclose(first.numpy(), clean.numpy(), atol=1e-3)
    np.testing.assert_array_equal(first.numpy(), again.numpy())  # seeded
    with pytest.raises(ValueError, match=r"camera_prob must be in \[0, 1\], received 1.5"):
        SequenceConfig(camera_prob=1.5)
