"""FFT convolution equals direct convolution: values, gradients, boundaries, the flag."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY, make_inputs

import e2e_emotion
from e2e_emotion.models import LongConv1D, SpeechNetwork
from e2e_emotion.models.long_conv import fft_conv1d_same


@pytest.mark.parametrize(
    ("length", "kernel"),
    [(37, 9), (100, 100), (64, 251), (1001, 400), (50, 4000), (2560, 4000)],
)
def test_fft_equals_direct_values_and_gradients(length, kernel):
    rng = np.random.default_rng(length + kernel)
    x = tf.Variable(rng.normal(size=(2, length, 3)).astype("float32"))
    w = tf.Variable(rng.normal(size=(kernel, 3, 4)).astype("float32"))
    probe = tf.constant(rng.normal(size=(2, length, 4)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        direct = tf.nn.conv1d(x, w, 1, "SAME")
        fast = fft_conv1d_same(x, w)
        direct_loss = tf.reduce_sum(direct * probe)
        fast_loss = tf.reduce_sum(fast * probe)
    scale = np.abs(direct.numpy()).max()
    assert fast.shape == direct.shape
    # 1e-4 relative to the output scale, boundaries (first/last K/2 samples) included.
    np.testing.assert_allclose(fast.numpy(), direct.numpy(), atol=1e-4 * scale)
    edge = min(kernel // 2, length)
    np.testing.assert_allclose(fast[:, :edge], direct[:, :edge], atol=1e-4 * scale)
    np.testing.assert_allclose(fast[:, -edge:], direct[:, -edge:], atol=1e-4 * scale)
    for variable in (x, w):
        expected = tape.gradient(direct_loss, variable).numpy()
        got = tape.gradient(fast_loss, variable).numpy()
        np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())


def test_layer_methods_share_weights_and_config():
    fft = LongConv1D(5, 300, activation="relu", method="fft")
    direct = LongConv1D(5, 300, activation="relu", method="direct")
    x = np.random.default_rng(0).normal(size=(1, 777, 2)).astype("float32")
    fft(x)
    direct(x)
    direct.set_weights(fft.get_weights())
    np.testing.assert_allclose(fft(x), direct(x), atol=1e-4 * np.abs(direct(x)).max())
    clone = LongConv1D.from_config(fft.get_config())
    assert clone.get_config() == fft.get_config()
    with pytest.raises(ValueError, match="Unknown convolution method 'winograd'"):
        LongConv1D(5, 300, method="winograd")


def _ops(function, *args):
    graph = tf.function(function).get_concrete_function(*args).graph
    return {op.type for op in graph.get_operations()}


def test_paper_preset_selects_fft_by_flag_and_matches_direct():
    waveform = make_inputs("audio", batch=1, time=4, seed=2)["audio"]
    kwargs = {"preset": "paper", "input_dropout": 0.0}
    auto = SpeechNetwork(**kwargs)
    direct = SpeechNetwork(conv2_method="direct", **kwargs)
    assert auto.get_layer("speech_conv2").method == "fft"  # 4000 taps: FFT by default
    assert direct.get_layer("speech_conv2").method == "direct"
    assert SpeechNetwork(conv2_kernel=50, **kwargs).get_layer("speech_conv2").method == "direct"
    direct.set_weights(auto.get_weights())
    spec = tf.TensorSpec(waveform.shape, tf.float32)
    assert "RFFT" in _ops(lambda x: auto(x), spec)
    assert "RFFT" not in _ops(lambda x: direct(x), spec)
    a, b = auto(waveform).numpy(), direct(waveform).numpy()
    np.testing.assert_allclose(a, b, atol=1e-4 * np.abs(b).max())
    with pytest.raises(ValueError, match="Unknown conv2_method 'fast'"):
        SpeechNetwork(conv2_method="fast", **kwargs)


def test_fft_model_saves_and_reloads(tmp_path):
    model = e2e_emotion.build_model(
        "audio", speech_preset="paper", conv2_kernel=300, conv2_method="fft", **TINY
    )
    inputs = make_inputs(model, batch=1, time=3)
    path = str(tmp_path / "fft.keras")
    model.save(path)
    reloaded = e2e_emotion.load_model(path)
    assert reloaded.get_config()["conv2_method"] == "fft"
    np.testing.assert_array_equal(reloaded(inputs).numpy(), model(inputs).numpy())
