"""The paper's three models: shapes, presets, values, training, saving, bad arguments."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY, lively, make_inputs
from numpy.lib.stride_tricks import sliding_window_view

import e2e_emotion
from e2e_emotion.losses import ccc_loss
from e2e_emotion.modalities import MODALITIES
from e2e_emotion.models import (
    ChannelMaxPool,
    FusedBatchNormalization,
    FusedLSTM,
    PeepholeLSTMCell,
    SpeechNetwork,
    VisualNetwork,
)

PRESETS = ("paper", "reference")


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("modality", MODALITIES)
def test_output_shapes(modality, preset):
    model = e2e_emotion.build_model(modality, speech_preset=preset, **TINY)
    inputs = make_inputs(model, batch=2, time=3)
    assert sorted(model.input_names) == sorted(inputs)
    outputs = model(inputs)
    assert tuple(outputs.shape) == (2, 3, 2)
    # Any sequence length goes through the same model (time axis is None).
    assert tuple(model(make_inputs(model, batch=1, time=5)).shape) == (1, 5, 2)
    assert tuple(model.output.shape) == (None, None, 2)
    # The model is its feature networks followed by its recurrent head.
    features = model.frame_features(inputs)
    speech = 1280 if modality != "visual" else 0
    visual = 8 * 4 if modality != "audio" else 0
    assert tuple(features.shape) == (2, 3, speech + visual) == (2, 3, model.num_features)
    assert [layer.name for layer in model.recurrent_layers] == [
        "temporal_lstm_1",
        "temporal_lstm_2",
    ]
    np.testing.assert_allclose(
        model.recurrent_outputs(features).numpy(), outputs.numpy(), rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
def test_full_size_feature_sizes():
    """1280 speech, 2048 ResNet-50 and 3328 fused features at the paper's sizes."""
    for preset in PRESETS:
        speech = SpeechNetwork(preset=preset)
        features = speech(make_inputs("audio", batch=1, time=2)["audio"])
        assert tuple(features.shape) == (1, 2, 1280)
    visual = VisualNetwork()
    assert tuple(visual(make_inputs("visual", batch=1, time=2)["video"]).shape) == (1, 2, 2048)
    # 3 + 4 + 6 + 3 bottleneck blocks of 3 convolutions, plus the stem: 49 + 4 shortcuts.
    convs = [layer for layer in visual.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 53
    model = e2e_emotion.build_model("multimodal")
    assert model.num_features == 3328
    assert model.get_layer("fusion_concatenate").output.shape[-1] == 3328
    lstm = model.get_layer("temporal_lstm_1")
    assert lstm.units == 256 and model.get_layer("temporal_lstm_2").units == 256
    assert e2e_emotion.build_model("audio").num_features == 1280
    assert e2e_emotion.build_model("visual").num_features == 2048


def _conv_same(signal, kernel, bias):
    """NumPy 'same' convolution (TF padding rule): ``[N, Cin] * [K, Cin, Cout] -> [N, Cout]``."""
    k = kernel.shape[0]
    left = (k - 1) // 2
    padded = np.pad(signal, ((left, k - 1 - left), (0, 0)))
    windows = sliding_window_view(padded, k, axis=0)  # [N, Cin, K]
    return np.einsum("nck,kco->no", windows, kernel) + bias


def _paper_preset_numpy(waveform, network):
    """The `paper` preset computed over each sequence's concatenated waveform."""
    w1, b1 = network.get_layer("speech_conv1").get_weights()
    w2, b2 = network.get_layer("speech_conv2").get_weights()
    outputs = []
    for sequence in waveform.astype(np.float64):
        x = sequence.reshape(-1, 1)  # frames joined end to end
        x = np.maximum(_conv_same(x, w1, b1), 0)
        x = x.reshape(-1, network.pool1_size, x.shape[-1]).max(axis=1)
        x = np.maximum(_conv_same(x, w2, b2), 0)
        x = x.reshape(x.shape[0], -1, network.channel_pool_size).max(axis=-1)
        outputs.append(x.reshape(sequence.shape[0], -1))
    return np.stack(outputs)


def test_paper_preset_equals_numpy_on_concatenated_waveform():
    network = SpeechNetwork(
        preset="paper",
        frame_length=64,
        conv1_filters=6,
        conv1_kernel=9,
        conv2_filters=8,
        conv2_kernel=50,  # wider than a pooled frame (32): crosses frame boundaries
        channel_pool_size=4,
        input_dropout=0.0,
    )
    waveform = np.random.default_rng(3).normal(size=(2, 4, 64)).astype("float32")
    got = network(waveform, training=False).numpy()
    assert got.shape == (2, 4, 32 * 2)
    np.testing.assert_allclose(got, _paper_preset_numpy(waveform, network), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_paper_preset_full_kernels_equal_tf_nn_convolution():
    """At the paper's 1x80 and 1x4000 kernels, against tf.nn.convolution on one signal."""
    network = SpeechNetwork(preset="paper", input_dropout=0.0)
    waveform = np.random.default_rng(4).normal(size=(1, 3, 640)).astype("float32")
    w1, b1 = network.get_layer("speech_conv1").get_weights()
    w2, b2 = network.get_layer("speech_conv2").get_weights()
    x = tf.reshape(waveform, (1, 3 * 640, 1))
    x = tf.nn.relu(tf.nn.convolution(x, w1, padding="SAME") + b1)
    x = tf.nn.max_pool1d(x, 2, 2, "VALID")
    x = tf.nn.relu(tf.nn.convolution(x, w2, padding="SAME") + b2)
    x = tf.reduce_max(tf.reshape(x, (1, 3 * 320, 4, 10)), axis=-1)
    expected = tf.reshape(x, (1, 3, 1280)).numpy()
    got = network(waveform, training=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_frames_interact_only_in_paper_preset():
    """Changing frame 0 changes frame 1's features in `paper`, never in `reference`."""
    waveform = np.random.default_rng(5).normal(size=(1, 3, 640)).astype("float32")
    changed = waveform.copy()
    changed[0, 0] += 1.0
    for preset, crosses in (("paper", True), ("reference", False)):
        network = SpeechNetwork(preset=preset, input_dropout=0.0)
        a = network(waveform, training=False).numpy()
        b = network(changed, training=False).numpy()
        assert not np.allclose(a[0, 0], b[0, 0])
        assert (not np.allclose(a[0, 1], b[0, 1])) == crosses, preset
        if not crosses:
            np.testing.assert_array_equal(a[0, 1:], b[0, 1:])


def test_channel_max_pool_values():
    x = np.arange(2 * 3 * 12, dtype="float32").reshape(2, 3, 12)[..., ::-1].copy()
    got = ChannelMaxPool(4)(x).numpy()
    np.testing.assert_array_equal(got, x.reshape(2, 3, 3, 4).max(-1))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_peephole_lstm_matches_numpy_with_clipping():
    cell = PeepholeLSTMCell(5, cell_clip=0.7)
    layer = keras.layers.RNN(cell, return_sequences=True)
    x = np.random.default_rng(6).normal(0, 3, (2, 7, 4)).astype("float32")
    got = layer(x).numpy()
    kernel, recurrent, peepholes, bias = (v.numpy().astype(np.float64) for v in cell.weights)
    h = np.zeros((2, 5))
    c = np.zeros((2, 5))
    expected = []
    for t in range(7):
        z = x[:, t] @ kernel + h @ recurrent + bias
        zi, zf, zg, zo = np.split(z, 4, axis=-1)
        i, f = _sigmoid(zi + peepholes[0] * c), _sigmoid(zf + peepholes[1] * c)
        c = np.clip(f * c + i * np.tanh(zg), -0.7, 0.7)
        h = _sigmoid(zo + peepholes[2] * c) * np.tanh(c)
        expected.append(h)
    expected = np.stack(expected, axis=1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # Clipping really happened: |h| <= tanh(0.7) everywhere, and close to it somewhere.
    assert np.abs(got).max() <= np.tanh(0.7) + 1e-6
    np.testing.assert_allclose(bias[5:10], 1.0)  # forget-gate bias starts at 1


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_fused_lstm_equals_keras_lstm_outputs_and_gradients(mode, training, monkeypatch):
    # In training the fused loops are compiled by XLA (inside an uncompiled step too).
    from e2e_emotion.models import recurrent

    calls = []
    original = recurrent._lstm_recurrence

    def counted(*args, **kwargs):
        calls.append(kwargs.get("compiled"))
        return original(*args, **kwargs)

    monkeypatch.setattr(recurrent, "_lstm_recurrence", counted)
    rng = np.random.default_rng(3)
    x = tf.constant(rng.normal(0, 1, (3, 9, 5)), tf.float32)
    states = [tf.constant(rng.normal(0, 1, (3, 4)), tf.float32) for _ in range(2)]
    keras_lstm = keras.layers.LSTM(4, return_sequences=True, return_state=True)
    fused = FusedLSTM(4, return_sequences=True, return_state=True)
    keras_lstm(x)
    fused(x)
    weights = [w + rng.normal(0, 0.3, w.shape) for w in keras_lstm.get_weights()]
    keras_lstm.set_weights(weights)
    fused.set_weights(weights)

    def run(layer):
        def step():
            with tf.GradientTape() as tape:
                tape.watch([x, *states])
                outputs, h, c = layer(x, initial_state=states, training=training)
                loss = tf.reduce_sum(tf.sin(3 * outputs)) + tf.reduce_sum(h**2 - 0.5 * c)
            grads = tape.gradient(loss, [x, *states, *layer.trainable_variables])
            return [outputs, h, c, *grads]

        if mode != "eager":
            step = tf.function(step, jit_compile=mode == "xla")
        return [value.numpy() for value in step()]

    calls.clear()
    expected, got = run(keras_lstm), run(fused)
    assert calls == [training], "the fused recurrence was not used as expected"
    assert len(got) == 3 + 3 + 3  # outputs, h, c; d/dx, d/dh0, d/dc0; 3 weights
    for name, a, b in zip(
        ["outputs", "h", "c", "dx", "dh0", "dc0", "dW", "dU", "db"], expected, got, strict=True
    ):
        assert np.abs(a).max() > 1e-3, name  # nothing trivially zero
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=name)
    # One frame, and a mask (not fused: the Keras loop) give the Keras values too.
    np.testing.assert_allclose(fused(x[:, :1])[0], keras_lstm(x[:, :1])[0], atol=1e-6)
    mask = tf.constant(np.arange(9)[None] < np.array([[9], [5], [2]]))
    calls.clear()
    np.testing.assert_allclose(fused(x, mask=mask)[0], keras_lstm(x, mask=mask)[0], atol=1e-6)
    assert not calls


@pytest.mark.parametrize("mode", ["eager", "graph", "xla"])
def test_fused_batch_norm_equals_keras_batch_norm(mode, monkeypatch):
    calls = []
    original = tf.compat.v1.nn.fused_batch_norm
    monkeypatch.setattr(
        tf.compat.v1.nn, "fused_batch_norm", lambda *a, **k: calls.append(1) or original(*a, **k)
    )
    rng = np.random.default_rng(4)
    x = tf.constant(rng.normal(2, 3, (6, 5, 4, 3)), tf.float32)
    layers = [
        cls(momentum=0.8, epsilon=1.001e-5)
        for cls in (keras.layers.BatchNormalization, FusedBatchNormalization)
    ]
    weights = [rng.normal(1, 0.5, 3), rng.normal(0, 0.5, 3), np.full(3, 0.5), np.full(3, 2.0)]
    for layer in layers:
        layer.build(x.shape)
        layer.set_weights(weights)

    def run(layer):
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(tf.sin(y) * tf.range(3, dtype=tf.float32))
            grads = tape.gradient(loss, [x, *layer.trainable_variables])
            return [y, *grads, layer(x, training=False)]

        if mode != "eager":
            step = tf.function(step, jit_compile=mode == "xla")
        values = [value.numpy() for value in step()]
        return values + [layer.moving_mean.numpy(), layer.moving_variance.numpy()]

    expected, got = run(layers[0]), run(layers[1])
    assert len(calls) == 2, "the fused kernel was not used (training and inference)"
    names = ["y", "dx", "dgamma", "dbeta", "inference y", "moving mean", "moving variance"]
    for name, a, b in zip(names, expected, got, strict=True):
        np.testing.assert_allclose(b, a, rtol=2e-5, atol=2e-5, err_msg=name)
    # The moving statistics moved (0.8 x old + 0.2 x batch: the batch variance ~9).
    assert got[-1].min() > 3.0 and abs(got[-2] - 0.5).max() > 0.1
    # A mask takes the Keras path (and gives its result).
    mask = tf.constant(rng.uniform(size=(6, 5, 4)) > 0.3)
    calls.clear()
    np.testing.assert_allclose(
        layers[1](x, mask=mask), layers[0](x, mask=mask), rtol=1e-5, atol=1e-5
    )
    assert not calls


@pytest.mark.parametrize("modality", MODALITIES)
def test_one_training_step_decreases_loss(modality):
    model = e2e_emotion.build_model(modality, speech_preset="reference", input_dropout=0.0, **TINY)
    inputs = make_inputs(model, batch=2, time=4, seed=1)
    labels = np.random.default_rng(2).uniform(-1, 1, (2, 4, 2)).astype("float32")
    optimizer = keras.optimizers.Adam(1e-3)

    def loss_value():
        return float(ccc_loss(labels, model(inputs, training=True)))

    before = loss_value()
    with tf.GradientTape() as tape:
        loss = ccc_loss(labels, model(inputs, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
    after = loss_value()
    assert after < before - 1e-3, (before, after)


@pytest.mark.parametrize(
    ("modality", "extra"),
    [
        ("audio", {"speech_preset": "reference"}),
        ("audio", {"speech_preset": "paper", "lstm_type": "peephole"}),
        ("visual", {}),
        ("multimodal", {"speech_preset": "reference", "lstm_type": "peephole"}),
    ],
)
def test_save_reload_and_config_round_trip(tmp_path, modality, extra):
    model = e2e_emotion.build_model(modality, **{**TINY, **extra})
    inputs = make_inputs(model)
    expected = model(inputs).numpy()
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = e2e_emotion.load_model(path)  # safe mode: no Lambda, no pickled code
    assert isinstance(reloaded, e2e_emotion.EmotionModel)
    np.testing.assert_array_equal(reloaded(inputs).numpy(), expected)
    assert reloaded.get_config() == model.get_config()
    clone = e2e_emotion.EmotionModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]


def test_models_saved_with_the_keras_lstm_and_batch_norm_load_into_the_fused_ones(
    tmp_path, monkeypatch
):
    """Files written before the fused layers (Keras' LSTM and BatchNormalization) load."""
    from e2e_emotion.models import recurrent, visual

    with monkeypatch.context() as patch:
        patch.setattr(recurrent, "FusedLSTM", keras.layers.LSTM)
        patch.setattr(visual, "FusedBatchNormalization", keras.layers.BatchNormalization)
        old = lively(e2e_emotion.build_model("multimodal", speech_preset="reference", **TINY))
    kinds = {type(layer) for layer in old._flatten_layers()}
    assert keras.layers.LSTM in kinds and keras.layers.BatchNormalization in kinds
    assert FusedLSTM not in kinds and FusedBatchNormalization not in kinds
    inputs = make_inputs(old, batch=1, time=6)
    path = str(tmp_path / "old.keras")
    old.save(path)
    loaded = e2e_emotion.load_model(path)
    kinds = {type(layer) for layer in loaded._flatten_layers()}
    assert FusedLSTM in kinds and FusedBatchNormalization in kinds
    assert keras.layers.LSTM not in kinds and keras.layers.BatchNormalization not in kinds
    np.testing.assert_allclose(loaded(inputs), old(inputs), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("voice_units", [0, 4])
def test_folded_batch_norm_gives_the_same_predictions(tmp_path, voice_units):
    extra = {"voice_units": voice_units} if voice_units else {}
    model = e2e_emotion.build_model("multimodal", speech_preset="reference", **TINY, **extra)
    if not voice_units:  # (lively knows the plain readout only)
        lively(model)
    rng = np.random.default_rng(3)
    norms = [lay for lay in model.visual_network.layers if isinstance(lay, FusedBatchNormalization)]
    assert norms
    for norm in norms:  # statistics far from the initial (0, 1), as after training
        size = norm.moving_mean.shape[0]
        norm.moving_mean.assign(rng.normal(0, 1, size))
        norm.moving_variance.assign(rng.uniform(0.2, 3.0, size))
        norm.gamma.assign(rng.normal(1, 0.3, size))
        norm.beta.assign(rng.normal(0, 1, size))
    inputs = make_inputs(model, batch=2, time=5)
    inputs["video"][0, 2] = 0.0  # a frame without a face (black crop)
    folded = e2e_emotion.fold_batch_norm(model)
    kinds = {type(layer) for layer in folded.visual_network.layers}
    assert FusedBatchNormalization not in kinds and keras.layers.BatchNormalization not in kinds
    convs = [lay for lay in folded.visual_network.layers if isinstance(lay, keras.layers.Conv2D)]
    assert convs and all(conv.use_bias for conv in convs)
    np.testing.assert_allclose(
        folded.visual_network(inputs["video"]),
        model.visual_network(inputs["video"], training=False),
        rtol=1e-4,
        atol=1e-4,
    )
    expected = model(inputs, training=False).numpy()
    np.testing.assert_allclose(folded(inputs, training=False), expected, rtol=1e-4, atol=1e-5)
    assert folded.get_config() == {**model.get_config(), "folded_batch_norm": True}
    path = str(tmp_path / "folded.keras")
    folded.save(path)
    np.testing.assert_array_equal(e2e_emotion.load_model(path)(inputs), folded(inputs))
    assert e2e_emotion.fold_batch_norm(folded) is folded
    audio = e2e_emotion.build_model("audio", speech_preset="reference", **TINY)
    assert e2e_emotion.fold_batch_norm(audio) is audio


@pytest.mark.parametrize("modality", ["audio", "visual"])
def test_a_model_trained_in_bfloat16_predicts_in_float32(modality):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = lively(e2e_emotion.build_model(modality, speech_preset="reference", **TINY))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    inference = e2e_emotion.fold_batch_norm(model)
    assert inference is not model
    assert {layer.compute_dtype for layer in inference.layers if layer.weights} == {"float32"}
    inputs = make_inputs(model, batch=1, time=4)
    expected = model(inputs, training=False).numpy()  # bfloat16 networks: about 3 digits
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(inference(inputs), expected, rtol=0.05, atol=0.01)
    assert e2e_emotion.fold_batch_norm(inference) is inference


def test_every_layer_is_named():
    model = e2e_emotion.build_model("multimodal", **TINY)
    names = [layer.name for layer in model.speech_network.layers]
    names += [layer.name for layer in model.visual_network.layers]
    names += [layer.name for layer in model.layers]
    generic = [n for n in names if n.split("_")[0] in ("conv1d", "conv2d", "dense", "lstm")]
    assert not generic, generic
    assert "speech_conv2" in names and "temporal_lstm_2" in names and "predictions" in names
    assert "resnet_stage2_block1_spatial_conv" in names


def test_visual_weights_from_local_file(tmp_path):
    trained = VisualNetwork(**{k: v for k, v in TINY.items() if k != "lstm_units"})
    path = str(tmp_path / "visual.weights.h5")
    trained.save_weights(path)
    model = e2e_emotion.build_model("visual", visual_weights=path, **TINY)
    frames = make_inputs("visual")["video"]
    np.testing.assert_array_equal(model.visual_network(frames).numpy(), trained(frames).numpy())
    assert "visual_weights" not in model.get_config()
    with pytest.raises(FileNotFoundError, match="missing.weights.h5"):
        e2e_emotion.build_model("visual", visual_weights=str(tmp_path / "missing.weights.h5"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"modality": "audi"}, "Unknown modality 'audi'"),
        ({"modality": "audio", "speech_preset": "papr"}, "Unknown speech preset 'papr'"),
        ({"modality": "audio", "frame_length": 641}, "frame_length` \\(641\\)"),
        ({"modality": "audio", "frame_length": 0}, "`frame_length` must be a positive integer"),
        ({"modality": "audio", "conv2_filters": 45}, "`conv2_filters` \\(45\\)"),
        ({"modality": "audio", "input_dropout": 1.5}, "received 1.5"),
        ({"modality": "audio", "lstm_type": "gru"}, "Unknown lstm_type 'gru'"),
        ({"modality": "visual", "stage_blocks": (1, 2), "stage_filters": (4,)}, "equal length"),
        ({"modality": "audio", "lstm_units": -3}, "`lstm_units` must be a positive integer"),
        ({"modality": "visual", "bn_momentum": 1.0}, "`bn_momentum` must be in \\[0, 1\\)"),
        ({"modality": "audio", "speech_feature_dropout": 1.0}, "`speech_feature_dropout`.*1.0"),
        ({"modality": "audio", "speech_feature_dropout": -0.1}, "`speech_feature_dropout`.*-0.1"),
        ({"modality": "audio", "speech_feature_dropout": True}, "`speech_feature_dropout`.*True"),
        ({"modality": "audio", "input_dropout": True}, "`input_dropout`.*received True"),
        ({"modality": "visual", "bn_momentum": "0.9"}, "`bn_momentum`.*received '0.9'"),
    ],
)
def test_bad_arguments_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        e2e_emotion.build_model(**kwargs)


def test_speech_feature_dropout_drops_speech_features_in_training_only(tmp_path):
    """The dropout sits between the speech network and the head: inference equals the
    model without it (same weights); training zeroes about the rate's share of the speech
    features and none of the visual ones or the face flag; the rate round-trips."""
    settings = dict(speech_preset="reference", input_dropout=0.0, voice_units=4, **TINY)
    model = e2e_emotion.build_model("multimodal", speech_feature_dropout=0.5, **settings)
    plain = e2e_emotion.build_model("multimodal", **settings)
    plain.set_weights(model.get_weights())
    inputs = make_inputs(model, batch=2, time=6, seed=3)
    np.testing.assert_allclose(model(inputs), plain(inputs), rtol=1e-6, atol=1e-6)
    assert not np.allclose(model(inputs, training=True), plain(inputs, training=True))

    head_input = keras.Model(model.inputs, model.get_layer("fusion_concatenate").output)
    fused = head_input(model.with_level(inputs), training=True).numpy()
    expected = model.frame_features(inputs, training=True).numpy()
    speech = model.speech_network.output.shape[-1]
    got, whole = fused[..., :speech], expected[..., :speech]
    live = whole != 0
    dropped = got[live] == 0
    assert live.sum() > 10_000 and 0.35 < dropped.mean() < 0.65, (live.sum(), dropped.mean())
    # Over 10,000 draws at 0.5 those bounds are 30 standard deviations away.
    # Keras' dropout scales what it keeps by 1 / (1 - rate).
    np.testing.assert_allclose(got[live][~dropped], 2 * whole[live][~dropped], rtol=1e-5)
    np.testing.assert_allclose(fused[..., speech:], expected[..., speech:], rtol=1e-5, atol=1e-6)

    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_config()["speech_feature_dropout"] == 0.5
    np.testing.assert_allclose(loaded(inputs), model(inputs), rtol=1e-6, atol=1e-6)
    assert plain.get_config()["speech_feature_dropout"] == 0.0


def test_batch_norm_momentum_is_an_argument_and_round_trips():
    def momenta(model):
        layers = model.visual_network.layers
        return {layer.momentum for layer in layers if hasattr(layer, "moving_mean")}

    model = e2e_emotion.build_model("visual", bn_momentum=0.8, **TINY)
    assert model.get_layer("visual_network") is model.visual_network
    assert momenta(model) == {0.8}
    assert model.get_config()["bn_momentum"] == 0.8
    assert momenta(e2e_emotion.EmotionModel.from_config(model.get_config())) == {0.8}
    assert momenta(e2e_emotion.build_model("visual", **TINY)) == {0.9}


def test_wrong_frame_length_at_call_names_the_shape():
    model = e2e_emotion.build_model("audio", speech_preset="reference", **TINY)
    with pytest.raises(ValueError, match=r"640.*320|320.*640"):
        model({"audio": np.zeros((1, 2, 320), "float32")})


@pytest.mark.parametrize("frames", [1, 3, 9, 20])
def test_incremental_paper_features_equal_the_network_on_the_whole_recording(frames):
    """Frame by frame with 7 frames of look-ahead = SpeechNetwork on the whole waveform,
    at any length (shorter than the look-ahead included)."""
    from e2e_emotion.models.speech_stream import IncrementalSpeech

    speech = SpeechNetwork(preset="paper", input_dropout=0.0)
    rng = np.random.default_rng(frames)
    audio = rng.normal(0, 0.3, (1, frames, 640)).astype("float32")
    expected = speech(audio, training=False).numpy()[0]  # [frames, 1280]
    stream = IncrementalSpeech(speech)
    assert stream.lookahead == 7 and stream.num_features == 1280
    got, ready_after = [], []
    for index in range(frames):
        for features in stream.push(audio[0, index]):
            got.append(features)
            ready_after.append(index)
    # Frame k is complete once frame k + 7 has arrived, not before.
    assert ready_after == [k + 7 for k in range(max(0, frames - 7))]
    got.extend(stream.finish())
    assert len(got) == frames
    scale = np.abs(expected).max()
    assert scale > 1e-3
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-5 * max(1.0, scale))
    # Buffers stay bounded: what no later frame reads is dropped.
    assert len(stream._samples) <= 9 * 640 and len(stream._pooled) <= 9 * 320


@pytest.mark.parametrize("channels", [1, 5])
def test_frame_conv_equals_conv2d_and_its_bfloat16_gradients_stay_close(channels):
    from e2e_emotion.models.speech import FrameConv2D

    rng = np.random.default_rng(channels)
    x = tf.constant(rng.normal(0, 1, (3, 1, 24, channels)), tf.float32)
    frame = FrameConv2D(6, (1, 7))
    plain = keras.layers.Conv2D(6, (1, 7), padding="same", activation="relu")
    frame.build(x.shape)
    plain.build(x.shape)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in frame.get_weights()]
    frame.set_weights(weights)
    plain.set_weights(weights)

    def run(layer, training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, training=training)
            loss = tf.reduce_sum(tf.sin(2 * outputs))
        return [outputs.numpy()] + [g.numpy() for g in tape.gradient(loss, [x, *layer.weights])]

    expected = run(plain, True)
    assert all(np.abs(value).max() > 1e-3 for value in expected)  # nothing trivially zero
    # Inference is Conv2D itself; training gives its outputs and gradients.
    np.testing.assert_array_equal(frame(x).numpy(), plain(x).numpy())
    for name, got, want in zip(["y", "dx", "dW", "db"], run(frame, True), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)
    frame.gradient_dtype = "bfloat16"
    got = run(frame, True)
    np.testing.assert_array_equal(got[0], expected[0])  # the forward pass stays float32
    for name, value, want in zip(["dx", "dW"], got[1:3], expected[1:3], strict=True):
        error = np.abs(value - want).max() / np.abs(want).max()
        # bfloat16 keeps 8 bits of mantissa; the window product (one channel) stays float32.
        low = name == "dx" or channels > 1
        assert (1e-5 < error < 2e-2) if low else error < 1e-5, (name, error)
    with pytest.raises(ValueError, match="gradient_dtype"):
        frame.gradient_dtype = "float16"
    for bad in ({"strides": 2}, {"padding": "valid"}, {"use_bias": False}, {"activation": None}):
        with pytest.raises(ValueError, match="FrameConv2D is a SAME, stride-1"):
            FrameConv2D(6, (1, 7), **bad)


def test_gradient_dtype_is_set_on_the_reference_network_only():
    from e2e_emotion.models.speech import set_gradient_dtype

    reference = e2e_emotion.build_model("audio", speech_preset="reference", **TINY)
    assert set_gradient_dtype(reference, "bfloat16") == 2
    paper = e2e_emotion.build_model("audio", speech_preset="paper", conv2_kernel=40, **TINY)
    assert set_gradient_dtype(paper, "bfloat16") == 0
    with pytest.raises(ValueError, match="gradient_dtype"):
        set_gradient_dtype(reference, "half")


def test_a_reference_model_saved_with_keras_conv2d_loads_unchanged(tmp_path, monkeypatch):
    # Models saved before FrameConv2D hold their convolutions' weights under Keras'
    # `conv2d` paths; FrameConv2D keeps that class name, so they load as they were.
    from e2e_emotion.models import speech

    with monkeypatch.context() as patch:
        patch.setattr(speech, "FrameConv2D", keras.layers.Conv2D)
        old = e2e_emotion.build_model("audio", speech_preset="reference", **TINY)
        assert type(old.speech_network.get_layer("speech_conv1")) is keras.layers.Conv2D
        old.save(tmp_path / "old.keras")
    loaded = keras.models.load_model(tmp_path / "old.keras")
    assert isinstance(loaded.speech_network.get_layer("speech_conv2"), speech.FrameConv2D)
    assert len(loaded.weights) == len(old.weights)
    for before, after in zip(old.weights, loaded.weights, strict=True):
        np.testing.assert_array_equal(after.numpy(), before.numpy(), err_msg=before.path)
    inputs = make_inputs(old, batch=1, time=3, seed=0)
    np.testing.assert_allclose(loaded(inputs), old(inputs), rtol=1e-5, atol=1e-6)
    # And the other way: a model saved now loads where the layers are plain Conv2D.
    loaded.save(tmp_path / "new.keras")
    with monkeypatch.context() as patch:
        patch.setattr(speech, "FrameConv2D", keras.layers.Conv2D)
        plain = keras.models.load_model(tmp_path / "new.keras")
    np.testing.assert_allclose(plain(inputs), old(inputs), rtol=1e-5, atol=1e-6)
