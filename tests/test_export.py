"""SavedModel export: reload equals Keras, all signatures, assets, versions, atomicity."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY, lively, make_inputs

from e2e_emotion import build_model
from e2e_emotion.export import saved_model
from e2e_emotion.export.saved_model import ExportError, export_saved_model
from tfrecords_tools import faces, media_writers, schema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
AUDIO = {"speech_preset": "reference", "lstm_units": 8}
CHECK = tf.test.TestCase()


def outputs_of(model, inputs):
    values = model(inputs, training=False).numpy()
    return {"arousal": values[..., 0], "valence": values[..., 1]}


def assert_outputs_close(actual, expected, atol=1e-5):
    assert set(actual) >= {"arousal", "valence"}
    for name in ("arousal", "valence"):
        CHECK.assertAllClose(np.asarray(actual[name]), expected[name], atol=atol, rtol=1e-5)


@pytest.fixture(scope="module")
def audio_model():
    keras.utils.set_random_seed(11)  # module fixtures run before the per-test seed
    return build_model("audio", **AUDIO)


@pytest.fixture(scope="module")
def audio_export(audio_model, tmp_path_factory):
    """(version path, loaded SavedModel, `saved_model_cli show --all` process started)."""
    base = tmp_path_factory.mktemp("exports")
    path = export_saved_model(audio_model, base, "emotion_audio")
    # The CLI takes ~10 s (its own TensorFlow import): start it now, read it later.
    show = subprocess.Popen(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show"]
        + ["--dir", path, "--all"],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield path, tf.saved_model.load(path), show
    if show.poll() is None:
        show.kill()
        show.wait()


def test_audio_export_reloads_and_matches_keras(audio_model, audio_export):
    path, loaded, _ = audio_export
    assert path.endswith(os.path.join("emotion_audio", "1"))
    assert sorted(os.listdir(os.path.dirname(path))) == ["1"]  # no temporary left
    assert set(loaded.signatures) == {"serving_default", "examples", "wav", "stream", "metadata"}
    serve = loaded.signatures["serving_default"]
    for time_steps in (3, 7):  # the time axis is free
        inputs = make_inputs("audio", batch=2, time=time_steps)
        result = serve(audio=tf.constant(inputs["audio"]))
        assert result["arousal"].shape == (2, time_steps)
        assert_outputs_close(result, outputs_of(audio_model, inputs))


def test_examples_signature_equals_tensor_inputs(audio_model, audio_export):
    _, loaded, _ = audio_export
    inputs = make_inputs("audio", batch=2, time=4, seed=3)
    rows = [
        [
            schema.encode_example(f"rec{b}", t, audio=inputs["audio"][b, t], labels=(0.1, 0.2))
            for t in range(4)
        ]
        for b in range(2)
    ]
    result = loaded.signatures["examples"](examples=tf.constant(rows))
    assert_outputs_close(result, outputs_of(audio_model, inputs))


def _write_wav(path, seconds, sample_rate=16000, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    samples = rng.uniform(-0.5, 0.5, (int(seconds * sample_rate), channels))
    media_writers.write_wav(path, samples, sample_rate, channels=channels)
    # What decode_wav returns: int16 / 32768, channels averaged.
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    return (pcm.astype(np.float32) / 32768.0).mean(axis=1, dtype=np.float32)


def test_wav_signature_decodes_averages_and_trims(audio_model, audio_export, tmp_path):
    _, loaded, _ = audio_export
    wav = tmp_path / "stereo.wav"
    mono = _write_wav(wav, seconds=0.23)  # 3680 samples: 5 whole frames + 480 dropped
    result = loaded.signatures["wav"](wav=tf.constant(wav.read_bytes()))
    assert result["arousal"].shape == (1, 5)
    expected = outputs_of(audio_model, {"audio": mono[: 5 * 640].reshape(1, 5, 640)})
    assert_outputs_close(result, expected)


def test_wav_signature_rejects_other_sample_rates(audio_export, tmp_path):
    _, loaded, _ = audio_export
    wav = tmp_path / "8k.wav"
    _write_wav(wav, seconds=0.2, sample_rate=8000, channels=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="sample rate must be 16000 Hz"):
        loaded.signatures["wav"](wav=tf.constant(wav.read_bytes()))
    short = tmp_path / "short.wav"
    _write_wav(short, seconds=0.01, channels=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="shorter than one frame"):
        loaded.signatures["wav"](wav=tf.constant(short.read_bytes()))


def test_wav_signature_checks_run_before_the_model(audio_export, tmp_path):
    # The model's own error for a zero-frame input ("input depth must be evenly divisible")
    # must never be what the client sees: the checks are control dependencies of its input.
    _, loaded, _ = audio_export
    short = tmp_path / "short.wav"
    _write_wav(short, seconds=0.01, channels=1)
    for _ in range(20):
        with pytest.raises(tf.errors.InvalidArgumentError) as error:
            loaded.signatures["wav"](wav=tf.constant(short.read_bytes()))
        assert "shorter than one frame (640 samples)" in str(error.value)
        assert "evenly divisible" not in str(error.value)


@pytest.mark.parametrize(
    "shape, expected",
    [
        ((1, 10, 320), r"audio \[1,10,320\] is not compatible with expected shape \[\?,\?,640\]"),
        ((2, 10, 640, 1), r"audio \[2,10,640,1\] is not compatible with expected shape"),
        ((10, 640), r"audio \[10,640\] is not compatible with expected shape \[\?,\?,640\]"),
        ((1, 0, 640), "audio: at least one frame is needed"),
    ],
)
def test_serving_default_rejects_bad_shapes(audio_export, shape, expected):
    _, loaded, _ = audio_export
    with pytest.raises(tf.errors.InvalidArgumentError, match=expected):
        loaded.signatures["serving_default"](audio=tf.zeros(shape))


def test_serving_default_rejects_non_finite_audio_naming_the_frame(audio_export):
    _, loaded, _ = audio_export
    audio = np.zeros((2, 6, 640), np.float32)
    audio[1, 4, 17] = np.nan
    audio[1, 5, 0] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        loaded.signatures["serving_default"](audio=tf.constant(audio))
    message = str(error.value)
    assert "audio: NaN or Inf in the input; first bad [batch item, frame] =" in message
    assert "[[1 4]]" in message
    audio[1, 4, 17] = 0.0
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[\[1 5\]\]"):
        loaded.signatures["serving_default"](audio=tf.constant(audio))


def test_stream_signature_frame_by_frame_equals_the_whole_recording(audio_export):
    _, loaded, _ = audio_export
    stream = loaded.signatures["stream"]
    specs = stream.structured_input_signature[1]
    assert sorted(specs) == ["audio", "c_1", "c_2", "h_1", "h_2"]
    units = specs["h_1"].shape[1]
    audio = np.random.default_rng(3).normal(0, 0.3, (2, 7, 640)).astype(np.float32)
    whole = loaded.signatures["serving_default"](audio=tf.constant(audio))
    state = {f"{p}_{k}": tf.zeros([2, units]) for k in (1, 2) for p in "hc"}
    got = []
    for t in range(7):
        out = stream(audio=tf.constant(audio[:, t]), **state)
        state = {name: out[f"new_{name}"] for name in state}
        got.append(np.stack([out["arousal"].numpy(), out["valence"].numpy()], -1))
    got = np.stack(got, axis=1)  # [batch, time, 2]
    expected = np.stack([whole["arousal"].numpy(), whole["valence"].numpy()], -1)
    assert np.std(expected) > 1e-3
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # The state is checked like the frames: shape, rows, finite values.
    with pytest.raises(tf.errors.InvalidArgumentError, match="h_1: one state row per frame row"):
        stream(audio=tf.constant(audio[:1, 0]), **state)
    bad = dict(state, c_2=state["c_2"] + np.nan)
    with pytest.raises(tf.errors.InvalidArgumentError, match="c_2: NaN or Inf in the state"):
        stream(audio=tf.constant(audio[:, 0]), **bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio: NaN or Inf"):
        stream(audio=tf.constant(audio[:, 0] + np.inf), **state)


def test_stream_signature_carries_the_audio_level_state(tmp_path):
    """A level-normalising model: the stream's extra state makes it equal the whole."""
    model = lively(build_model("audio", level_norm_frames=10, **AUDIO))
    loaded = tf.saved_model.load(export_saved_model(model, tmp_path, "level"))
    stream = loaded.signatures["stream"]
    assert sorted(stream.structured_input_signature[1]) == [
        "audio",
        "audio_level",
        "c_1",
        "c_2",
        "h_1",
        "h_2",
    ]
    rng = np.random.default_rng(4)
    audio = (rng.normal(0, 0.02, (2, 9, 640)) * np.geomspace(1, 30, 9)[:, None]).astype("float32")
    whole = loaded.signatures["serving_default"](audio=tf.constant(audio))
    assert_outputs_close(whole, outputs_of(model, {"audio": audio}))
    state = {f"{p}_{k}": tf.zeros([2, 8]) for k in (1, 2) for p in "hc"}
    state["audio_level"] = tf.zeros([2, 2])
    got = []
    for t in range(9):
        out = stream(audio=tf.constant(audio[:, t]), **state)
        state = {name: out[f"new_{name}"] for name in state}
        got.append(np.stack([out["arousal"].numpy(), out["valence"].numpy()], -1))
    expected = np.stack([whole["arousal"].numpy(), whole["valence"].numpy()], -1)
    np.testing.assert_allclose(np.stack(got, axis=1), expected, atol=1e-5)
    power = np.mean(np.square(audio.astype(np.float64)), axis=-1).sum(axis=1)
    np.testing.assert_allclose(state["audio_level"], np.stack([power, [9, 9]], -1), rtol=1e-5)
    # Without the state the frames would be normalised as a recording's start.
    fresh = {name: tf.zeros_like(value) for name, value in state.items()}
    out = stream(audio=tf.constant(audio[:, 8]), **{**state, "audio_level": fresh["audio_level"]})
    assert np.max(np.abs(out["arousal"].numpy() - expected[:, 8, 0])) > 1e-3
    bad = dict(state, audio_level=-state["audio_level"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio_level: the level state"):
        stream(audio=tf.constant(audio[:, 0]), **bad)


def test_metadata_signature_and_assets(audio_model, audio_export):
    path, loaded, _ = audio_export
    meta = {k: v.numpy() for k, v in loaded.signatures["metadata"]().items()}
    assert meta["sample_rate"] == 16000
    assert meta["frame_length"] == 640
    assert list(meta["label_names"]) == [b"arousal", b"valence"]
    assert meta["modality"] == b"audio"
    config = json.loads(meta["config_json"])
    assert config["model_config"] == json.loads(json.dumps(audio_model.get_config()))
    assert config["signatures"] == ["serving_default", "examples", "wav", "stream", "metadata"]
    assets = os.path.join(path, "assets")
    with open(os.path.join(assets, "labels.txt")) as f:
        assert f.read().split() == ["arousal", "valence"]
    assert saved_model.read_export_config(path) == config
    # The assets are tracked by the module, so they survive a reload.
    assert os.path.basename(loaded.config_asset.asset_path.numpy().decode()) == "config.json"


def test_saved_model_cli_shows_signatures_and_metadata(audio_export):
    _, _, show = audio_export
    stdout, stderr = show.communicate(timeout=120)
    assert show.returncode == 0, stderr[-2000:]
    for signature in ("serving_default", "examples", "wav", "metadata"):
        assert f"signature_def['{signature}']" in stdout
    serving = stdout.split("signature_def['serving_default']")[1].split("signature_def[")[0]
    assert "inputs['audio']" in serving and "shape: (-1, -1, 640)" in serving
    assert "outputs['arousal']" in serving and "outputs['valence']" in serving
    meta = stdout.split("signature_def['metadata']")[1].split("signature_def[")[0]
    for name in ("sample_rate", "frame_length", "label_names", "config_json", "modality"):
        assert f"outputs['{name}']" in meta
    assert "DecodeWav" in stdout and "ParseExampleV2" in stdout


def test_multimodal_export_matches_keras_and_has_no_wav(tmp_path):
    model = build_model("multimodal", speech_preset="reference", **TINY)
    with pytest.raises(ExportError, match="--signatures=wav: not available for the multimodal"):
        export_saved_model(model, tmp_path, "mm", signatures=["serving_default", "wav"])
    path = export_saved_model(model, tmp_path, "mm")
    loaded = tf.saved_model.load(path)
    assert set(loaded.signatures) == {"serving_default", "examples", "stream", "metadata"}
    inputs = make_inputs("multimodal", batch=1, time=3, seed=2)
    # Frames that survive PNG exactly: uint8 values / 255.
    crops = np.round(inputs["video"] * 255).astype(np.uint8)
    inputs["video"] = crops.astype(np.float32) / 255
    expected = outputs_of(model, inputs)
    tensors = {k: tf.constant(v) for k, v in inputs.items()}
    assert_outputs_close(loaded.signatures["serving_default"](**tensors), expected)
    rows = [
        [
            schema.encode_example(
                "r", t, audio=inputs["audio"][0, t], image=faces.encode_image(crops[0, t], "png")
            )
            for t in range(3)
        ]
    ]
    assert_outputs_close(loaded.signatures["examples"](examples=tf.constant(rows)), expected)
    # A frame flagged without a face is a black crop, as in the input pipeline.
    flagged = [
        [
            schema.encode_example(
                "r",
                t,
                audio=inputs["audio"][0, t],
                image=faces.encode_image(crops[0, t], "png"),
                face=t != 1,
            )
            for t in range(3)
        ]
    ]
    blanked = dict(inputs, video=inputs["video"].copy())
    blanked["video"][0, 1] = 0.0
    assert_outputs_close(
        loaded.signatures["examples"](examples=tf.constant(flagged)), outputs_of(model, blanked)
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="same \\[batch, time\\]"):
        loaded.signatures["serving_default"](audio=tensors["audio"][:, :2], video=tensors["video"])
    # 8-bit pixel values sent as floats, and a wrong crop size, are refused.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"video: pixels must be .* in \[0, 1"):
        loaded.signatures["serving_default"](audio=tensors["audio"], video=tensors["video"] * 255)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected shape \[\?,\?,96,96,3\]"):
        loaded.signatures["serving_default"](
            audio=tensors["audio"], video=tf.image.resize(tensors["video"][0], [64, 64])[None]
        )


def test_paper_preset_with_fft_convolution_exports(tmp_path):
    model = build_model("audio", conv2_kernel=300, conv2_method="fft", lstm_units=8)
    path = export_saved_model(model, str(tmp_path), "paper")
    inputs = make_inputs(model, batch=1, time=4)
    loaded = tf.saved_model.load(path)
    assert "stream" not in loaded.signatures  # not frame-local: no one-frame step
    served = loaded.signatures["serving_default"](**inputs)
    expected = model(inputs).numpy()
    np.testing.assert_allclose(served["arousal"].numpy(), expected[..., 0], atol=1e-5)
    np.testing.assert_allclose(served["valence"].numpy(), expected[..., 1], atol=1e-5)


def test_versions_next_free_explicit_and_overwrite(audio_model, tmp_path):
    model_dir = tmp_path / "m"
    only = ["serving_default"]  # one signature to trace: faster, and enough for versions
    assert export_saved_model(audio_model, tmp_path, "m", signatures=only).endswith("1")
    assert export_saved_model(audio_model, tmp_path, "m", 5, signatures=only).endswith("5")
    assert saved_model.existing_versions(model_dir) == [1, 5]
    assert saved_model.next_version(model_dir) == 6
    with pytest.raises(
        ExportError, match="m/5 exists: choose another --version or pass --overwrite"
    ):
        export_saved_model(audio_model, tmp_path, "m", version=5)
    other = build_model("audio", **AUDIO)  # other random weights
    export_saved_model(other, tmp_path, "m", version=5, overwrite=True, signatures=only)
    inputs = make_inputs("audio", batch=1, time=3)
    replaced = tf.saved_model.load(str(model_dir / "5")).signatures["serving_default"]
    assert_outputs_close(replaced(audio=tf.constant(inputs["audio"])), outputs_of(other, inputs))
    assert sorted(os.listdir(model_dir)) == ["1", "5"]


def test_a_failed_export_leaves_no_version(audio_model, tmp_path, monkeypatch):
    real_save = tf.saved_model.save

    def save_then_fail(module, path, signatures=None):
        real_save(module, path, signatures=signatures)  # fully written, then the failure
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", save_then_fail)
    with pytest.raises(RuntimeError, match="disk full"):
        export_saved_model(audio_model, tmp_path, "m", signatures=["serving_default"])
    assert os.listdir(tmp_path / "m") == []


def test_a_full_disk_during_export_is_one_line_and_leaves_no_version(
    audio_model, tmp_path, monkeypatch
):
    def save_on_a_full_disk(module, path, signatures=None):
        os.makedirs(os.path.join(path, "variables"))
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", save_on_a_full_disk)
    final = tmp_path / "m" / "1"
    with pytest.raises(ExportError) as error:
        export_saved_model(audio_model, tmp_path, "m", signatures=["serving_default"])
    assert str(error.value) == (
        f"{final}: the export could not be written (No space left on device); nothing was "
        "left in its place"
    )
    assert os.listdir(tmp_path / "m") == []


def test_requests_need_a_sequence_and_at_most_max_frames(audio_model, tmp_path):
    """An empty batch or more frames than the export's limit are refused before the model
    runs, with the limit stated in the metadata; up to the limit is served."""
    path = export_saved_model(
        audio_model, tmp_path, "m", signatures=["serving_default", "wav", "stream"], max_frames=12
    )
    assert saved_model.read_export_config(path)["max_frames"] == 12
    loaded = tf.saved_model.load(path)
    serve = loaded.signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio: at least one sequence is"):
        serve(audio=tf.zeros((0, 5, 640)))
    units = loaded.signatures["stream"].structured_input_signature[1]["h_1"].shape[1]
    state = {f"{p}_{k}": tf.zeros([0, units]) for k in (1, 2) for p in "hc"}
    with pytest.raises(tf.errors.InvalidArgumentError, match="audio: at least one sequence is"):
        loaded.signatures["stream"](audio=tf.zeros((0, 640)), **state)
    assert serve(audio=tf.zeros((3, 4, 640)))["arousal"].shape == (3, 4)
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        serve(audio=tf.zeros((2, 7, 640)))
    assert "audio: more than 12 frames (batch x time) in one request" in str(error.value)
    wav = tmp_path / "long.wav"
    _write_wav(wav, seconds=0.6)  # 15 frames
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than 12 frames"):
        loaded.signatures["wav"](wav=tf.constant(wav.read_bytes()))
    with pytest.raises(ExportError, match="--max_frames must be a positive integer, received 0"):
        export_saved_model(audio_model, tmp_path, "m", max_frames=0)


def test_bad_arguments_name_the_flag(audio_model, tmp_path):
    missing = tmp_path / "nowhere.keras"
    with pytest.raises(ExportError, match=f"--model={missing}: no such file"):
        export_saved_model(str(missing), tmp_path, "m")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ExportError, match=f"--model={broken}: cannot load"):
        export_saved_model(str(broken), tmp_path, "m")
    (tmp_path / "run").mkdir()
    with pytest.raises(ExportError, match="no best/model.keras or final/model.keras"):
        export_saved_model(str(tmp_path / "run"), tmp_path, "m")
    with pytest.raises(ExportError, match="--signatures=tflite: unknown signature"):
        export_saved_model(audio_model, tmp_path, "m", signatures=["serving_default", "tflite"])
    with pytest.raises(ExportError, match="--model_name='a/b'"):
        export_saved_model(audio_model, tmp_path, "a/b")
    with pytest.raises(ExportError, match="--version=0"):
        export_saved_model(audio_model, tmp_path, "m", version=0)
    with pytest.raises(ExportError, match="--saved_model is only used with --benchmark"):
        saved_model.export_command(saved_model=str(tmp_path))
    with pytest.raises(ExportError, match="no saved_model.pb"):
        saved_model.export_command(saved_model=str(tmp_path), benchmark={"runs": 1})


def test_benchmark_reports_batch_latency(audio_export):
    path, _, _ = audio_export
    result = saved_model.benchmark_saved_model(path, batch_size=2, frames=5, runs=3, warmup=1)
    assert result["batch_size"] == 2 and result["frames"] == 5 and result["runs"] == 3
    assert 0 < result["min_ms"] <= result["median_ms"] <= result["max_ms"]
    assert result["ms_per_frame"] == pytest.approx(result["median_ms"] / 10)
    line = saved_model.format_benchmark(path, result)
    assert "batch 2 x 5 frames: median" in line and "ms per batch" in line


_HANG_AFTER_SAVE = """
import runpy, sys, time
import tensorflow as tf
save, marker = tf.saved_model.save, sys.argv.pop(1)
def save_then_hang(*args, **kwargs):
    save(*args, **kwargs)
    open(marker, "w").close()
    while True:
        time.sleep(60)
tf.saved_model.save = save_then_hang
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_export_script_killed_midway_leaves_no_version_and_next_export_cleans_up(
    audio_model, tmp_path
):
    keras_file = str(tmp_path / "model.keras")
    audio_model.save(keras_file)
    base = tmp_path / "exports"
    model_dir = base / "killed"
    script = [sys.executable, os.path.join(ROOT, "bin", "export.py")]
    command = [*script, f"--model={keras_file}", f"--export_base={base}", "--model_name=killed"]
    # The script runs with tf.saved_model.save made to hang once it has written the
    # staged version: the kill lands midway every time, not when a poll happens to see it.
    saved = tmp_path / "saved"
    hanging = [sys.executable, "-c", _HANG_AFTER_SAVE, str(saved), *command[1:]]
    process = subprocess.Popen(hanging, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Meanwhile (CPU time is short): a whole run of the script with its benchmark.
    scripted = [
        *script,
        f"--model={keras_file}",
        f"--export_base={base}",
        "--model_name=scripted",
        "--benchmark",
        "--benchmark_batch=2",
        "--benchmark_frames=4",
        "--benchmark_runs=2",
        "--benchmark_warmup=1",
    ]
    complete = subprocess.Popen(scripted, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not saved.exists():
        assert process.poll() is None, process.communicate()[1].decode()[-3000:]
        assert time.monotonic() < deadline, "the export did not reach its save within 300 s"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    left = os.listdir(model_dir)
    assert left and all(n.startswith(".export-tmp-") for n in left)  # killed midway
    assert saved_model.existing_versions(model_dir) == []

    # The next export removes the dead export's directory and writes version 1.
    path = export_saved_model(keras_file, base, "killed", signatures=["serving_default"])
    assert path == str(model_dir / "1")
    assert sorted(os.listdir(model_dir)) == ["1"]

    stdout, stderr = complete.communicate(timeout=180)
    assert complete.returncode == 0, stderr.decode()[-3000:]
    stdout = stdout.decode()
    assert f"exported the audio model to {base / 'scripted' / '1'}" in stdout
    assert (
        "(signatures: serving_default, examples, wav, stream, metadata; at most 7500 frames"
        in stdout
    )
    assert "serving_default, batch 2 x 4 frames: median" in stdout

    stray = subprocess.run([*command, "extra"], env=ENV, capture_output=True, text=True, timeout=60)
    assert stray.returncode == 1 and "Unexpected arguments: extra" in stray.stderr
