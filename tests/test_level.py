"""Recording-level audio normalisation: its formula, its state, and the model around it."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import lively

import e2e_emotion
from e2e_emotion.models import load_model
from e2e_emotion.models.inference import predict_recording
from e2e_emotion.models.level import LevelNormalization, level_after, level_states
from e2e_emotion.training import TrainingError
from e2e_emotion.training.trainer import _initialise_from

LEVEL = {"speech_preset": "reference", "lstm_units": 8, "level_norm_frames": 20}


def _speech(frames=60, seed=0):
    """``[frames, 640]`` noise whose level jumps by 20 dB a third of the way in."""
    rng = np.random.default_rng(seed)
    audio = rng.normal(0, 0.01, (frames, 640))
    audio[frames // 3 :] *= 10.0
    return audio.astype(np.float32)


def test_gain_follows_the_formula_and_converges_to_the_target():
    audio = _speech()
    prior, target_db = 20, -30.0
    got = LevelNormalization(prior, target_db)(audio[None], tf.zeros([1, 2])).numpy()[0]
    target = 10 ** (target_db / 10)
    power = np.mean(np.square(audio.astype(np.float64)), axis=-1)
    mean = (prior * target + np.cumsum(power)) / (prior + np.arange(1, len(audio) + 1))
    np.testing.assert_allclose(got, audio * np.sqrt(target / mean)[:, None], rtol=1e-5)
    # -40 dBFS noise is raised towards -30 dBFS as the prior's weight fades; the +20 dB
    # jump passes through at first (-19 dB), then the running mean catches up with it.
    out_db = 10 * np.log10(np.mean(np.square(got), axis=-1))
    for frame, expected_db in ((0, -39.8), (19, -37.4), (20, -18.9), (59, -27.2)):
        assert out_db[frame] == pytest.approx(expected_db, abs=0.5), frame


def test_state_carries_a_recording_across_sequences():
    audio = _speech()[None]
    layer = LevelNormalization(20, -30.0)
    whole = layer(audio, tf.zeros([1, 2])).numpy()
    state = level_after(tf.constant(audio[:, :25]), tf.zeros([1, 2]))
    np.testing.assert_allclose(state.numpy(), level_states(audio[0], [25]), rtol=1e-6)
    np.testing.assert_allclose(state.numpy()[0, 1], 25)
    rest = layer(audio[:, 25:], state).numpy()
    np.testing.assert_allclose(rest, whole[:, 25:], rtol=1e-5)
    # Without the state, the rest would be normalised as a recording's start: different.
    fresh = layer(audio[:, 25:], tf.zeros([1, 2])).numpy()
    assert np.max(np.abs(fresh - whole[:, 25:])) > 0.01


def test_model_reads_the_state_and_defaults_to_a_recording_start(tmp_path):
    model = lively(e2e_emotion.build_model("audio", **LEVEL))
    assert model.input_names == ["audio", "audio_level"]
    audio = _speech()[None]
    zeros = np.zeros((1, 2), np.float32)
    default = model({"audio": audio}, training=False).numpy()
    np.testing.assert_array_equal(default, model({"audio": audio, "audio_level": zeros}).numpy())
    # A recording split in two sequences: the second with the state = the whole.
    features = model.frame_features({"audio": audio}).numpy()
    second = {"audio": audio[:, 30:], "audio_level": level_states(audio[0], [30])}
    np.testing.assert_allclose(model.frame_features(second).numpy(), features[:, 30:], atol=1e-5)
    # Saved and loaded: the same normalisation.
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert loaded.get_config()["level_norm_frames"] == 20
    np.testing.assert_allclose(loaded({"audio": audio}).numpy(), default, atol=1e-6)
    # A model without the normalisation ignores the state the data pipeline gives it.
    plain = e2e_emotion.build_model("audio", speech_preset="reference", lstm_units=8)
    assert plain.input_names == ["audio"]
    assert plain({"audio": audio, "audio_level": zeros}).shape == (1, 60, 2)


def test_chunked_prediction_of_a_recording_carries_the_state():
    model = lively(e2e_emotion.build_model("audio", **LEVEL))
    audio = _speech(frames=50)
    whole = model({"audio": audio[None]}, training=False).numpy()[0]
    assert np.std(whole) > 0.05
    chunked = predict_recording(model, {"audio": audio}, chunk=7)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"level_norm_frames": -1}, "level_norm_frames` must be >= 0"),
        ({"level_norm_frames": True}, "level_norm_frames` must be an integer"),
        ({"level_norm_frames": 2.5}, "level_norm_frames` must be an integer"),
        ({"level_norm_frames": 10, "level_norm_db": 3.0}, "level_norm_db` must be a number"),
        ({"level_norm_frames": 10, "level_norm_db": "-30"}, "received '-30'"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        e2e_emotion.build_model("audio", speech_preset="reference", **kwargs)


def test_a_speech_network_is_not_reused_under_another_normalisation():
    source = e2e_emotion.build_model("audio", **LEVEL)
    other = e2e_emotion.build_model("audio", speech_preset="reference", lstm_units=8)
    with pytest.raises(TrainingError, match=r"level normalisation level_norm_frames=20, "):
        _initialise_from(other, source, "audio_model", "speech_network")
    with pytest.raises(TrainingError, match=r"audio_model: .* normalisation off, this model"):
        _initialise_from(source, other, "audio_model", "speech_network")
    same = e2e_emotion.build_model("audio", **LEVEL)
    _initialise_from(same, source, "audio_model", "speech_network")
    pairs = zip(source.speech_network.weights, same.speech_network.weights, strict=True)
    for theirs, ours in pairs:
        np.testing.assert_array_equal(theirs.numpy(), ours.numpy())
