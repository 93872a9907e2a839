"""Live loop: streamed predictions equal the offline ones, pacing, dropping, bad sources."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import cv2
import keras
import numpy as np
import pytest
from conftest import TINY, lively, recorded_apart

import e2e_emotion
from e2e_emotion import build_model, live, live_page, predict
from e2e_emotion.export import tflite
from e2e_emotion.export.saved_model import export_saved_model
from tfrecords_tools import faces, media, media_writers, schema, synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECONDS = 3.0  # 75 frames


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A synthetic MP4 (with AAC audio), its WAV, an audio and a multimodal model."""
    root = tmp_path_factory.mktemp("live")
    keras.utils.set_random_seed(21)
    paths = {"mp4": str(root / "talk.mp4"), "wav": str(root / "talk.wav")}
    synthetic.write_synthetic_recording(
        "talk",
        SECONDS,
        seed=9,
        audio_path=paths["wav"],
        video_path=paths["mp4"],
        image_size=96,
        audio_in_video=True,
    )
    paths["silent_mp4"] = str(root / "silent.mp4")
    synthetic.write_synthetic_recording(
        "silent", 1.0, seed=3, audio_path=str(root / "s.wav"), video_path=paths["silent_mp4"]
    )
    # The multimodal and paper models normalise the audio level: its state is streamed too.
    multimodal = e2e_emotion.build_model(
        "multimodal", speech_preset="reference", level_norm_frames=10, **TINY
    )
    multimodal = lively(multimodal)
    paths["multimodal"] = str(root / "multimodal.keras")
    multimodal.save(paths["multimodal"])
    tflite.convert(multimodal, root / "tflite", variants=["float32"], sequence_length=10)
    paths["stream"] = str(root / "tflite" / "stream_float32.tflite")
    paths["sequence"] = str(root / "tflite" / "sequence_float32.tflite")
    export_saved_model(multimodal, root / "export", "emotion")
    paths["saved_model"] = str(root / "export" / "emotion")  # its newest version is used
    paper_small = build_model("audio", conv2_kernel=300, lstm_units=4)
    paths["paper_saved_model"] = export_saved_model(paper_small, root / "export", "paper")
    audio = lively(e2e_emotion.build_model("audio", speech_preset="reference", lstm_units=8))
    paths["audio"] = str(root / "audio.keras")
    audio.save(paths["audio"])
    tflite.convert(audio, root / "audio_tflite", kinds=["stream"], variants=["int8"])
    paths["audio_int8"] = str(root / "audio_tflite" / "stream_int8.tflite")
    paper = e2e_emotion.build_model(
        "audio", speech_preset="paper", level_norm_frames=10, lstm_units=4
    )
    paper = lively(paper)
    paths["paper"] = str(root / "paper.keras")
    paper.save(paths["paper"])
    return paths


def _stream(source, model, **kwargs):
    rows = []
    summary = live.run(source, model, on_frame=rows.append, **kwargs)
    return rows, summary


def _offline(media_path, model_path):
    predictor = predict.load_predictor(model_path, sequence_length=None)
    inputs, _ = predict.read_inputs(media_path, predictor.needs, schema.DEFAULT_FACE_MODE)
    return np.asarray(predictor.predict(inputs))


@pytest.mark.parametrize(
    ("media_key", "model_key"),
    [
        ("wav", "audio"),
        ("mp4", "multimodal"),
        ("mp4", "stream"),
        ("mp4", "saved_model"),
        ("wav", "paper"),
    ],
)
def test_streamed_predictions_equal_offline_predict(files, media_key, model_key):
    """Frame by frame with the state carried = bin/predict.py --sequence_length=0."""
    rows, summary = _stream(files[media_key], files[model_key])
    expected = _offline(files[media_key], files[model_key])
    got = np.array([[row["arousal"], row["valence"]] for row in rows])
    assert len(got) == len(expected) == summary["frames"] == 75
    assert [row["frame"] for row in rows] == list(range(75))
    np.testing.assert_allclose([row["time"] for row in rows], np.arange(75) * 0.04, atol=1e-9)
    assert np.std(expected) > 0.05  # the model's outputs move
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert summary["dropped"] == 0 and not summary["interrupted"]
    # The paper preset's kernels reach 4042 samples ahead: 7 frames of look-ahead.
    assert summary["lookahead_ms"] == (280 if model_key == "paper" else 0)
    if model_key not in ("audio", "paper"):
        assert all(row["face"] for row in rows)  # the synthetic face is found every frame
    else:
        assert all(row["face"] is None for row in rows)


