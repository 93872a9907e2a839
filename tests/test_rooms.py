"""Training-time recording conditions: generated rooms, band limits, backgrounds."""

import numpy as np
import pytest
import tensorflow as tf

from e2e_emotion.data import SequenceConfig, rooms, training_dataset

RATE = 16000


def seed(value):
    return tf.constant([7, value], tf.int64)


def test_room_impulse_response_decays_by_60_db_in_its_rt60():
    response = rooms.room_impulse_response(seed(1), rt60=0.4, ratio_db=0.0).numpy()
    assert response.shape == (int(0.8 * RATE),) and response[0] == 1.0
    np.testing.assert_allclose((response[1:] ** 2).sum(), 1.0, rtol=1e-4)  # 0 dB against 1
    # Schroeder backward integration: the level falls 60 dB at the reverberation time.
    decay = np.cumsum((response[1:] ** 2)[::-1])[::-1]
    level = 10 * np.log10(decay / decay[0])
    t20 = np.argmax(level < -20) / RATE  # fit the first 20 dB, as T20 is measured
    assert 0.4 * 0.85 < 3 * t20 < 0.4 * 1.15


def test_reverberation_is_causal_and_keeps_the_level():
    x = np.zeros(24000, np.float32)
    x[5000] = 1.0
    wet = rooms.reverberate(tf.constant(x), seed(2)).numpy()
    # Nothing before the sound (FFT rounding aside).
    assert np.abs(wet[:5000]).max() < 1e-6 * np.abs(wet).max() and wet[5000] > 0
    assert wet[5000:].std() > 0 and np.isfinite(wet).all()
    speech = np.random.default_rng(0).normal(size=24000).astype(np.float32) * 0.1
    out = rooms.reverberate(tf.constant(speech), seed(3)).numpy()
    np.testing.assert_allclose(np.sqrt((out**2).mean()), np.sqrt((speech**2).mean()), rtol=1e-3)


def test_band_limit_removes_what_a_low_rate_source_cannot_hold():
    times = np.arange(16000) / RATE
    high = np.sin(2 * np.pi * 7900 * times).astype(np.float32)
    low = np.sin(2 * np.pi * 1000 * times).astype(np.float32)
    for value in range(5):
        cut = rooms.band_limit(tf.constant(high), seed(value)).numpy()
        kept = rooms.band_limit(tf.constant(low), seed(value)).numpy()
        assert 20 * np.log10(np.std(cut[1000:-1000]) / np.std(high)) < -3.0
        np.testing.assert_allclose(np.std(kept[1000:-1000]), np.std(low), rtol=0.02)


def test_background_snr_and_hum():
    speech = np.random.default_rng(1).normal(size=32000).astype(np.float32) * 0.05
    ratios = []
    for value in range(20):
        noisy = rooms.add_background(tf.constant(speech), seed(value)).numpy()
        residual = noisy - speech
        ratios.append(10 * np.log10((speech**2).mean() / (residual**2).mean()))
    assert min(ratios) >= 5.0 - 0.01 and max(ratios) <= 30.0 + 0.01
    assert max(ratios) - min(ratios) > 10  # drawn over the range, not one value
    hums = []
    for value in range(30):
        noise = rooms.background(32000, seed(value)).numpy()
        np.testing.assert_allclose(np.sqrt((noise**2).mean()), 1.0, rtol=1e-3)
        spectrum = np.abs(np.fft.rfft(noise))
        mains = max(spectrum[100], spectrum[120])  # 50 and 60 Hz bins at 0.5 Hz per bin
        hums.append(mains > 20 * np.median(spectrum[80:140]))
    assert 0.1 < np.mean(hums) < 0.6  # HUM_SHARE of the draws


def test_conditions_in_the_training_pipeline(small_records):
    base = SequenceConfig(sequence_length=10, batch_size=2, seed=1)
    hard = SequenceConfig(
        sequence_length=10,
        batch_size=2,
        seed=1,
        reverb_prob=1.0,
        band_limit_prob=1.0,
        noise_prob=1.0,
    )
    clean = next(iter(training_dataset(small_records, "train", "audio", base)))[0]["audio"]
    first = next(iter(training_dataset(small_records, "train", "audio", hard)))[0]["audio"]
    again = next(iter(training_dataset(small_records, "train", "audio", hard)))[0]["audio"]
    assert first.shape == clean.shape and np.isfinite(first.numpy()).all()
    assert not np.allclose(first.numpy(), clean.numpy(), atol=1e-3)
    np.testing.assert_array_equal(first.numpy(), again.numpy())  # seeded
    with pytest.raises(ValueError, match=r"noise_prob must be in \[0, 1\], received 1.5"):
        SequenceConfig(noise_prob=1.5)
