"""TFLite export: builtin ops only, parity with Keras, streaming equals the full sequence."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import TINY, lively, make_inputs, write_records

import e2e_emotion
from e2e_emotion.export import tflite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_AUDIO = {"speech_preset": "reference", "lstm_units": 8}
TINY_VISUAL = TINY


def _assert_builtins(entry):
    assert entry["ops"], entry
    assert not [op for op in entry["ops"] if op.startswith("Flex") or op == "CUSTOM"]
    assert "FULLY_CONNECTED" in entry["ops"]  # the LSTM cells and the output layer


def _check_report(report, directory, kinds, variants):
    files = {(e["kind"], e["variant"]): e for e in report["files"]}
    assert set(files) == {(k, v) for k in kinds for v in variants}
    with open(os.path.join(directory, tflite.REPORT_NAME)) as handle:
        on_disk = json.load(handle)
    assert on_disk["files"] == json.loads(json.dumps(report["files"]))
    for (_, variant), entry in files.items():
        _assert_builtins(entry)
        assert os.path.getsize(os.path.join(directory, entry["file"])) > 0
        parity = entry["parity"]
        assert parity["max_abs_diff"] >= 0 and np.isfinite(parity["ccc_diff"])
        if variant == "float32":
            assert parity["max_abs_diff"] < tflite.FLOAT32_TOLERANCE, entry
            assert parity["ccc_diff"] < 1e-4, entry
        else:
            assert parity["max_abs_diff"] < 0.1, entry  # quantised: close, not exact
    return files


def test_audio_all_kinds_and_variants(tmp_path):
    model = lively(e2e_emotion.build_model("audio", **TINY_AUDIO))
    report = tflite.convert(model, tmp_path, sequence_length=10, check=True)
    files = _check_report(report, tmp_path, tflite.KINDS, tflite.VARIANTS)
    assert "CONV_2D" in files[("stream", "float32")]["ops"]
    # The quantised files are smaller (dynamic-range int8 weights < float16 < float32).
    sizes = {v: files[("sequence", v)]["size_mb"] for v in tflite.VARIANTS}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]

    lite = tflite.TFLiteModel(tmp_path / "stream_float32.tflite")
    assert (lite.kind, lite.modality, lite.sequence_length) == ("stream", "audio", None)
    assert lite.state_shapes == {f"{p}_{k}": (1, 8) for p in "ch" for k in (1, 2)}
    lite = tflite.TFLiteModel(tmp_path / "sequence_int8.tflite")
    assert (lite.kind, lite.modality, lite.sequence_length) == ("sequence", "audio", 10)


def test_stream_equals_full_sequence_on_a_long_recording(tmp_path):
    """45 frames step by step (no window) == Keras on the 45 frames as one sequence; the
    audio level normaliser's state is carried like the LSTM's."""
    model = e2e_emotion.build_model(
        "audio", lstm_type="peephole", level_norm_frames=10, **TINY_AUDIO
    )
    model = lively(model)
    report = tflite.convert(model, tmp_path, kinds=["stream"], variants=["float32"])
    _assert_builtins(report["files"][0])
    inputs = make_inputs(model, batch=1, time=45, seed=3)
    inputs["audio"] *= np.geomspace(0.1, 3, 45)[None, :, None].astype(np.float32)
    expected = np.asarray(model(inputs, training=False))[0]
    assert np.std(expected) > 0.1  # outputs move: the comparison means something
    lite = tflite.TFLiteModel(tmp_path / "stream_float32.tflite")
    assert lite.state_shapes["audio_level"] == (1, 2)
    got = lite.predict({"audio": inputs["audio"][0]})
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Resetting the state every 15 frames == Keras on three windows of 15 frames.
    windows = {"audio": inputs["audio"].reshape(3, 15, 640)}
    expected_windows = np.asarray(model(windows, training=False)).reshape(45, 2)
    np.testing.assert_allclose(
        lite.predict({"audio": inputs["audio"][0]}, 15), expected_windows, atol=1e-5
    )
    assert np.max(np.abs(expected_windows - expected)) > 1e-3  # the reset changes things


def test_sequence_model_runs_windows_with_padding(tmp_path):
    model = lively(e2e_emotion.build_model("audio", **TINY_AUDIO))
    tflite.convert(model, tmp_path, kinds=["sequence"], variants=["float32"], sequence_length=8)
    lite = tflite.TFLiteModel(tmp_path / "sequence_float32.tflite")
    inputs = make_inputs(model, batch=1, time=19, seed=4)["audio"][0]  # 8 + 8 + 3 (padded)
    padded = np.concatenate([inputs, np.zeros((5, 640), np.float32)]).reshape(3, 8, 640)
    expected = np.asarray(model({"audio": padded}, training=False)).reshape(24, 2)[:19]
    np.testing.assert_allclose(lite.predict({"audio": inputs}), expected, atol=1e-5)


def test_visual_and_multimodal(tmp_path):
    visual = lively(e2e_emotion.build_model("visual", **TINY_VISUAL))
    report = tflite.convert(
        visual, tmp_path / "v", variants=["float32"], sequence_length=5, check=True
    )
    files = _check_report(report, tmp_path / "v", tflite.KINDS, ["float32"])
    assert "MEAN" in files[("stream", "float32")]["ops"]  # global average pooling
    multimodal = lively(e2e_emotion.build_model("multimodal", **{**TINY_AUDIO, **TINY_VISUAL}))
    report = tflite.convert(
        multimodal, tmp_path / "m", variants=["float32"], sequence_length=5, check=True
    )
    _check_report(report, tmp_path / "m", tflite.KINDS, ["float32"])
    report = tflite.convert(
        multimodal, tmp_path / "q", kinds=["stream"], variants=["int8"], check=True
    )
    _check_report(report, tmp_path / "q", ["stream"], ["int8"])
    lite = tflite.TFLiteModel(tmp_path / "m" / "stream_float32.tflite")
    assert lite.modality == "multimodal"
    assert lite.frame_shapes == {"audio": (640,), "video": (96, 96, 3)}


def test_paper_preset_sequence_converts_and_stream_is_refused(tmp_path):
    # The paper preset's continuous-waveform convolutions with a shorter second kernel,
    # computed by FFT in Keras: traced with the direct method (TFLite has no inverse FFT).
    model = lively(
        e2e_emotion.build_model("audio", conv2_kernel=300, conv2_method="fft", lstm_units=8)
    )
    assert model.speech_network.preset == "paper"
    conv2 = model.speech_network.get_layer("speech_conv2")
    assert conv2.method == "fft"
    with pytest.raises(tflite.TFLiteExportError, match="paper.*sequence"):
        tflite.convert(model, tmp_path, kinds=["stream"])
    with pytest.raises(tflite.TFLiteExportError, match="paper"):
        tflite.stream_function(model)
    report = tflite.convert(
        model, tmp_path, kinds=["sequence"], variants=["float32"], sequence_length=5, check=True
    )
    _check_report(report, tmp_path, ["sequence"], ["float32"])
    assert conv2.method == "fft"  # restored after tracing


def test_bad_arguments(tmp_path):
    model = e2e_emotion.build_model("audio", **TINY_AUDIO)
    with pytest.raises(tflite.TFLiteExportError, match="kind 'frames'"):
        tflite.convert(model, tmp_path, kinds=["frames"])
    with pytest.raises(tflite.TFLiteExportError, match="variant 'int4'"):
        tflite.convert(model, tmp_path, variants=["int4"])
    with pytest.raises(tflite.TFLiteExportError, match="sequence_length"):
        tflite.convert(model, tmp_path, kinds=["sequence"], sequence_length=0)
    with pytest.raises(tflite.TFLiteExportError, match="no best/model.keras"):
        tflite.convert(str(tmp_path), tmp_path / "out")
    not_tflite = tmp_path / "x.tflite"
    not_tflite.write_bytes(b"not a flatbuffer")
    with pytest.raises(tflite.TFLiteExportError, match="x.tflite"):
        tflite.TFLiteModel(not_tflite)
    with pytest.raises(tflite.TFLiteExportError, match=r"--output_dir=/proc/tfl: cannot be"):
        tflite.convert(model, "/proc/tfl", kinds=["stream"], variants=["float32"])


def test_check_on_held_out_records(tmp_path):
    """``check_records``: every file and the Keras model scored on a labelled split."""
    from e2e_emotion.evaluation.scores import ccc
    from e2e_emotion.models.inference import predict_recording
    from tfrecords_tools.records import read_split

    records, _ = write_records(str(tmp_path / "data"), counts=(1, 2, 1))
    model = lively(e2e_emotion.build_model("multimodal", speech_preset="reference", **TINY))
    report = tflite.convert(
        model,
        tmp_path / "m",
        variants=["float32", "int8"],
        sequence_length=10,
        check_records=records,
    )
    assert len(report["files"]) == 4
    for entry in report["files"]:
        check = entry["records_check"]
        assert (check["split"], check["recordings"], check["frames"]) == ("dev", 2, 150)
        if entry["variant"] == "float32":
            assert check["max_abs_diff"] < tflite.FLOAT32_TOLERANCE, entry
            assert check["ccc_diff"] < 1e-4, entry
        else:
            assert 0 < check["max_abs_diff"] < 0.1, entry  # quantised: close, not exact
    # The Keras CCC is the model's own over the dev recordings, each one sequence.
    dev = read_split(records, "dev")
    predictions = np.concatenate(
        [predict_recording(model, {k: r[k] for k in ("audio", "video")}) for r in dev.values()]
    )
    arousal = np.concatenate([r["arousal"] for r in dev.values()])
    stream = [e for e in report["files"] if e["kind"] == "stream"][0]["records_check"]
    assert stream["ccc_keras"]["arousal"] == pytest.approx(ccc(predictions[:, 0], arousal))
    # An unlabelled or unknown split is refused before anything is written.
    for split, message in (("test", "no arousal/valence labels"), ("nope", "'nope' is not in")):
        with pytest.raises(tflite.TFLiteExportError, match=message):
            tflite.convert(model, tmp_path / split, check_records=records, check_split=split)
        assert not os.path.exists(tmp_path / split)


def test_scripts_convert_and_benchmark(tmp_path):
    model = e2e_emotion.build_model("audio", **TINY_AUDIO)
    model.save(tmp_path / "model.keras")
    out = tmp_path / "tflite"
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    convert = [sys.executable, os.path.join(ROOT, "bin", "convert_tflite.py")]
    result = subprocess.run(
        [
            *convert,
            f"--model={tmp_path / 'model.keras'}",
            f"--output_dir={out}",
            "--variants=float32",
            "--sequence_length=6",
            "--check",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "max abs diff" in result.stdout
    expected = ["sequence_float32.tflite", "stream_float32.tflite", tflite.REPORT_NAME]
    assert sorted(os.listdir(out)) == expected
    rows = tflite.benchmark([out], repeats=3, warmup=1)
    assert [(r["kind"], r["variant"]) for r in rows] == [
        ("sequence", "float32"),
        ("stream", "float32"),
    ]
    assert [r["frames_per_run"] for r in rows] == [6, 1]
    assert all(r["ms_per_frame"] > 0 and r["size_mb"] > 0 for r in rows)
    assert "stream_float32.tflite" in tflite.format_benchmark(rows)


def test_keras_variables_not_copied_but_shared():
    """The twins read the trained variables: changing a weight changes the trace."""
    model = e2e_emotion.build_model("audio", **TINY_AUDIO)
    function = tflite.stream_function(model)
    inputs = {"audio": np.ones((1, 640), np.float32)}
    inputs.update({f"{p}_{k}": np.zeros((1, 8), np.float32) for p in "hc" for k in (1, 2)})
    before = function(inputs)["predictions"].numpy()
    dense = model.get_layer("predictions")
    dense.bias.assign(dense.bias + 1.0)
    after = function(inputs)["predictions"].numpy()
    np.testing.assert_allclose(after, before + 1.0, atol=1e-6)
    keras.backend.clear_session()
