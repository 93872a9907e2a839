"""Tests for tfrecords_tools.synthetic: layout, ARFF, determinism, learnable relation."""

import json
import wave

import numpy as np
import pytest

from tfrecords_tools import faces, media, synthetic

_HEADER = [
    "@relation GoldStandard",
    "",
    "@attribute Instance_name string",
    "@attribute frameTime numeric",
    "@attribute GoldStandard numeric",
    "",
    "@data",
    "",
]


def _small_corpus(root, seed=0, **kwargs):
    options = dict(num_train=1, num_dev=1, num_test=1, seconds=2.0, seed=seed, image_size=64)
    options.update(kwargs)
    return synthetic.write_synthetic_corpus(root, **options)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpora") / "synthetic"
    ids = _small_corpus(root)
    return root, ids


def _files(root):
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def _read_arff_rows(path):
    lines = path.read_text().splitlines()
    assert lines[: len(_HEADER)] == _HEADER
    rows = [line.split(",") for line in lines[len(_HEADER) :]]
    return rows


def test_layout(corpus):
    root, ids = corpus
    assert ids == ["train_1", "dev_1", "test_1"]
    assert _files(root) == [
        "ratings_gold_standard/arousal/dev_1.arff",
        "ratings_gold_standard/arousal/train_1.arff",
        "ratings_gold_standard/valence/dev_1.arff",
        "ratings_gold_standard/valence/train_1.arff",
        "recordings_audio/dev_1.wav",
        "recordings_audio/test_1.wav",
        "recordings_audio/train_1.wav",
        "recordings_video/dev_1.mp4",
        "recordings_video/test_1.mp4",
        "recordings_video/train_1.mp4",
        synthetic.MARKER_FILE,
    ]
    marker = json.loads((root / synthetic.MARKER_FILE).read_text())
    assert marker["recordings"] == ids and marker["num_label_frames"] == 50
    # No staging directory is left beside the corpus.
    assert [path.name for path in root.parent.iterdir()] == ["synthetic"]


def test_arff_files(corpus):
    root, _ = corpus
    rows = _read_arff_rows(root / "ratings_gold_standard/valence/dev_1.arff")
    assert len(rows) == 50  # round(2.0 s / 0.04 s)
    assert [row[0] for row in rows] == ["'dev_1'"] * 50
    times = np.array([float(row[1]) for row in rows])
    np.testing.assert_allclose(times, np.arange(50) * 0.04, atol=1e-9)
    assert rows[1][1] == "0.040000"
    values = np.array([float(row[2]) for row in rows])
    assert np.all(np.abs(values) <= 1.0) and np.std(values) > 0.0


def test_media_files(corpus):
    root, _ = corpus
    with wave.open(str(root / "recordings_audio/train_1.wav")) as sound:
        assert (sound.getframerate(), sound.getnchannels(), sound.getsampwidth()) == (16000, 1, 2)
        assert sound.getnframes() == 50 * media.FRAME_LENGTH
    info = media.probe(root / "recordings_video/test_1.mp4")
    assert (info.video_fps, info.width, info.height, info.video_frames) == (25.0, 64, 64, 50)
    assert not info.has_audio
    assert media.read_video_frames(root / "recordings_video/test_1.mp4").shape == (50, 64, 64, 3)


def test_same_seed_same_corpus(corpus, tmp_path):
    root, _ = corpus
    again = tmp_path / "again"
    _small_corpus(again)
    for name in _files(root):
        assert (root / name).read_bytes() == (again / name).read_bytes(), name
    video = "recordings_video/dev_1.mp4"
    np.testing.assert_array_equal(
        media.read_video_frames(root / video), media.read_video_frames(again / video)
    )
    other = tmp_path / "other"
    _small_corpus(other, seed=1)
    for name in ("recordings_audio/train_1.wav", "ratings_gold_standard/arousal/train_1.arff"):
        assert (root / name).read_bytes() != (other / name).read_bytes()


def test_refuses_non_empty_directory(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(FileExistsError, match="synthetic.*not empty.*overwrite=True"):
        _small_corpus(root)
    # An unrelated directory is never deleted, even with overwrite=True.
    unrelated = tmp_path / "mine"
    unrelated.mkdir()
    (unrelated / "thesis.tex").write_text("precious")
    with pytest.raises(FileExistsError, match="mine: not a synthetic corpus"):
        _small_corpus(unrelated, overwrite=True)
    assert (unrelated / "thesis.tex").read_text() == "precious"
    # An empty directory is fine; a corpus is replaced with overwrite=True.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert _small_corpus(empty, num_dev=0, num_test=0) == ["train_1"]
    assert _small_corpus(empty, num_train=0, num_test=0, overwrite=True) == ["dev_1"]
    assert not (empty / "recordings_audio/train_1.wav").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty", "mine"]


def test_interrupted_run_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "write_synthetic_recording", fail)
    with pytest.raises(KeyboardInterrupt):
        _small_corpus(tmp_path / "corpus")
    assert list(tmp_path.iterdir()) == []


