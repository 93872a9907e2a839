"""The serving client (REST and gRPC) against loopback TF Serving stand-ins of an export."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY

# tensorflow-serving-api is installed with `pip install --no-deps` (its metadata asks for
# the full `tensorflow` wheel, which must not sit beside tensorflow-cpu).
pytest.importorskip(
    "tensorflow_serving.apis",
    reason="pip install --no-deps 'tensorflow-serving-api>=2.21,<2.22' for the serving tests",
)

from serving_servers import GRPCServer, RESTServer  # noqa: E402

from e2e_emotion import build_model  # noqa: E402
from e2e_emotion.export import serving_client  # noqa: E402
from e2e_emotion.export.saved_model import export_saved_model  # noqa: E402
from e2e_emotion.export.serving_client import ServingClientError, predict_media  # noqa: E402
from tfrecords_tools import media, media_writers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}
CHECK = tf.test.TestCase()


def keras_outputs(model, inputs):
    values = model(inputs, training=False).numpy()[0]
    return {"arousal": values[:, 0], "valence": values[:, 1]}


def assert_same(actual, expected, atol=1e-5):
    for name in ("arousal", "valence"):
        CHECK.assertAllClose(actual[name], expected[name], atol=atol, rtol=1e-5)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Audio and visual exports, each behind a gRPC and a REST server, plus media files."""
    base = tmp_path_factory.mktemp("serving")
    keras.utils.set_random_seed(12)  # module fixtures run before the per-test seed
    audio_model = build_model("audio", speech_preset="reference", lstm_units=8)
    visual_model = build_model("visual", **TINY)
    export_saved_model(audio_model, base, "emotion_audio")
    export_saved_model(visual_model, base, "emotion_visual")

    rng = np.random.default_rng(7)
    wav = base / "speech.wav"
    media_writers.write_wav(wav, rng.uniform(-0.5, 0.5, 16000 * 7 // 25), 16000)  # 7 frames
    slow_wav = base / "speech_8k.wav"
    media_writers.write_wav(slow_wav, rng.uniform(-0.5, 0.5, 2400), 8000)
    # 6 frames at 25 fps: a bright moving square on a gradient (survives H.264 well).
    frames = []
    for i in range(6):
        frame = np.zeros((64, 80, 3), np.uint8)
        frame[..., 0] = np.linspace(0, 200, 80, dtype=np.uint8)
        frame[10 + i : 40 + i, 20:50] = (240, 220, 90)
        frames.append(frame)
    video = base / "face.mp4"
    media_writers.write_video(video, frames, fps=25)

    servers = {
        ("audio", "grpc"): GRPCServer(base, "emotion_audio"),
        ("audio", "rest"): RESTServer(base, "emotion_audio"),
        ("visual", "grpc"): GRPCServer(base, "emotion_visual"),
        ("visual", "rest"): RESTServer(base, "emotion_visual"),
    }
    try:
        yield {
            "audio_model": audio_model,
            "visual_model": visual_model,
            "wav": str(wav),
            "slow_wav": str(slow_wav),
            "video": str(video),
            "servers": servers,
        }
    finally:
        for server in servers.values():
            server.stop()


def call(served, served_model, protocol, media_path, model_name=None, **kwargs):
    """``predict_media`` against the ``served_model`` (audio/visual) server of ``protocol``."""
    server = served["servers"][(served_model, protocol)]
    return predict_media(
        media_path,
        model_name or f"emotion_{served_model}",
        protocol=protocol,
        port=server.port,
        timeout=30,
        **kwargs,
    )


def audio_expected(served):
    samples = media.read_audio(served["wav"])
    frames = samples[: 7 * 640].reshape(1, 7, 640)
    return keras_outputs(served["audio_model"], {"audio": frames})


@pytest.mark.parametrize("protocol", ["grpc", "rest"])
def test_audio_model_serving_default_equals_keras(served, protocol):
    server = served["servers"][("audio", protocol)]
    before = server.servicer.requests if protocol == "grpc" else server.requests
    # No --modality: the client reads it from the served signature (model metadata).
    result = call(served, "audio", protocol, served["wav"])
    after = server.servicer.requests if protocol == "grpc" else server.requests
    assert after - before == 2  # metadata + predict
    assert result["arousal"].shape == (7,)
    assert_same(result, audio_expected(served))


def test_rest_row_format_and_all_signatures_agree(served):
    expected = audio_expected(served)
    row = call(served, "audio", "rest", served["wav"], modality="audio", rest_format="row")
    assert_same(row, expected)
    for protocol in ("grpc", "rest"):
        for signature in ("wav", "examples"):
            result = call(served, "audio", protocol, served["wav"], signature=signature)
            assert_same(result, expected)
    with pytest.raises(ServingClientError, match="--rest_format=row needs batched inputs"):
        call(served, "audio", "rest", served["wav"], signature="wav", rest_format="row")


def test_visual_model_from_mp4_face_crops(served):
    frames = serving_client.read_media(served["video"], "visual", face_mode="centre")
    assert frames.video.shape == (6, 96, 96, 3) and frames.audio is None
    expected = keras_outputs(served["visual_model"], {"video": frames.video[None] / 255.0})
    for protocol in ("grpc", "rest"):
        result = call(served, "visual", protocol, served["video"], face_mode="centre")
        assert_same(result, expected)
    # Lossless PNG crops in tf.train.Example records give the same numbers.
    result = call(
        served,
        "visual",
        "grpc",
        served["video"],
        signature="examples",
        face_mode="centre",
        image_format="png",
    )
    assert_same(result, expected)
    short = call(served, "visual", "rest", served["video"], face_mode="centre", max_frames=3)
    assert short["valence"].shape == (3,)
    # The video given as a source of its own (recorded apart from the audio).
    apart = call(served, "visual", "grpc", {"video": served["video"]}, face_mode="centre")
    assert_same(apart, expected)


def test_versions_and_server_errors_reach_the_client(served):
    wav, slow = served["wav"], served["slow_wav"]
    assert_same(call(served, "audio", "grpc", wav, version=1), audio_expected(served))
    with pytest.raises(ServingClientError, match="NOT_FOUND.*emotion_audio, 9"):
        call(served, "audio", "grpc", wav, modality="audio", version=9)
    with pytest.raises(ServingClientError, match="HTTP 404.*emotion_audio, 9"):
        call(served, "audio", "rest", wav, modality="audio", version=9)
    with pytest.raises(ServingClientError, match="NOT_FOUND.*Latest\\(nobody\\)"):
        call(served, "audio", "grpc", wav, model_name="nobody")
    for protocol, code in (("grpc", "INVALID_ARGUMENT"), ("rest", "HTTP 400")):
        with pytest.raises(
            ServingClientError, match=f"(?s){code}.*sample rate must be 16000 Hz.*8000"
        ):
            call(served, "audio", protocol, slow, signature="wav")
    with pytest.raises(ServingClientError, match="--signature=wav is only exported for audio"):
        call(served, "visual", "grpc", served["video"], signature="wav", modality="visual")
    rest_port = served["servers"][("audio", "rest")].port
    with pytest.raises(ServingClientError, match="has no signature 'nope' \\(has: examples, "):
        serving_client.rest_signature_inputs("127.0.0.1", rest_port, "emotion_audio", "nope")
    with pytest.raises(ServingClientError, match="not an e2e_emotion model"):
        serving_client.modality_of_inputs(["x"])


def run_client_script(*args):
    command = [sys.executable, os.path.join(ROOT, "bin", "serving_client.py"), *args]
    return subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=120)


def test_client_script_grpc_stdout_and_rest_csv_file(served, tmp_path):
    expected = audio_expected(served)
    grpc_port = served["servers"][("audio", "grpc")].port
    rest_port = served["servers"][("audio", "rest")].port
    csv = tmp_path / "out" / "predictions.csv"
    common = [f"--media={served['wav']}", "--model_name=emotion_audio"]
    # The two runs share the machine: start both, then wait.
    grpc_run = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "bin", "serving_client.py"), *common]
        + ["--protocol=grpc", f"--grpc_port={grpc_port}"],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    rest_run = run_client_script(
        *common,
        "--protocol=rest",
        f"--rest_port={rest_port}",
        "--signature=wav",
        f"--output_csv={csv}",
    )
    stdout, stderr = grpc_run.communicate(timeout=120)
    assert grpc_run.returncode == 0, stderr[-3000:]
    assert rest_run.returncode == 0, rest_run.stderr[-3000:]
    assert f"wrote 7 frames to {csv}" in rest_run.stdout
    for text in (stdout, csv.read_text()):
        lines = text.strip().splitlines()
        assert lines[0] == "frame,time_seconds,arousal,valence"
        table = np.array([[float(x) for x in line.split(",")] for line in lines[1:]])
        np.testing.assert_array_equal(table[:, 0], np.arange(7))
        np.testing.assert_allclose(table[:, 1], np.arange(7) * 0.04)
        np.testing.assert_allclose(table[:, 2], expected["arousal"], atol=2e-6)
        np.testing.assert_allclose(table[:, 3], expected["valence"], atol=2e-6)


def test_client_script_user_errors(tmp_path):
    not_wav = tmp_path / "clip.mp4"
    not_wav.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(ServingClientError, match="the wav signature takes a WAV file"):
        serving_client.build_inputs(str(not_wav), "wav")
    with pytest.raises(ServingClientError, match="--signature='speech'"):
        serving_client.build_inputs(str(not_wav), "speech", "audio")
    stray = run_client_script("--media=a.wav", "--model_name=m", "extra")
    assert stray.returncode == 1 and "Unexpected arguments: extra" in stray.stderr
    missing = run_client_script(
        f"--media={tmp_path / 'none.wav'}", "--model_name=m", "--modality=audio"
    )
    assert missing.returncode == 1
    assert f"error: --media={tmp_path / 'none.wav'}: no such file" in missing.stderr
