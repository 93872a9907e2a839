"""Blocked FFT and direct convolutions equal one convolution: values, gradients, edges, flag."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY, make_inputs

import e2e_emotion
from e2e_emotion.models import LongConv1D, SpeechNetwork, long_conv
from e2e_emotion.models.long_conv import (
    MAX_DIRECT_TAPS,
    MAX_DIRECT_WEIGHTS,
    block_fft_length,
    block_length,
    direct_block_length,
    direct_conv1d_same,
    fft_conv1d_same,
    tap_ranges,
)


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


def test_block_sizes():
    assert block_fft_length(4000) == 8192 and block_length(4000) == 4193
    assert block_fft_length(4096) == 8192 and block_length(4096) == 4097
    assert block_fft_length(4097) == 16384
    assert block_fft_length(1) == 64 and block_length(1) == 64
    for kernel in (1, 2, 9, 31, 32, 33, 300, 4000):
        size = block_fft_length(kernel)
        assert size & (size - 1) == 0 and size >= 2 * kernel - 1
        assert block_length(kernel) >= kernel
    with pytest.raises(ValueError, match="kernel_size"):
        block_fft_length(0)


# Kernel 400 has FFT blocks of 625 outputs (and direct blocks of 625 with the im2col limit
# set to 625 x 400 x 3 below): lengths around 1, 2 and 3 blocks, shorter than the kernel,
# and 1-/2-tap kernels (no or one overlap sample). Kernel 4000: 8 tap ranges of 500.
SMALL_IM2COL = 625 * 400 * 3
BLOCK_CASES = [(1, 400), (399, 400), (624, 400), (625, 400), (626, 400)]
BLOCK_CASES += [(1250, 400), (1251, 400), (1874, 400), (200, 1), (129, 2), (4193 * 2 + 7, 4000)]


@pytest.mark.parametrize(("length", "kernel"), BLOCK_CASES)
@pytest.mark.parametrize("method", ["fft", "direct"])
def test_blocks_equal_one_convolution(monkeypatch, method, length, kernel):
    """Both blocked methods against ``tf.nn.conv1d`` over the whole sequence, with the
    sequence length static and dynamic (as in the Keras models, time axis None)."""
    monkeypatch.setattr(long_conv, "MAX_DIRECT_IM2COL", SMALL_IM2COL)
    _check_blocked({"fft": fft_conv1d_same, "direct": direct_conv1d_same}[method], length, kernel)


def _check_blocked(blocked, length, kernel):
    rng = np.random.default_rng(length * 7 + kernel)
    x = tf.constant(rng.normal(size=(2, length, 3)).astype("float32"))
    w = tf.constant(rng.normal(size=(kernel, 3, 2)).astype("float32"))
    probe = tf.constant(rng.normal(size=(2, length, 2)).astype("float32"))
    whole = tf.nn.conv1d(x, w, 1, "SAME").numpy()
    scale = np.abs(whole).max()

    def loss_and_grads(x, w):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            loss = tf.reduce_sum(blocked(x, w) * probe)
        return blocked(x, w), tape.gradient(loss, [x, w])

    with tf.GradientTape() as tape:
        tape.watch([x, w])
        reference_loss = tf.reduce_sum(tf.nn.conv1d(x, w, 1, "SAME") * probe)
    reference_grads = tape.gradient(reference_loss, [x, w])
    dynamic = tf.function(
        loss_and_grads,
        input_signature=[tf.TensorSpec([None, None, 3]), tf.TensorSpec([kernel, 3, 2])],
    )
    for out, grads in (loss_and_grads(x, w), dynamic(x, w)):
        assert out.shape == whole.shape
        np.testing.assert_allclose(out.numpy(), whole, atol=2e-5 * scale)
        for got, expected in zip(grads, reference_grads, strict=True):
            expected = expected.numpy()
            np.testing.assert_allclose(got.numpy(), expected, atol=2e-5 * np.abs(expected).max())


def test_tap_ranges_cover_the_kernel_in_equal_parts_below_the_weight_limit():
    assert tap_ranges(400, 40, 40) == [(0, 400)]
    assert tap_ranges(4000, 40, 40) == [(a, a + 500) for a in range(0, 4000, 500)]
    assert tap_ranges(2000, 64, 64) == [(a, a + 500) for a in range(0, 2000, 500)]
    assert tap_ranges(2000, 128, 128) == [(a, a + 125) for a in range(0, 2000, 125)]
    assert direct_block_length(500, 40) == 500  # the paper's shapes: blocks of one range
    for kernel, channels, filters in [(4000, 40, 40), (4001, 64, 64), (7, 4000, 4000), (513, 1, 1)]:
        ranges = tap_ranges(kernel, channels, filters)
        assert ranges[0][0] == 0 and ranges[-1][1] == kernel
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
        sizes = [b - a for a, b in ranges]
        assert max(sizes) - min(sizes) <= max(sizes) // len(sizes) + 1
        assert max(sizes) <= MAX_DIRECT_TAPS
        assert max(sizes) * channels * filters <= max(MAX_DIRECT_WEIGHTS, channels * filters)


@pytest.mark.parametrize(("length", "kernel"), [(1, 400), (626, 400), (1251, 400), (129, 120)])
def test_direct_split_into_tap_ranges_equals_one_convolution(monkeypatch, length, kernel):
    """A kernel above the weight limit (lowered here: 50 taps of 3 x 2) is a sum over tap
    ranges, each in blocks of 60 outputs: values and gradients still equal one convolution,
    static and dynamic length."""
    monkeypatch.setattr(long_conv, "MAX_DIRECT_WEIGHTS", 300)
    monkeypatch.setattr(long_conv, "MAX_DIRECT_IM2COL", 60 * 50 * 3)
    assert len(tap_ranges(kernel, 3, 2)) == -(-kernel // 50)
    assert direct_block_length(50, 3) == 60
    _check_blocked(direct_conv1d_same, length, kernel)


@pytest.mark.parametrize("method", ["fft", "direct"])
def test_blocks_compile_with_xla(method):
    blocked = {"fft": fft_conv1d_same, "direct": direct_conv1d_same}[method]
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(size=(1, 1300, 2)).astype("float32"))
    w = tf.constant(rng.normal(size=(400, 2, 2)).astype("float32"))
    compiled = tf.function(blocked, jit_compile=True)(x, w).numpy()
    whole = tf.nn.conv1d(x, w, 1, "SAME").numpy()
    np.testing.assert_allclose(compiled, whole, atol=2e-5 * np.abs(whole).max())


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


def _profiled_flops(function, shape, kernel_shape):
    specs = [tf.TensorSpec(shape, tf.float32), tf.TensorSpec(kernel_shape, tf.float32)]
    graph = tf.function(function).get_concrete_function(*specs).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=options).total_float_ops


def test_direct_blocks_cost_what_one_convolution_costs(monkeypatch):
    """No output is computed twice or thrown away: 2 B N K Cin Cout FLOPs, as TF counts
    for one convolution over the whole sequence (1 to 3 blocks of 625 outputs)."""
    monkeypatch.setattr(long_conv, "MAX_DIRECT_IM2COL", SMALL_IM2COL)
    assert direct_block_length(400, 3) == 625
    for length in (600, 1250, 1300):
        shape, kernel_shape = (2, length, 3), (400, 3, 4)
        blocked = _profiled_flops(direct_conv1d_same, shape, kernel_shape)
        whole = _profiled_flops(lambda x, w: tf.nn.conv1d(x, w, 1, "SAME"), shape, kernel_shape)
        assert blocked == whole == 2 * 2 * length * 400 * 3 * 4


def test_xla_training_steps_give_the_same_weights():
    """The trainer's default (XLA) against the plain step for the FFT `paper` model: same
    initial weights, three Adam steps with the CCC loss, dropout off."""
    from e2e_emotion.losses import ccc_loss

    inputs = make_inputs("audio", batch=2, time=6, seed=4)
    labels = np.random.default_rng(5).uniform(-1, 1, (2, 6, 2)).astype("float32")
    trained = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(0)
        model = e2e_emotion.build_model(
            "audio", speech_preset="paper", conv2_kernel=700, input_dropout=0.0, **TINY
        )
        assert model.speech_network.get_layer("speech_conv2").method == "fft"
        optimizer = keras.optimizers.Adam(1e-3)

        @tf.function(jit_compile=jit_compile)
        def step(model=model, optimizer=optimizer):
            with tf.GradientTape() as tape:
                loss = ccc_loss(labels, model(inputs, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

        for _ in range(3):
            step()
        trained.append([w.numpy() for w in model.trainable_variables])
    for plain, compiled in zip(*trained, strict=True):
        np.testing.assert_allclose(compiled, plain, atol=1e-5)
