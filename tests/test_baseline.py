"""Handcrafted-feature baseline: feature values and end-to-end fits on synthetic data."""

import numpy as np
import pytest

from e2e_emotion.evaluation import (
    HandcraftedBaseline,
    acoustic_feature_names,
    acoustic_features,
    add_context,
    ccc,
    visual_feature_names,
    visual_features,
)

SR = 16000
FRAME = 640


def harmonic_tone(f0, seconds, amplitude=0.3, harmonics=6):
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * f0 * h * t + h) / h for h in range(1, harmonics + 1))
    return (amplitude * tone / np.abs(tone).max()).astype(np.float32)


def frames_of(signal):
    return signal[: len(signal) // FRAME * FRAME].reshape(-1, FRAME)


def smooth(frames, seed):
    """A smooth curve in about [-0.5, 0.5] (slow sinusoids, 25 frames per second)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 25.0
    curve = sum(
        rng.uniform(0.3, 1) * np.sin(2 * np.pi * t / rng.uniform(3, 12) + rng.uniform(0, 6))
        for _ in range(3)
    )
    return 0.5 * curve / np.abs(curve).max()


COLUMN = {name: index for index, name in enumerate(acoustic_feature_names())}


def test_acoustic_features_shape_names_and_finite():
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, (30, FRAME)).astype(np.float32)
    audio[5] = 0.0  # a silent frame must not give NaN or inf
    features = acoustic_features(audio)
    assert features.shape == (30, len(acoustic_feature_names())) == (30, 16)
    assert np.all(np.isfinite(features))
    assert features[5, COLUMN["voicing"]] == 0.0 and features[5, COLUMN["f0"]] == 0.0
    with_context = acoustic_features(audio, context=3)
    assert with_context.shape == (30, 48)
    np.testing.assert_allclose(with_context[:, :16], features)
    with pytest.raises(ValueError, match=r"expected shape \[frames, samples\], got \(640,\)"):
        acoustic_features(audio[0])
    with pytest.raises(ValueError, match="float waveform, got dtype int16"):
        acoustic_features(np.zeros((2, FRAME), np.int16))


def test_zero_crossing_rate_and_spectrum_order_tone_below_noise():
    tone = frames_of(harmonic_tone(200, 1.0, harmonics=1))
    noise = np.random.default_rng(1).normal(0, 0.3, tone.shape).astype(np.float32)
    t_feat, n_feat = acoustic_features(tone), acoustic_features(noise)
    # A 200 Hz sine crosses zero 400 times a second: 0.025 per sample.
    assert t_feat[:, COLUMN["zero_crossing_rate"]].mean() == pytest.approx(0.025, abs=0.003)
    assert n_feat[:, COLUMN["zero_crossing_rate"]].mean() == pytest.approx(0.5, abs=0.05)
    for name in ("spectral_centroid", "spectral_flatness", "spectral_rolloff_85"):
        assert t_feat[:, COLUMN[name]].max() < n_feat[:, COLUMN[name]].min(), name
    assert t_feat[:, COLUMN["voicing"]].min() > 0.95 > 0.5 > n_feat[:, COLUMN["voicing"]].max()
    # 0.3-amplitude sine: mean power 0.045.
    assert np.exp(t_feat[:, COLUMN["log_energy"]]).mean() == pytest.approx(0.045, rel=0.02)


@pytest.mark.parametrize("f0", [75.0, 150.0, 333.0])
def test_pitch_of_harmonic_tone(f0):
    features = acoustic_features(frames_of(harmonic_tone(f0, 0.6)))
    np.testing.assert_allclose(features[:, COLUMN["f0"]], f0, atol=5.0 if f0 == 150 else 0.02 * f0)
    assert features[:, COLUMN["voicing"]].min() > 0.95


def test_add_context_matches_a_direct_window_computation():
    rng = np.random.default_rng(2)
    features = rng.normal(100.0, 3.0, (20, 4))  # offset far from 0: no cancellation
    out = add_context(features, 2)
    for t in (0, 1, 10, 19):
        window = features[max(t - 2, 0) : t + 3]
        np.testing.assert_allclose(out[t, 4:8], window.mean(0), rtol=1e-12)
        np.testing.assert_allclose(out[t, 8:], window.std(0), rtol=1e-9)
    assert add_context(features, 0) is not None and add_context(features, 0).shape == (20, 4)
    with pytest.raises(ValueError, match="context must be an integer >= 0.*-1"):
        add_context(features, -1)


def test_visual_features_values():
    frames = np.zeros((3, 96, 96, 3), np.uint8)
    frames[0] = 255
    frames[1, :, :, 0] = 255  # pure red
    frames[2, 64:84, 32:64] = 200  # a bright patch inside the mouth region only
    features = visual_features(frames)
    names = visual_feature_names()
    assert features.shape == (3, len(names)) == (3, 74)
    col = {name: index for index, name in enumerate(names)}
    np.testing.assert_allclose(features[0, col["mean_r"]], 1.0)
    np.testing.assert_allclose(features[1, [col["mean_r"], col["mean_g"], col["std_r"]]], [1, 0, 0])
    np.testing.assert_allclose(features[1, col["thumbnail_3_3"]], 0.299, rtol=1e-6)
    assert features[2, col["mouth_brightness"]] > 0.2 and features[2, col["eyes_brightness"]] == 0
    assert features[2, col["mouth_gradient_x"]] > 0 and features[0, col["mouth_gradient_x"]] == 0
    as_float = visual_features(frames.astype(np.float32) / 255.0)
    np.testing.assert_allclose(as_float, features, atol=1e-6)
    assert visual_features(frames, context=2).shape == (3, 222)
    with pytest.raises(
        ValueError, match=r"float images must be in \[0, 1\], got values in \[0.0, 255.0\]"
    ):
        visual_features(frames.astype(np.float32))
    with pytest.raises(ValueError, match=r"expected shape \[frames, H, W, 3\]"):
        visual_features(frames[..., :1])


def audio_recording(seed, frames=250):
    """Loudness follows arousal (log amplitude linear in it), pitch follows valence."""
    arousal, valence = smooth(frames, seed), smooth(frames, seed + 1000)
    per_sample = np.repeat(np.arange(frames), FRAME)
    amplitude = 0.05 * np.exp(2.5 * arousal)[per_sample]
    f0 = (150.0 + 80.0 * valence)[per_sample]
    phase = 2 * np.pi * np.cumsum(f0) / SR
    tone = sum(np.sin(h * phase) / h for h in range(1, 5))
    noise = np.random.default_rng(seed).normal(0, 0.01, tone.shape)
    audio = (amplitude * tone + noise).astype(np.float32).reshape(frames, FRAME)
    return {"audio": audio, "video": None, "labels": np.stack([arousal, valence], 1)}


def video_recording(seed, frames=120):
    """Brightness of a textured face-like image follows valence."""
    rng = np.random.default_rng(seed)
    arousal, valence = smooth(frames, seed), smooth(frames, seed + 1000)
    texture = rng.uniform(0.1, 0.3, (1, 96, 96, 3))
    brightness = (0.4 + 0.5 * valence)[:, None, None, None]
    images = np.clip(texture + brightness + rng.normal(0, 0.1, (frames, 96, 96, 3)), 0, 1)
    return {
        "audio": None,
        "video": (images * 255).astype(np.uint8),
        "labels": np.stack([arousal, valence], 1),
    }


def test_audio_baseline_learns_loudness_to_arousal(tmp_path):
    train = {f"train_{i}": audio_recording(i) for i in range(4)}
    test = {f"test_{i}": audio_recording(100 + i) for i in range(2)}
    model = HandcraftedBaseline("audio", alpha=1.0, context=5).fit(train)
    predictions = model.predict(test)
    truth = np.concatenate([test[r]["labels"] for r in test])
    pred = np.concatenate([predictions[r] for r in test])
    assert pred.shape == truth.shape
    assert ccc(pred[:, 0], truth[:, 0]) > 0.8
    assert ccc(pred[:, 1], truth[:, 1]) > 0.5  # pitch carries valence

    path = model.save(tmp_path / "models" / "audio.joblib")
    again = HandcraftedBaseline.load(path)
    assert again.get_config() == model.get_config()
    for rid in test:
        np.testing.assert_array_equal(again.predict(test)[rid], predictions[rid])


def test_visual_and_multimodal_baselines():
    train = {f"train_{i}": video_recording(i) for i in range(3)}
    test = {"test_0": video_recording(50)}
    model = HandcraftedBaseline("visual", alpha=[0.1, 1.0, 10.0], context=2).fit(train)
    pred = model.predict(test)["test_0"]
    assert ccc(pred[:, 1], test["test_0"]["labels"][:, 1]) > 0.8

    def both(seed):
        audio, video = audio_recording(seed, 120), video_recording(seed, 120)
        return {
            "audio": audio["audio"],
            "video": video["video"],
            "labels": np.stack([audio["labels"][:, 0], video["labels"][:, 1]], 1),
        }

    multimodal = HandcraftedBaseline("multimodal", context=2).fit(
        {f"t{i}": both(i) for i in (1, 2)}
    )
    entry = both(7)
    pred = multimodal.predict({"x": entry})["x"]
    assert ccc(pred[:, 0], entry["labels"][:, 0]) > 0.7
    assert ccc(pred[:, 1], entry["labels"][:, 1]) > 0.7


def test_baseline_errors_name_the_recording():
    entry = audio_recording(0, 40)
    with pytest.raises(ValueError, match="modality must be one of"):
        HandcraftedBaseline("speech")
    with pytest.raises(ValueError, match="alpha must be > 0"):
        HandcraftedBaseline(alpha=0)
    with pytest.raises(ValueError, match=r"recording 'r1': labels must have shape \[40, 2\]"):
        HandcraftedBaseline().fit({"r1": {**entry, "labels": entry["labels"][:30]}})
    with pytest.raises(ValueError, match="recording 'r2': the visual baseline needs 'video'"):
        HandcraftedBaseline("visual").fit({"r2": entry})
    no_audio = {"video": np.zeros((40, 96, 96, 3), np.uint8), "labels": entry["labels"]}
    with pytest.raises(ValueError, match=r"'r4': the multimodal baseline needs 'audio' \[n, 640\]"):
        HandcraftedBaseline("multimodal").fit({"r4": no_audio})
    with pytest.raises(ValueError, match="recording 'r3': audio has 40 frames but video 10"):
        HandcraftedBaseline("multimodal").fit(
            {"r3": {**entry, "video": np.zeros((10, 96, 96, 3), np.uint8)}}
        )
    with pytest.raises(RuntimeError, match="before fit"):
        HandcraftedBaseline().predict({"r": entry})
