"""Prediction on a media file from a .keras model, a SavedModel and .tflite files."""

import csv
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY, lively, recorded_apart

import e2e_emotion
from e2e_emotion import predict, runtime
from e2e_emotion.export import tflite
from tfrecords_tools import media, media_writers, synthetic
from tfrecords_tools.schema import DEFAULT_FACE_MODE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = 2.0  # 50 frames of 40 ms
WINDOW = 20  # 50 = 20 + 20 + 10 (padded): windows and padding are exercised


def save_serving_model(model, path):
    """A SavedModel with ``serving_default``: audio / video in, arousal / valence out."""
    names = [name for name in ("audio", "video") if name in model.input_names]
    shapes = {"audio": [640], "video": [96, 96, 3]}
    specs = [tf.TensorSpec([None, None, *shapes[n]], tf.float32, name=n) for n in names]

    def serve(*tensors):
        out = model(dict(zip(names, tensors, strict=True)), training=False)
        return {"arousal": out[..., 0], "valence": out[..., 1]}

    function = tf.function(serve, input_signature=specs)
    module = tf.Module()
    module.model = model
    signatures = {"serving_default": function.get_concrete_function()}
    tf.saved_model.save(module, path, signatures=signatures)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A synthetic MP4 (with audio) and WAV, and one multimodal and one audio model."""
    root = tmp_path_factory.mktemp("predict")
    # Module fixtures run before the per-test seed: without this the weights, and so the
    # int8 model's error, depended on which tests ran before.
    keras.utils.set_random_seed(13)
    paths = {"mp4": str(root / "talk.mp4"), "wav": str(root / "talk.wav")}
    synthetic.write_synthetic_recording(
        "talk",
        SECONDS,
        seed=7,
        audio_path=paths["wav"],
        video_path=paths["mp4"],
        image_size=96,
        audio_in_video=True,
    )
    multimodal = lively(e2e_emotion.build_model("multimodal", speech_preset="reference", **TINY))
    paths["keras"] = str(root / "multimodal.keras")
    multimodal.save(paths["keras"])
    paths["saved_model"] = str(root / "export" / "emotion")
    save_serving_model(multimodal, os.path.join(paths["saved_model"], "1"))
    tflite.convert(multimodal, root / "tflite", variants=["float32"], sequence_length=WINDOW)
    paths["sequence"] = str(root / "tflite" / "sequence_float32.tflite")
    paths["stream"] = str(root / "tflite" / "stream_float32.tflite")
    audio = lively(e2e_emotion.build_model("audio", speech_preset="reference", lstm_units=8))
    paths["audio_model_dir"] = str(root / "audio_run")
    os.makedirs(os.path.join(paths["audio_model_dir"], "best"))
    audio.save(os.path.join(paths["audio_model_dir"], "best", "model.keras"))
    tflite.convert(audio, root / "audio_tflite", kinds=["stream"], variants=["int8"])
    paths["audio_stream"] = str(root / "audio_tflite" / "stream_int8.tflite")
    paths["root"] = str(root)
    return paths


def _read_csv(path):
    with tf.io.gfile.GFile(os.fspath(path)) as handle:  # a local path or a ram:// one
        rows = list(csv.reader(handle.read().splitlines()))
    assert rows[0] == ["frame", "time", "arousal", "valence"]
    values = np.array(rows[1:], dtype=np.float64)
    np.testing.assert_array_equal(values[:, 0], np.arange(len(values)))
    np.testing.assert_allclose(values[:, 1], np.arange(len(values)) * 0.04, atol=1e-9)
    return values[:, 2:]


def test_mp4_with_every_model_format(files, tmp_path):
    results = {}
    for kind in ("keras", "saved_model", "sequence", "stream"):
        csv_path, png_path = tmp_path / f"{kind}.csv", tmp_path / f"{kind}.png"
        summary = predict.predict_file(
            files["mp4"], files[kind], csv_path, png_path, sequence_length=WINDOW
        )
        assert summary["frames"] == 50 and summary["seconds"] == SECONDS
        assert summary["stream_frames"] == {"audio": 50, "video": 50}
        assert summary["face_missed_fraction"] == 0.0  # the synthetic face is found
        assert summary["face_found_fraction"] == 1.0
        assert summary["window"] == WINDOW
        with open(png_path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
        results[kind] = _read_csv(csv_path)
    assert np.std(results["keras"]) > 0.05
    for kind in ("saved_model", "sequence", "stream"):  # CSV holds 6 decimals
        np.testing.assert_allclose(results[kind], results["keras"], atol=2e-5, err_msg=kind)

    # The CSV is the model on the inputs the records' code makes, window by window.
    inputs, _ = predict.read_inputs(files["mp4"], ("audio", "video"), DEFAULT_FACE_MODE)
    model = e2e_emotion.load_model(files["keras"])
    padded = {
        k: np.concatenate([v, np.zeros((10, *v.shape[1:]), v.dtype)]).reshape(
            3, WINDOW, *v.shape[1:]
        )
        for k, v in inputs.items()
    }
    padded["video"] = padded["video"].astype(np.float32) / 255.0
    expected = np.asarray(model(padded, training=False)).reshape(60, 2)[:50]
    np.testing.assert_allclose(results["keras"], expected, atol=2e-5)

    # One window over the whole file: the stream model never resets its state.
    whole = predict.predict_file(
        files["mp4"], files["stream"], tmp_path / "w.csv", None, "centre", None
    )
    assert whole["window"] is None and whole["png"] is None
    assert (
        np.max(np.abs(_read_csv(tmp_path / "w.csv")[WINDOW:] - results["stream"][WINDOW:])) > 1e-3
    )


def test_whole_file_keras_prediction_runs_the_features_in_chunks(files, tmp_path, monkeypatch):
    # 50 frames in chunks of 20: three feature calls, one LSTM pass, equal to the model
    # on the whole recording at once (the reference preset and the ResNet are frame-local).
    monkeypatch.setattr(runtime, "FEATURE_CHUNK", 20)
    summary = predict.predict_file(
        files["mp4"], files["keras"], tmp_path / "k.csv", None, "centre", None
    )
    assert summary["window"] is None and summary["frames"] == 50
    inputs, _ = predict.read_inputs(files["mp4"], ("audio", "video"), "centre")
    inputs["video"] = inputs["video"].astype(np.float32) / 255.0
    model = e2e_emotion.load_model(files["keras"])
    expected = np.asarray(model({k: v[np.newaxis] for k, v in inputs.items()}, training=False))
    np.testing.assert_allclose(_read_csv(tmp_path / "k.csv"), expected[0], atol=2e-5)
    # ... and equal to the stream model that never resets its state.
    predict.predict_file(files["mp4"], files["stream"], tmp_path / "s.csv", None, "centre", None)
    np.testing.assert_allclose(
        _read_csv(tmp_path / "s.csv"), _read_csv(tmp_path / "k.csv"), atol=2e-5
    )


def test_media_is_read_in_parts_as_the_model_takes_them(files):
    """The file is decoded a part at a time (a window, or a chunk of features), so a
    long recording never has all its face crops in memory; the parts put together are
    the recording read at once."""
    whole, whole_info = predict.read_inputs(files["mp4"], ("audio", "video"), "centre")
    info = {}
    parts = predict.iter_inputs(files["mp4"], ("audio", "video"), "centre", 96, 20, info)
    first = next(parts)
    assert {k: v.shape for k, v in first.items()} == {"audio": (20, 640), "video": (20, 96, 96, 3)}
    assert "video" not in info["frames"]  # the rest of the video is not read yet
    rest = list(parts)
    assert [len(p["audio"]) for p in rest] == [20, 10]
    for name in ("audio", "video"):
        together = np.concatenate([first[name]] + [p[name] for p in rest])
        np.testing.assert_array_equal(together, whole[name])
    assert info == whole_info and info["frames"] == {"audio": 50, "video": 50}


@pytest.mark.parametrize("window", [None, 20])
def test_audio_and_video_recorded_apart_equal_the_muxed_file(files, tmp_path, window):
    """A WAV and a silent MP4 (the AVEC 2016 layout) give the predictions of the same
    recording muxed into one file; a known A/V delay shifts the audio."""
    wav, silent, muxed = recorded_apart(files["mp4"], tmp_path)
    assert not media.probe(str(silent)).has_audio
    one = predict.predict_file(muxed, files["keras"], tmp_path / "one.csv", None, "centre", window)
    apart = {"audio": wav, "video": silent}
    apart_strings = {"audio": str(wav), "video": str(silent)}
    two = predict.predict_file(apart, files["keras"], tmp_path / "two.csv", None, "centre", window)
    assert one["frames"] == two["frames"] == 50
    assert two["media"] == {"audio": str(wav), "video": str(silent)}
    together = _read_csv(tmp_path / "one.csv")
    np.testing.assert_allclose(_read_csv(tmp_path / "two.csv"), together, atol=1e-4)
    # The video 0.2 s late: the first 5 audio frames are skipped, 45 frames remain.
    late = predict.predict_file(
        apart, files["keras"], tmp_path / "late.csv", None, "centre", window, video_offset=0.2
    )
    assert late["frames"] == 45 and late["stream_frames"] == {"audio": 50, "video": 50}
    with pytest.raises(predict.PredictError, match=f"{silent}: the model needs audio but"):
        predict.predict_file({"audio": silent, "video": silent}, files["keras"], tmp_path / "x")
    with pytest.raises(predict.PredictError, match=r"--video_media=\S+none\.mp4: no such file"):
        predict.predict_file({"audio": wav, "video": tmp_path / "none.mp4"}, files["keras"], "x")
    with pytest.raises(predict.PredictError, match="the model needs video: give --video_media"):
        predict.predict_file({"audio": wav}, files["keras"], tmp_path / "x.csv")
    with pytest.raises(predict.PredictError, match="give --media .one file. or --audio_media"):
        predict.media_sources(media=muxed, audio=wav)
    assert predict.media_sources(media=muxed) == str(muxed)
    assert predict.media_sources(audio=wav, video=silent) == apart_strings


def test_wav_with_audio_models(files, tmp_path):
    summary = predict.predict_file(
        files["wav"], files["audio_model_dir"], tmp_path / "a.csv", sequence_length=None
    )
    assert summary["model"].endswith(os.path.join("best", "model.keras"))
    assert summary["frames"] == 50 and "face_missed_fraction" not in summary
    assert summary["warnings"] == []
    # A silent file is predicted (a multimodal model still sees the face) with a warning.
    silent = tmp_path / "silent.wav"
    media_writers.write_wav(silent, np.zeros(16000, np.float32), 16000)
    quiet = predict.predict_file(
        silent, files["audio_model_dir"], tmp_path / "q.csv", sequence_length=None
    )
    assert quiet["warnings"] == [
        f"{silent}: the audio is silent (RMS below -60 dBFS): the predictions carry nothing "
        "of the voice"
    ]
    keras_values = _read_csv(tmp_path / "a.csv")
    summary = predict.predict_file(
        files["wav"], files["audio_stream"], tmp_path / "s.csv", sequence_length=None
    )
    assert summary["model_kind"] == "tflite stream"
    # int8: the error grows with the output (up to 2.6 with these enlarged head weights).
    np.testing.assert_allclose(_read_csv(tmp_path / "s.csv"), keras_values, atol=0.05, rtol=0.05)


def test_errors_name_the_file(files, tmp_path):
    with pytest.raises(predict.PredictError, match=r"talk\.wav: the model needs video"):
        predict.predict_file(files["wav"], files["keras"], tmp_path / "x.csv")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x01 not a video" * 100)
    with pytest.raises(predict.user_errors, match="broken.mp4"):
        predict.predict_file(broken, files["sequence"], tmp_path / "x.csv")
    with pytest.raises(predict.PredictError, match="missing.mp4: no such file"):
        predict.predict_file(tmp_path / "missing.mp4", files["keras"], tmp_path / "x.csv")
    with pytest.raises(predict.PredictError, match="nowhere.tflite: model not found"):
        predict.predict_file(files["wav"], tmp_path / "nowhere.tflite", tmp_path / "x.csv")
    with pytest.raises(predict.PredictError, match="no best/model.keras"):
        predict.predict_file(files["wav"], tmp_path, tmp_path / "x.csv")
    with pytest.raises(predict.PredictError, match=r"--media=\S+ is a directory; give one WAV"):
        predict.predict_file(tmp_path, files["keras"], tmp_path / "x.csv")
    url = "https://example.org/talk.wav"
    with pytest.raises(predict.PredictError, match=f"--media={url}: URLs are not read"):
        predict.predict_file(url, files["keras"], tmp_path / "x.csv")
    assert not os.path.exists(tmp_path / "x.csv")


def test_a_local_file_named_like_a_url_scheme_is_a_file(files, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copyfile(files["wav"], "http")
    predict.check_media_path("http")  # a file in the working directory, not a web URL
    with pytest.raises(predict.PredictError, match="--media=ftp: no such file"):
        predict.check_media_path("ftp")


def test_unwritable_outputs_leave_nothing(files, tmp_path):
    """An output that cannot be written is named; the CSV is not published when the PNG
    fails, and an earlier CSV at that path keeps its content."""
    model = files["audio_model_dir"]
    with pytest.raises(predict.PredictError, match=r"--output_csv=/proc/x\.csv: cannot be written"):
        predict.predict_file(files["wav"], model, "/proc/x.csv", sequence_length=None)
    csv = tmp_path / "a.csv"
    with pytest.raises(predict.PredictError, match=r"--output_png=/proc/x\.png: cannot be written"):
        predict.predict_file(files["wav"], model, csv, "/proc/x.png", sequence_length=None)
    assert os.listdir(tmp_path) == []
    csv.write_text("older\n")
    with pytest.raises(predict.PredictError, match="--output_png"):
        predict.predict_file(files["wav"], model, csv, "/proc/x.png", sequence_length=None)
    assert csv.read_text() == "older\n" and os.listdir(tmp_path) == ["a.csv"]
    # Written outputs have the mode of any new file (the umask's), not a temporary's 0600.
    previous = os.umask(0o022)
    try:
        predict.predict_file(files["wav"], model, csv, tmp_path / "a.png", sequence_length=None)
    finally:
        os.umask(previous)
    assert {os.stat(tmp_path / n).st_mode & 0o777 for n in ("a.csv", "a.png")} == {0o644}


def test_video_without_a_face(files, tmp_path):
    path = tmp_path / "wall.mp4"
    rng = np.random.default_rng(0)
    frames = [np.full((96, 96, 3), 90 + rng.integers(0, 5), np.uint8) for _ in range(25)]
    media_writers.write_video(path, frames, fps=25, audio=np.zeros(16000, np.float32) + 0.01)
    with pytest.raises(predict.PredictError, match=r"wall\.mp4: no face detected.*centre"):
        predict.predict_file(path, files["stream"], tmp_path / "x.csv", sequence_length=None)
    summary = predict.predict_file(path, files["stream"], tmp_path / "c.csv", face_mode="centre")
    assert summary["frames"] == 25 and len(_read_csv(tmp_path / "c.csv")) == 25


def test_script(files, tmp_path):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = [sys.executable, os.path.join(ROOT, "bin", "predict.py")]
    common = [f"--model={files['sequence']}", f"--output_csv={tmp_path / 'out.csv'}"]
    result = subprocess.run(
        [*script, f"--media={files['mp4']}", f"--output_png={tmp_path / 'out.png'}", *common],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert '"frames": 50' in result.stdout
    assert len(_read_csv(tmp_path / "out.csv")) == 50 and os.path.isfile(tmp_path / "out.png")
    result = subprocess.run(
        [*script, f"--media={files['wav']}", *common],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "talk.wav" in last and "needs video" in last


@pytest.mark.parametrize("kind", ["keras", "saved_model", "sequence", "stream"])
def test_every_model_format_refuses_bad_frames(files, kind):
    predictor = predict.load_predictor(files[kind], WINDOW)
    rng = np.random.default_rng(3)
    good = {
        "audio": rng.normal(0, 0.1, (12, 640)).astype(np.float32),
        "video": rng.integers(0, 256, (12, 96, 96, 3), dtype=np.uint8),
    }
    assert predictor.predict(good).shape == (12, 2)
    cases = [
        (
            {"audio": good["audio"][:, :320]},
            r"'audio' must have shape \[frames, 640\], got \[12, 320\]",
        ),
        ({"audio": good["audio"][..., None]}, r"'audio' must have shape \[frames, 640\]"),
        ({"video": good["video"][:, :64, :64]}, r"'video' must have shape \[frames, 96, 96, 3\]"),
        ({"audio": good["audio"][:0], "video": good["video"][:0]}, "'audio' has no frames"),
        ({"video": good["video"].astype(np.int32)}, "'video' must be float32 or uint8, got int32"),
        ({"video": good["video"].astype(np.float32)}, r"'video' frame 0 .* outside \[0, 1\]"),
        ({"video": good["video"][:11]}, "different frame counts"),
    ]
    nan = good["audio"].copy()
    nan[7, 100] = np.nan
    cases.append(({"audio": nan}, r"'audio' frame 7 \(at 0.28 s\) has NaN or Inf; .* refused"))
    for change, message in cases:
        with pytest.raises(predict.PredictError, match=message):
            predictor.predict({**good, **change})
    with pytest.raises(predict.PredictError, match="needs a 'video' input"):
        predictor.predict({"audio": good["audio"]})


def test_tflite_wrapper_refuses_bad_frames(files):
    model = tflite.TFLiteModel(files["stream"])
    audio = np.zeros((4, 640), np.float32)
    audio[2, 0] = np.inf
    video = np.zeros((4, 96, 96, 3), np.float32)
    with pytest.raises(
        tflite.TFLiteExportError, match=r"'audio' frame 2 \(at 0.08 s\) has NaN or Inf"
    ):
        model.predict({"audio": audio, "video": video})


@pytest.mark.parametrize("runner", ["local", "beam"])
def test_a_manifest_of_files_with_one_unreadable(files, tmp_path, runner):
    from e2e_emotion import batch

    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("first", "second"):
        shutil.copyfile(files["mp4"], folder / f"{name}.mp4")
    (folder / "broken.mp4").write_bytes(b"not a video" * 50)
    wav, silent, _ = recorded_apart(files["mp4"], folder)  # a WAV and a silent MP4
    manifest = folder / "list.txt"
    manifest.write_text(
        "# one per line\nfirst.mp4\nbroken.mp4\n\n"
        f"{os.path.basename(wav)},{os.path.basename(silent)}\nsecond.mp4\n"
    )
    out = tmp_path / "out"
    beam_args = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    summary = batch.predict_manifest(
        manifest, files["keras"], out, runner=runner, beam_args=beam_args, face_mode="centre"
    )
    assert summary == {"done": 3, "exists": 0, "failed": 1, "failures": str(out / "failures.csv")}
    stem = os.path.splitext(os.path.basename(wav))[0]
    assert sorted(os.listdir(out)) == sorted(
        ["failures.csv", "first.csv", "second.csv", f"{stem}.csv"]
    )
    # Each CSV is what bin/predict.py writes for that file alone.
    predict.predict_file(files["mp4"], files["keras"], tmp_path / "alone.csv", None, "centre")
    alone = _read_csv(tmp_path / "alone.csv")
    for name in ("first", "second"):
        np.testing.assert_allclose(_read_csv(out / f"{name}.csv"), alone, atol=1e-5)
    pair = {"audio": str(wav), "video": str(silent)}
    predict.predict_file(pair, files["keras"], tmp_path / "pair.csv", None, "centre")
    np.testing.assert_allclose(
        _read_csv(out / f"{stem}.csv"), _read_csv(tmp_path / "pair.csv"), atol=1e-5
    )
    with open(out / "failures.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    assert rows[0] == ["file", "reason"] and len(rows) == 2
    assert rows[1][0] == str(folder / "broken.mp4") and "broken.mp4" in rows[1][1]
    # A rerun skips what is done and tries the failed file again.
    (out / "second.csv").unlink()
    again = batch.predict_manifest(
        manifest, files["keras"], out, runner=runner, beam_args=beam_args, face_mode="centre"
    )
    assert (again["done"], again["exists"], again["failed"]) == (1, 2, 1)
    np.testing.assert_allclose(_read_csv(out / "second.csv"), alone, atol=1e-5)


def test_a_manifest_and_scores_on_an_object_store(files, tmp_path):
    """Media listed, read and scored on an object store (ram:// standing in for gs://)."""
    from e2e_emotion import batch

    root = f"ram://{os.getpid()}-{tmp_path.name}"
    tf.io.gfile.makedirs(f"{root}/media")
    tf.io.gfile.copy(files["mp4"], f"{root}/media/first.mp4")
    with tf.io.gfile.GFile(f"{root}/media/broken.mp4", "wb") as stream:
        stream.write(b"not a video" * 50)
    with tf.io.gfile.GFile(f"{root}/media/list.txt", "w") as stream:
        stream.write("first.mp4\nbroken.mp4\n")
    out = f"{root}/scores"
    summary = batch.predict_manifest(
        f"{root}/media/list.txt", files["keras"], out, face_mode="centre"
    )
    assert summary == {"done": 1, "exists": 0, "failed": 1, "failures": f"{out}/failures.csv"}
    assert sorted(tf.io.gfile.listdir(out)) == ["failures.csv", "first.csv"]
    predict.predict_file(files["mp4"], files["keras"], tmp_path / "alone.csv", None, "centre")
    np.testing.assert_allclose(
        _read_csv(f"{out}/first.csv"), _read_csv(tmp_path / "alone.csv"), atol=1e-5
    )
    with tf.io.gfile.GFile(f"{out}/failures.csv") as stream:
        rows = list(csv.reader(stream.read().splitlines()))
    assert rows[1][0] == f"{root}/media/broken.mp4" and "unreadable or corrupt" in rows[1][1]
    again = batch.predict_manifest(
        f"{root}/media/list.txt", files["keras"], out, face_mode="centre"
    )
    assert (again["done"], again["exists"], again["failed"]) == (0, 1, 1)
    with pytest.raises(batch.BatchError, match="s3://b/scores: TensorFlow has no file system"):
        batch.predict_manifest(f"{root}/media/list.txt", files["keras"], "s3://b/scores")


def test_the_beam_model_handler_predicts_as_the_local_step(files, tmp_path):
    pytest.importorskip("apache_beam")
    from e2e_emotion import batch, batch_beam

    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video" * 50)
    handler = batch_beam.RecordingModelHandler(files["keras"], tmp_path / "out", "centre", 150, 0.0)
    model = handler.load_model()
    assert model.modality == "multimodal" and model.window == 150
    assert handler.batch_elements_kwargs()["max_batch_size"] == 1  # a failure names one file
    results = list(handler.run_inference([str(files["mp4"]), str(broken)], model))
    assert [r.example for r in results] == [str(files["mp4"]), str(broken)]
    assert results[0].inference == ""
    local = batch.predict_entry(model, str(broken), tmp_path / "local", "centre")
    assert results[1].inference == local and local.startswith(f"MediaError: {broken}: ")
    stem = os.path.splitext(os.path.basename(files["mp4"]))[0]
    predict.predict_file(files["mp4"], files["keras"], tmp_path / "alone.csv", None, "centre")
    np.testing.assert_allclose(
        _read_csv(tmp_path / "out" / f"{stem}.csv"), _read_csv(tmp_path / "alone.csv"), atol=1e-5
    )


def test_manifest_errors_name_the_line(tmp_path, files):
    from e2e_emotion import batch

    manifest = tmp_path / "list.txt"
    manifest.write_text("a.mp4\nb.wav,c.mp4,d.mp4\n")
    with pytest.raises(batch.BatchError, match=r"list\.txt, line 2: expected one media path"):
        batch.read_manifest(manifest)
    manifest.write_text("x/a.mp4\ny/a.mp4\n")
    with pytest.raises(batch.BatchError, match=r"lines 1 and 2: both would write a\.csv"):
        batch.read_manifest(manifest)
    manifest.write_text("# nothing\n\n")
    with pytest.raises(batch.BatchError, match="no media listed"):
        batch.read_manifest(manifest)
    with pytest.raises(batch.BatchError, match=r"--input_manifest=.*missing\.txt: cannot read"):
        batch.read_manifest(tmp_path / "missing.txt")
    manifest.write_text("a.mp4\n")
    with pytest.raises(batch.BatchError, match="Beam does not know --direct_num_worker"):
        batch.predict_manifest(
            manifest, files["keras"], tmp_path / "out", "beam", ["--direct_num_worker=2"]
        )
    assert not os.path.exists(tmp_path / "out")
    # A wrong model is found before any output, with Beam too (not by each worker).
    for runner in ("local", "beam"):
        with pytest.raises(predict.PredictError, match=r"nowhere\.keras: model not found"):
            batch.predict_manifest(manifest, tmp_path / "nowhere.keras", tmp_path / "out", runner)
        assert not os.path.exists(tmp_path / "out")
