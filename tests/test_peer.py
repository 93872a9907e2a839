"""The PyTorch re-statement of the networks (the peer benchmark) is the same computation."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the peer extra: pip install -e '.[peer]'")

from e2e_emotion import cpu, peer_torch  # noqa: E402
from e2e_emotion.losses import ccc_loss  # noqa: E402
from e2e_emotion.models import build_model  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_audio_model_gives_the_keras_predictions_with_its_weights():
    keras_model = build_model("audio", speech_preset="reference", lstm_units=16)
    peer = peer_torch.AudioModel(units=16)
    peer_torch.copy_audio_weights(keras_model, peer)
    audio = np.random.default_rng(0).normal(0, 0.3, (2, 7, 640)).astype("float32")
    expected = np.asarray(keras_model({"audio": audio}, training=False))
    with torch.no_grad():
        got = peer(torch.from_numpy(audio)).numpy()
    assert got.shape == (2, 7, 2)
    np.testing.assert_allclose(got, expected, atol=2e-5, rtol=1e-4)
    # PyTorch's LSTM has a second bias vector per layer (4 x units each), nothing else more.
    assert peer_torch.parameter_count(peer) == keras_model.count_params() + 2 * 4 * 16


def test_the_visual_model_has_the_keras_shapes_and_parameters():
    sizes = {"stem_filters": 8, "stage_blocks": [1, 2], "stage_filters": [8, 16]}
    keras_model = build_model("visual", lstm_units=8, **sizes)
    peer = peer_torch.VisualModel(units=8, stem=8, stage_blocks=(1, 2), stage_filters=(8, 16))
    trainable = sum(int(np.prod(w.shape)) for w in keras_model.trainable_weights)
    assert peer_torch.parameter_count(peer) == trainable + 2 * 4 * 8
    video = torch.rand(2, 3, 3, 96, 96)
    for layout in (False, True):
        peer.channels_last = layout
        with torch.no_grad():
            assert tuple(peer(video).shape) == (2, 3, 2)


def test_the_ccc_loss_is_the_projects():
    rng = np.random.default_rng(1)
    labels = rng.uniform(-1, 1, (2, 50, 2)).astype("float32")
    predictions = (0.6 * labels + rng.normal(0, 0.3, labels.shape) + 0.1).astype("float32")
    ours = float(ccc_loss(labels, predictions))
    theirs = float(peer_torch.ccc_loss(torch.from_numpy(labels), torch.from_numpy(predictions)))
    assert ours == pytest.approx(theirs, abs=1e-6)
    assert 0.2 < ours < 1.0


def test_the_peer_benchmark_prints_both_frameworks_and_their_ratios(tmp_path):
    output = tmp_path / "peer.json"
    command = [
        sys.executable,
        os.path.join(ROOT, "bin", "benchmark_peer.py"),
        "--tiny",
        "--batch=1",
        "--frames=4",
        "--repeats=1",
        "--warmup=0",
        f"--json={output}",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(output.read_text())
    rows = {row["model"]: row for row in data["comparison"]}
    assert list(rows) == ["audio_reference", "visual"]
    # As bin/train.py's defaults: XLA for the audio model unless this CPU has AMX,
    assert rows["audio_reference"]["xla"] is cpu.xla_trains_audio_faster()
    # float32 training for it on every CPU, its convolution gradients in bfloat16 on AMX.
    assert rows["audio_reference"]["bfloat16"] is False
    assert rows["audio_reference"]["bfloat16_gradients"] is cpu.bfloat16_trains_faster()
    assert rows["visual"]["bfloat16_gradients"] is False
    assert rows["visual"]["xla"] is False
    assert rows["visual"]["bfloat16"] is False  # tiny sizes: float32 whatever the CPU
    # Both visual layouts measured; the faster one compared.
    layouts = [r["channels_last"] for r in data["torch"]["models"] if r["model"] == "visual"]
    assert layouts == [False, True]
    for row in rows.values():
        for key in ("train", "infer"):
            assert row[key] > 0 and row[f"torch_{key}"] > 0
            assert row[f"{key}_ratio"] == pytest.approx(row[key] / row[f"torch_{key}"])
            peers = [r for r in data["torch"]["models"] if r["model"] == row["model"]]
            assert row[f"torch_{key}"] == max(r[f"{key}_frames_per_s"] for r in peers)
        # Trainable parameters: PyTorch's LSTM has a second bias (tiny sizes: 8 units).
        assert row["torch_parameters"] == row["parameters"] + 2 * 4 * 8
    assert data["torch"]["environment"]["torch"] == torch.__version__
    assert "ratio" in result.stdout and "PyTorch " + torch.__version__ in result.stdout
    assert "CPU " in result.stdout.splitlines()[0]