def test_audio_and_video_frames_are_those_of_the_file_readers(files):
    """The live reader's samples and crops equal read_audio / iter_video_frames + crop."""
    frames = list(live.iter_frames(files["mp4"], ("audio", "video")))
    samples = media.read_audio(files["mp4"])
    cropper = faces.FaceCropper(size=96)
    crops = [cropper.crop(frame) for _, frame in media.iter_video_frames(files["mp4"])]
    assert len(frames) == min(len(samples) // 640, len(crops)) == 75
    for frame in frames:
        np.testing.assert_array_equal(
            frame.audio, samples[frame.index * 640 : (frame.index + 1) * 640]
        )
        np.testing.assert_array_equal(frame.video, crops[frame.index])


class FakeClock:
    """Monotonic time that moves only when slept or told to: no wall clock in the test."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        self.now += seconds


def test_realtime_paces_the_file_and_drops_video_when_behind(files, monkeypatch):
    clock = FakeClock()
    # Pacing: a fast model waits for each frame's time; latency is the model's (0 here).
    rows, summary = _stream(
        files["mp4"], files["stream"], realtime=True, clock=clock, sleep=clock.sleep
    )
    assert summary["frames"] == 75 and summary["dropped"] == 0
    assert clock.now == pytest.approx(100.0 + 75 * 0.04)  # the file took its own 3 s
    assert summary["latency_ms"]["max"] == pytest.approx(0.0, abs=1e-6)
    # A face crop that costs 100 ms (2.5 frames): behind by more than max_lag, video
    # frames are dropped (the last crop reused), audio never, and latency stays bounded.
    crop = faces.FaceCropper.crop

    def slow_crop(self, frame):
        clock.now += 0.1
        return crop(self, frame)

    monkeypatch.setattr(faces.FaceCropper, "crop", slow_crop)
    clock.now = 100.0
    rows, summary = _stream(
        files["mp4"], files["stream"], realtime=True, max_lag=0.2, clock=clock, sleep=clock.sleep
    )
    dropped = [row for row in rows if row["dropped"]]
    assert summary["frames"] == 75 and summary["dropped"] == len(dropped) > 30
    assert all(row["face"] is None for row in dropped)
    # At most max_lag behind before a crop, plus the crop: 300 ms (without dropping the
    # lag would grow to 75 x 0.1 - 3 = 4.5 s).
    assert 200 < summary["latency_ms"]["max"] <= 300 + 1e-3
    # A Keras model does not run its visual network on a dropped frame either: it reuses
    # the last frame's visual features.
    clock.now = 100.0
    model = live.open_stream_model(files["multimodal"])
    rows, summary = _stream(
        files["mp4"], model, realtime=True, max_lag=0.2, clock=clock, sleep=clock.sleep
    )
    assert summary["frames"] == 75 and summary["dropped"] > 30
    assert model.visual_runs == 75 - summary["dropped"]


def test_audio_and_video_sources_apart_equal_the_muxed_file(files, tmp_path):
    """A WAV and a silent MP4 read as two sources, each on its own clock, give the
    predictions of the same recording muxed into one file; the sources are checked as
    one is."""
    wav, silent, muxed = recorded_apart(files["mp4"], tmp_path)
    together, _ = _stream(str(muxed), files["multimodal"])
    apart, summary = _stream({"audio": str(wav), "video": str(silent)}, files["multimodal"])
    assert len(apart) == len(together) == summary["frames"] == 75
    assert summary["source"] == f"{wav} + {silent}"
    values = np.array([[row["arousal"], row["valence"]] for row in apart])
    expected = np.array([[row["arousal"], row["valence"]] for row in together])
    assert np.std(expected) > 0.05
    np.testing.assert_allclose(values, expected, atol=1e-4)
    assert [row["face"] for row in apart] == [row["face"] for row in together]
    with pytest.raises(live.LiveError, match=r"missing\.wav: no such file"):
        _stream({"audio": str(tmp_path / "missing.wav"), "video": str(silent)}, files["audio"])
    with pytest.raises(live.LiveError, match=r"v\.mp4: the model needs audio but the source"):
        _stream({"audio": str(silent), "video": files["mp4"]}, files["multimodal"])
    with pytest.raises(live.LiveError, match="the model needs video: give --video_source"):
        _stream({"audio": str(wav)}, files["multimodal"])


def test_bad_sources_and_models(files, tmp_path):
    with pytest.raises(live.LiveError, match="no such file"):
        _stream(str(tmp_path / "missing.mp4"), files["audio"])
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all" * 100)
    with pytest.raises(live.LiveError, match="garbage.mp4: cannot open"):
        _stream(str(garbage), files["audio"])
    with pytest.raises(live.LiveError, match="needs audio but the source has no audio"):
        _stream(files["silent_mp4"], files["audio"])
    with pytest.raises(live.LiveError, match="needs video but the source has no video"):
        _stream(files["wav"], files["multimodal"])
    with pytest.raises(live.LiveError, match="a sequence model.*--kind=stream"):
        _stream(files["wav"], files["sequence"])
    short = tmp_path / "short.wav"
    media_writers.write_wav(short, np.zeros(300, np.float32), 16000)  # less than one 40 ms frame
    with pytest.raises(live.LiveError, match="short.wav: the stream ended before one 40 ms frame"):
        _stream(str(short), files["audio"])
    with pytest.raises(live.LiveError, match=f"{tmp_path}: cannot open"):
        _stream(str(tmp_path), files["audio"])  # a directory
    with pytest.raises(live.LiveError, match="no 'stream' signature"):
        _stream(files["wav"], files["paper_saved_model"])
    with pytest.raises(live.LiveError, match="model not found"):
        _stream(files["wav"], str(tmp_path / "nothing.keras"))


def test_a_stalled_network_source_times_out():
    """A server that accepts and never answers: an error after --timeout, no hang."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    try:
        with pytest.raises(live.LiveError, match=f"127.0.0.1:{port}/stream: cannot open"):
            list(live.iter_frames(f"http://127.0.0.1:{port}/stream", ("audio",), timeout=1.0))
    finally:
        for connection, _ in accepted:
            connection.close()
        server.close()


def _resident_mb():
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_twenty_minutes_at_full_speed_keep_memory_flat(files):
    """Twenty minutes of generated audio (an FFmpeg filter graph, no file): 30,000 frames,
    every one predicted, resident memory grows by less than 50 MB after the first thousand
    (a leak of a few kilobytes per frame would show)."""
    resident = {}

    def on_frame(row):
        if row["frame"] in (1000, 29_999):
            resident[row["frame"]] = _resident_mb()

    summary = live.run(
        "lavfi:anoisesrc=d=1200:c=pink:r=44100:a=0.2", files["audio_int8"], on_frame=on_frame
    )
    assert summary["frames"] == 30_000 and summary["dropped"] == 0
    assert resident[29_999] - resident[1000] < 50, resident


def _live_script(*arguments):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "live.py"), *arguments],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_script_writes_json_lines_csv_and_a_summary(files, tmp_path):
    csv_path = tmp_path / "live.csv"
    source, model = f"--source={files['wav']}", f"--model={files['audio']}"
    result = _live_script(source, model, "--max_frames=10", f"--output_csv={csv_path}")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["frame"] for row in rows] == list(range(10))
    assert set(rows[0]) == {"frame", "time", "arousal", "valence", "face", "dropped", "latency_ms"}
    summary = json.loads(result.stderr.strip().splitlines()[-1])
    assert summary["frames"] == 10 and summary["modality"] == "audio"
    lines = csv_path.read_text().splitlines()
    assert lines[0] == "frame,time,arousal,valence" and len(lines) == 11
    first = lines[1].split(",")
    assert float(first[2]) == pytest.approx(rows[0]["arousal"], abs=1e-6)
    bad = _live_script(f"--source={tmp_path / 'none.wav'}", model)
    assert bad.returncode == 1 and "error:" in bad.stderr and "none.wav: no such file" in bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        served = _live_script(source, model, f"--serve=127.0.0.1:{port}")
    assert served.returncode == 1, served.stderr
    assert served.stderr.strip().splitlines()[-1] == (
        f"error: --serve: port {port} on 127.0.0.1 is in use"
    )