def test_labels():
    labels = synthetic.synthetic_labels(1000, seed=4)
    assert labels.shape == (1000, 2) and labels.dtype == np.float32
    assert np.max(np.abs(labels)) == pytest.approx(0.9, abs=1e-6)
    assert np.all(np.abs(np.diff(labels, axis=0)) < 0.05)  # smooth at 40 ms
    assert abs(np.corrcoef(labels.T)[0, 1]) < 0.9  # arousal and valence independent
    np.testing.assert_array_equal(labels, synthetic.synthetic_labels(1000, seed=4))
    assert not np.array_equal(labels, synthetic.synthetic_labels(1000, seed=5))
    np.testing.assert_array_equal(labels, np.round(labels.astype(np.float64), 6).astype(np.float32))


def test_audio_loudness_follows_arousal():
    arousal = synthetic.synthetic_labels(500, seed=2)[:, 0]
    audio = synthetic.synthetic_audio(arousal, seed=2)
    assert audio.shape == (500 * 640,) and audio.dtype == np.float32
    assert np.max(np.abs(audio)) <= 1.0
    rms = np.sqrt(np.mean(audio.reshape(500, 640) ** 2, axis=1))
    assert np.corrcoef(rms, arousal)[0, 1] > 0.85  # measured 0.92


def test_audio_pitch_follows_arousal():
    low = synthetic.synthetic_audio(np.full(25, -1.0))
    high = synthetic.synthetic_audio(np.full(25, 1.0))

    def f0(samples):
        spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
        return np.fft.rfftfreq(len(samples), 1 / 16000)[np.argmax(spectrum)]

    assert f0(low) == pytest.approx(90.0, abs=2.0)
    assert f0(high) == pytest.approx(210.0, abs=2.0)


def test_stereo_44k_audio_file(tmp_path):
    path = tmp_path / "stereo.wav"
    labels = synthetic.write_synthetic_recording(
        "stereo", seconds=1.0, seed=3, audio_path=path, sample_rate=44100, audio_channels=2
    )
    assert labels.shape == (25, 2)
    with wave.open(str(path)) as sound:
        assert (sound.getframerate(), sound.getnchannels(), sound.getnframes()) == (44100, 2, 44100)
    assert abs(len(media.read_audio(path)) - 16000) <= 1


def test_face_follows_valence():
    labels = synthetic.synthetic_labels(100, seed=6)
    frames = synthetic.synthetic_frames(labels[:, 1], labels[:, 0], size=96, seed=6)
    assert frames.shape == (100, 96, 96, 3) and frames.dtype == np.uint8
    cropper = faces.FaceCropper(size=48)
    crops = np.stack([cropper.crop(frame) for frame in frames])
    assert cropper.missed_fraction < 0.1  # measured 0.0
    brightness = crops.reshape(100, -1).mean(axis=1)
    assert np.corrcoef(brightness, labels[:, 1])[0, 1] > 0.9


def test_mouth_shape_follows_valence_beyond_lighting():
    smile, frown = (
        synthetic.synthetic_frames(np.full(1, v), np.zeros(1), size=160, seed=0)[0] / 1.0
        for v in (0.8, -0.8)
    )
    # Undo the lighting (x 1.16 and x 0.84), then compare regions of the face.
    difference = np.abs(smile / 1.16 - frown / 0.84).mean(axis=2)
    mouth = difference[98:118, 60:100].mean()  # mouth near y = 107
    eyes = difference[66:86, 50:110].mean()  # eyes near y = 76
    assert mouth > 5 * eyes and mouth > 10


def test_frames_at_any_fps_follow_labels_by_timestamp(tmp_path):
    ramp = np.linspace(-0.9, 0.9, 50)  # 2 s of valence
    frames = synthetic.synthetic_frames(ramp, np.zeros(50), fps=30, size=64, seed=1)
    assert len(frames) == 60
    path = tmp_path / "thirty.mp4"
    synthetic.write_synthetic_recording(
        "thirty", seconds=2.0, seed=1, video_path=path, fps=30, image_size=64, audio_in_video=True
    )
    info = media.probe(path)
    assert info.video_fps == pytest.approx(30.0) and info.has_audio
    steps = media.read_video_frames(path)
    assert steps.shape == (50, 64, 64, 3)
    valence = synthetic.synthetic_labels(50, seed=1)[:, 1]
    # Step k shows the frame drawn at floor(k * 0.04 * 30) / 30 s.
    shown = valence[np.minimum(np.floor(np.arange(50) * 1.2 + 1e-6) / 1.2, 49).astype(int)]
    brightness = steps.reshape(50, -1).mean(axis=1)
    assert np.corrcoef(brightness, shown)[0, 1] > 0.95
    assert abs(len(media.read_audio(path)) - 32000) <= 1