# -- the live page -------------------------------------------------------------------------


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("Content-Type"), response.read()


def _events(url, count):
    """The first `count` server-sent events of `url`: [(event, data), ...]."""
    found = []
    with urllib.request.urlopen(url, timeout=30) as response:
        kind = None
        while len(found) < count:
            line = response.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line[len("event: ") :]
            elif line.startswith("data: "):
                found.append((kind, json.loads(line[len("data: ") :])))
    return found


def test_page_serves_the_page_events_face_and_status(files):
    page = live_page.LivePage("127.0.0.1:0")
    url = page.start()
    try:
        crop = np.full((96, 96, 3), 120, np.uint8)
        rows = [
            {
                "frame": i,
                "time": i * 0.04,
                "arousal": 0.1 * i,
                "valence": -0.1 * i,
                "face": True,
                "dropped": i == 2,
                "latency_ms": 1.5,
            }
            for i in range(3)
        ]
        for row in rows:
            page.publish(row, crop)
        status, kind, body = _get(url)
        assert status == 200 and kind.startswith("text/html")
        assert b'<canvas id="curves"' in body and b'new EventSource("events")' in body
        assert b"http" not in body.split(b"<script>")[1]  # nothing fetched from elsewhere
        status, kind, body = _get(url + "face.jpg")
        assert kind == "image/jpeg" and body[:2] == b"\xff\xd8"
        assert json.loads(_get(url + "status.json")[2]) == {
            "frames": 3,
            "dropped": 1,
            "ended": False,
            "latency_ms": 1.5,
        }
        # The sources it reads (the audio and the video apart, here) are on the page.
        page.set_source("a.wav + v.mp4")
        assert json.loads(_get(url + "status.json")[2])["source"] == "a.wav + v.mp4"
        assert b'<td id="source">' in _get(url)[2]
        page.end({"frames": 3})
        (history, got), (end, status) = _events(url + "events", 2)
        assert (history, end) == ("history", "end")
        assert got == rows and status["ended"] and status["summary"] == {"frames": 3}
    finally:
        page.stop()
    with pytest.raises(urllib.error.URLError):
        _get(url + "status.json")
    # The port is free again: a new page starts on it.
    again = live_page.LivePage(f"127.0.0.1:{page.port}")
    assert again.start() == url
    again.stop()


def test_page_address_errors():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(live_page.PageError, match=f"port {port} on 127.0.0.1 is in use"):
            live_page.LivePage(f"127.0.0.1:{port}").start()
    for bad in ("8080", "localhost", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(live_page.PageError, match="expected HOST:PORT"):
            live_page.LivePage(bad)


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
    "--window-size=1200,700",
]


def _chromium(tmp_path, *arguments):
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is installed by the test command, .ci/test"
    profile = tmp_path / f"profile_{len(list(tmp_path.iterdir()))}"
    result = subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *arguments],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_a_real_browser_draws_the_stream(files, tmp_path):
    """Headless Chromium loads the page of a multimodal stream: DOM and pixels."""
    page = live_page.LivePage("127.0.0.1:0")
    url = page.start()
    try:
        summary = live.run(files["mp4"], files["stream"], page=page)
        assert summary["frames"] == 75
        dom = _chromium(tmp_path, "--dump-dom", url)
        shown = {
            key: re.search(f'id="{key}">([^<]*)<', dom).group(1)
            for key in ("status", "frames", "time", "dropped")
        }
        assert shown == {"status": "ended", "frames": "75", "time": "2.96 s", "dropped": "0"}
        assert re.search(r'id="face"[^>]*src="face.jpg\?70"', dom), dom
        _chromium(tmp_path, f"--screenshot={tmp_path / 'page.png'}", url)
        shot = cv2.imread(str(tmp_path / "page.png"))[:, :, ::-1]  # RGB
        assert shot.shape[:2] == (700, 1200)

        def pixels(colour):
            return int((np.abs(shot.astype(int) - colour).sum(axis=2) < 40).sum())

        assert pixels((214, 39, 40)) > 150  # the arousal curve
        assert pixels((31, 119, 180)) > 150  # the valence curve
        assert pixels((44, 160, 44)) > 50  # the point on the circumplex plane
    finally:
        page.stop()
