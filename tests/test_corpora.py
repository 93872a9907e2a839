"""Tests for tfrecords_tools.corpora: AVEC 2016, full RECOLA and manifest readers."""

import logging
import os

import numpy as np
import pytest

from tfrecords_tools.corpora import (
    CorpusError,
    Recording,
    read_avec2016,
    read_manifest,
    read_recola,
    summarize,
)
from tfrecords_tools.labels import LabelError, LabelTrack, write_arff

# Media decoding is another module's job: placeholder bytes are enough here.
PLACEHOLDER = b"\x00placeholder"


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(PLACEHOLDER)
    return path


def _values(recording_id, dimension, n=5):
    # Distinct, recognisable values per recording and dimension.
    base = (sum(map(ord, recording_id)) % 97) / 100 + (0.5 if dimension == "valence" else 0)
    return np.float32(base + 0.01 * np.arange(n))


def _avec(root, ids, modalities=("audio", "video"), labelled=None, n=5):
    """AVEC 2016 layout; labels written for train/dev ids (or `labelled`)."""
    for recording_id in ids:
        if "audio" in modalities:
            _touch(root / "recordings_audio" / f"{recording_id}.wav")
        if "video" in modalities:
            _touch(root / "recordings_video" / f"{recording_id}.mp4")
    for recording_id in labelled if labelled is not None else ids:
        if recording_id.startswith("test"):
            continue
        for dimension in ("arousal", "valence"):
            directory = root / "ratings_gold_standard" / dimension
            directory.mkdir(parents=True, exist_ok=True)
            write_arff(
                directory / f"{recording_id}.arff",
                recording_id,
                _values(recording_id, dimension, n),
            )
    return root


ALL_IDS = ["train_1", "train_2", "train_10", "dev_1", "dev_3", "test_1", "test_2"]


def test_avec2016_full(tmp_path):
    root = _avec(tmp_path / "avec", ALL_IDS)
    recordings = read_avec2016(root)
    assert [r.id for r in recordings] == [
        "train_1",
        "train_2",
        "train_10",
        "dev_1",
        "dev_3",
        "test_1",
        "test_2",
    ]
    assert [r.split for r in recordings] == ["train"] * 3 + ["dev"] * 2 + ["test"] * 2
    train_10 = recordings[2]
    assert train_10.audio_path == str(root / "recordings_audio" / "train_10.wav")
    assert train_10.video_path == str(root / "recordings_video" / "train_10.mp4")
    assert os.path.isabs(train_10.audio_path)
    assert train_10.modalities == ("audio", "video")
    assert set(train_10.labels) == {"arousal", "valence"}
    np.testing.assert_array_equal(train_10.labels["valence"].values, _values("train_10", "valence"))
    assert train_10.labels["arousal"].source.endswith(
        os.path.join("ratings_gold_standard", "arousal", "train_10.arff")
    )
    assert recordings[-1].labels is None and recordings[-2].labels is None
    assert summarize(recordings) == {
        "num_recordings": 7,
        "splits": {
            "train": {
                "recordings": 3,
                "audio": 3,
                "video": 3,
                "audiovisual": 3,
                "labelled": 3,
                "label_values": 15,
            },
            "dev": {
                "recordings": 2,
                "audio": 2,
                "video": 2,
                "audiovisual": 2,
                "labelled": 2,
                "label_values": 10,
            },
            "test": {
                "recordings": 2,
                "audio": 2,
                "video": 2,
                "audiovisual": 2,
                "labelled": 0,
                "label_values": 0,
            },
        },
    }


def test_avec2016_split_order_and_selection(tmp_path):
    root = _avec(tmp_path, ALL_IDS)
    assert [r.id for r in read_avec2016(root, splits=("dev", "train"))] == [
        "dev_1",
        "dev_3",
        "train_1",
        "train_2",
        "train_10",
    ]
    assert [r.id for r in read_avec2016(root, splits=["test"])] == ["test_1", "test_2"]


def test_avec2016_audio_only_and_video_only(tmp_path):
    audio_root = _avec(tmp_path / "a", ["train_1", "dev_1"], modalities=("audio",))
    recordings = read_avec2016(audio_root, splits=("train", "dev"), modalities=("audio",))
    assert [(r.id, r.modalities, r.video_path) for r in recordings] == [
        ("train_1", ("audio",), None),
        ("dev_1", ("audio",), None),
    ]
    assert summarize(recordings)["splits"]["train"]["video"] == 0
    with pytest.raises(CorpusError, match=r"recordings_video does not exist: needed for modality"):
        read_avec2016(audio_root, splits=("train", "dev"))

    video_root = _avec(tmp_path / "v", ["train_1"], modalities=("video",))
    (recording,) = read_avec2016(video_root, splits=("train",), modalities="video")
    assert recording.audio_path is None and recording.video_path.endswith("train_1.mp4")


def test_avec2016_test_labels_used_when_present(tmp_path):
    root = _avec(tmp_path, ["train_1", "dev_1", "test_1"])
    for dimension in ("arousal", "valence"):
        write_arff(
            root / "ratings_gold_standard" / dimension / "test_1.arff",
            "test_1",
            _values("test_1", dimension),
        )
    test_1 = read_avec2016(root)[-1]
    np.testing.assert_array_equal(test_1.labels["arousal"].values, _values("test_1", "arousal"))
    # Only one dimension present is an error.
    os.remove(root / "ratings_gold_standard" / "valence" / "test_1.arff")
    with pytest.raises(CorpusError, match=r"test_1: label file .*valence.test_1\.arff is missing"):
        read_avec2016(root)


def test_avec2016_missing_files(tmp_path):
    root = _avec(tmp_path, ["train_1", "train_2", "dev_1", "test_1"])
    os.remove(root / "ratings_gold_standard" / "arousal" / "train_2.arff")
    expected = str(root / "ratings_gold_standard" / "arousal" / "train_2.arff")
    with pytest.raises(CorpusError) as info:
        read_avec2016(root)
    assert str(info.value) == f"recording train_2: label file {expected} is missing"

    root = _avec(tmp_path / "b", ["train_1", "dev_1", "test_1"])
    os.remove(root / "recordings_video" / "dev_1.mp4")
    with pytest.raises(CorpusError) as info:
        read_avec2016(root)
    expected = str(root / "recordings_video" / "dev_1.mp4")
    assert f"recording dev_1: video file {expected} is missing" in str(info.value)
    # Without the video modality the corpus is complete.
    assert len(read_avec2016(root, modalities=("audio",))) == 3
    # Audio only, a WAV missing whose video exists: named, not dropped without a word.
    os.remove(root / "recordings_audio" / "train_1.wav")
    wav = root / "recordings_audio" / "train_1.wav"
    mp4 = root / "recordings_video" / "train_1.mp4"
    reason = f"recording train_1: audio file {wav} is missing ({mp4} exists)"
    with pytest.raises(CorpusError) as info:
        read_avec2016(root, modalities=("audio",))
    assert str(info.value) == f"{reason}; add it, or pass --on_error=skip to convert the others"
    dropped = {}
    kept = read_avec2016(root, modalities=("audio",), dropped=dropped)
    assert [r.id for r in kept] == ["dev_1", "test_1"] and dropped == {"train_1": reason}


def test_avec2016_bad_root_and_arguments(tmp_path):
    with pytest.raises(CorpusError, match=r"root directory .*nowhere does not exist"):
        read_avec2016(tmp_path / "nowhere")
    root = _avec(tmp_path / "c", ["train_1", "dev_1"])
    with pytest.raises(CorpusError, match=r"no recordings of split\(s\) test in .*test_1\.wav"):
        read_avec2016(root)
    with pytest.raises(CorpusError, match="splits must be a non-empty list"):
        read_avec2016(root, splits=("train", "validation"))
    with pytest.raises(CorpusError, match="modalities must be"):
        read_avec2016(root, modalities=("audio", "text"))
    with pytest.raises(CorpusError, match="modalities must be"):
        read_avec2016(root, modalities=())


def test_avec2016_label_errors_propagate(tmp_path):
    root = _avec(tmp_path, ["train_1", "dev_1", "test_1"])
    # ARFF whose instance name does not match its file name.
    write_arff(root / "ratings_gold_standard" / "valence" / "dev_1.arff", "dev_2", [0.1] * 5)
    with pytest.raises(LabelError, match=r"dev_1\.arff, line 9: instance name 'dev_2'"):
        read_avec2016(root)
    write_arff(root / "ratings_gold_standard" / "valence" / "dev_1.arff", "dev_1", [0.1] * 4)
    with pytest.raises(CorpusError, match=r"'dev_1': arousal has 5 values .* valence has 4"):
        read_avec2016(root)


def test_avec2016_unknown_files_warned(tmp_path, caplog):
    root = _avec(tmp_path, ["train_1", "dev_1", "test_1"])
    _touch(root / "recordings_audio" / "notes.txt")
    _touch(root / "recordings_audio" / "train_final.wav")
    _touch(root / "recordings_audio" / ".DS_Store")
    _touch(root / "ratings_gold_standard" / "arousal" / "train_7.arff")  # no media
    with caplog.at_level(logging.WARNING, logger="tfrecords_tools.corpora"):
        recordings = read_avec2016(root, modalities=("audio",))
    assert [r.id for r in recordings] == ["train_1", "dev_1", "test_1"]
    (record,) = caplog.records
    message = record.getMessage()
    assert "3 file(s) skipped" in message
    for name in ("notes.txt", "train_final.wav", "train_7.arff"):
        assert name in message
    assert ".DS_Store" not in message


# ------------------------------------------------------------------------------ RECOLA

ANNOTATORS = ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")


def _recola(root, subjects, n=4, audio_dir=None):
    rng = np.random.default_rng(3)
    expected = {}
    for subject in subjects:
        _touch(root / "Video_recordings_MP4" / f"{subject}.mp4")
        if audio_dir:
            _touch(root / audio_dir / f"{subject}.wav")
        for dimension in ("arousal", "valence"):
            ratings = np.round(rng.uniform(-0.3, 0.3, (n, 6)), 4)
            expected[subject, dimension] = ratings
            lines = ["time," + ",".join(ANNOTATORS)]
            lines += [
                f"{k * 0.04:.2f}," + ",".join(f"{v:.4f}" for v in row)
                for k, row in enumerate(ratings)
            ]
            path = root / "Ratings_affective_behaviour_CCC_centred" / dimension / f"{subject}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n")
    return expected


def test_recola(tmp_path):
    expected = _recola(tmp_path, ["P16", "P17", "P19"])
    recordings = read_recola(tmp_path, {"train": ["P17", "P16"], "dev": ["P19"]})
    assert [(r.id, r.split) for r in recordings] == [
        ("P17", "train"),
        ("P16", "train"),
        ("P19", "dev"),
    ]
    p16 = recordings[1]
    assert p16.video_path == str(tmp_path / "Video_recordings_MP4" / "P16.mp4")
    assert p16.audio_path == p16.video_path  # audio from the video's track
    np.testing.assert_allclose(
        p16.labels["arousal"].values, expected["P16", "arousal"].mean(axis=1), atol=1e-6
    )
    np.testing.assert_allclose(p16.labels["arousal"].times, np.arange(4) * 0.04)

    (one,) = read_recola(tmp_path, {"train": ["P16"]}, annotator="FF2")
    np.testing.assert_allclose(
        one.labels["valence"].values, expected["P16", "valence"][:, 4], atol=1e-7
    )
    with pytest.raises(LabelError, match=r"P16\.csv: column 'XX' not found; available columns"):
        read_recola(tmp_path, {"train": ["P16"]}, annotator="XX")


def test_recola_audio_dir(tmp_path):
    _recola(tmp_path, ["P16"], audio_dir="wav16k")
    (recording,) = read_recola(tmp_path, {"train": ["P16"]}, audio_dir="wav16k")
    assert recording.audio_path == str(tmp_path / "wav16k" / "P16.wav")
    assert recording.video_path.endswith("P16.mp4")
    (audio_only,) = read_recola(tmp_path, {"dev": ["P16"]}, audio_dir="wav16k", video_dir=None)
    assert audio_only.modalities == ("audio",)


def test_recola_errors(tmp_path):
    _recola(tmp_path, ["P16"])
    with pytest.raises(CorpusError) as info:
        read_recola(tmp_path, {"train": ["P16", "P99"]})
    message = str(info.value)
    assert message.startswith("subject 'P99' (split 'train'): missing ")
    for name in ("P99.mp4", os.path.join("arousal", "P99.csv"), os.path.join("valence", "P99.csv")):
        assert name in message
    with pytest.raises(CorpusError, match="'P16' is listed in split 'train' and in 'dev'"):
        read_recola(tmp_path, {"train": ["P16"], "dev": ["P16"]})
    with pytest.raises(CorpusError, match="non-empty list of subject ids"):
        read_recola(tmp_path, {"train": []})
    with pytest.raises(CorpusError, match="non-empty list of subject ids"):
        read_recola(tmp_path, {"train": "P16"})
    with pytest.raises(CorpusError, match="splits must map"):
        read_recola(tmp_path, {})
    with pytest.raises(CorpusError, match="does not exist"):
        read_recola(tmp_path / "nowhere", {"train": ["P16"]})
    # Test subjects without ratings are fine.
    _touch(tmp_path / "Video_recordings_MP4" / "P50.mp4")
    (test,) = read_recola(tmp_path, {"test": ["P50"]})
    assert test.labels is None


# ------------------------------------------------------------------------------ manifest

HEADER = "recording_id,split,audio_path,video_path,label_path,arousal_column,valence_column\n"


def _labels_csv(path, n=3):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["time,arousal,valence,a2"]
    lines += [f"{k * 0.04:.2f},{0.1 * k:.2f},{-0.1 * k:.2f},{0.5:.2f}" for k in range(n)]
    path.write_text("\n".join(lines) + "\n")


def test_manifest(tmp_path):
    _touch(tmp_path / "media" / "s1.wav")
    _touch(tmp_path / "media" / "s1.mp4")
    _touch(tmp_path / "media" / "s2.wav")
    _touch(tmp_path / "media" / "s3.mp4")
    _labels_csv(tmp_path / "labels" / "s1.csv")
    _labels_csv(tmp_path / "labels" / "s2.csv")
    for dimension in ("arousal", "valence"):
        (tmp_path / "gold" / dimension).mkdir(parents=True)
        write_arff(tmp_path / "gold" / dimension / "s3.arff", "s3", [0.25, 0.5])
    absolute = tmp_path / "media" / "s2.wav"
    manifest = tmp_path / "corpus.csv"
    manifest.write_text(
        HEADER + "s1,train,media/s1.wav,media/s1.mp4,labels/s1.csv,,\n"
        f"s2,train,{absolute},,labels/s2.csv,a2,valence\n"
        "\n"
        "s3,dev,,media/s3.mp4,gold/{dimension}/s3.arff,,\n"
        "s4,test,media/s2.wav,,,,\n"
    )
    # Read from another working directory: paths are relative to the manifest.
    cwd = os.getcwd()
    os.chdir(tmp_path / "media")
    try:
        recordings = read_manifest("../corpus.csv")
    finally:
        os.chdir(cwd)
    s1, s2, s3, s4 = recordings
    assert (s1.id, s1.split, s1.modalities) == ("s1", "train", ("audio", "video"))
    assert s1.audio_path == str(tmp_path / "media" / "s1.wav")
    np.testing.assert_allclose(s1.labels["arousal"].values, [0.0, 0.1, 0.2], atol=1e-7)
    np.testing.assert_allclose(s1.labels["valence"].values, [0.0, -0.1, -0.2], atol=1e-7)
    assert s2.audio_path == str(absolute) and s2.video_path is None  # audio-only
    np.testing.assert_allclose(s2.labels["arousal"].values, [0.5, 0.5, 0.5])
    assert s3.audio_path is None and s3.modalities == ("video",)
    np.testing.assert_array_equal(s3.labels["valence"].values, np.float32([0.25, 0.5]))
    assert s4.labels is None
    summary = summarize(recordings)
    assert summary["num_recordings"] == 4
    assert summary["splits"]["train"] == {
        "recordings": 2,
        "audio": 2,
        "video": 1,
        "audiovisual": 1,
        "labelled": 2,
        "label_values": 6,
    }
    assert summary["splits"]["dev"]["video"] == 1 and summary["splits"]["test"]["labelled"] == 0


def test_manifest_csv_per_dimension_and_multi_columns(tmp_path):
    _touch(tmp_path / "a.wav")
    for dimension, offset in (("arousal", 0.0), ("valence", 1.0)):
        path = tmp_path / "ratings" / dimension / "a.csv"
        path.parent.mkdir(parents=True)
        path.write_text(f"time;r1;r2\n0.00;{offset};{offset + 0.2}\n0.04;{offset};{offset}\n")
    manifest = tmp_path / "m.csv"
    manifest.write_text(HEADER + "a,train,a.wav,,ratings/{dimension}/a.csv,r1|r2,r2\n")
    (recording,) = read_manifest(manifest)
    np.testing.assert_allclose(recording.labels["arousal"].values, [0.1, 0.0], atol=1e-7)
    np.testing.assert_allclose(recording.labels["valence"].values, [1.2, 1.0], atol=1e-7)
    manifest.write_text(HEADER + "a,train,a.wav,,ratings/{dimension}/a.csv,,\n")
    (recording,) = read_manifest(manifest)
    np.testing.assert_allclose(recording.labels["valence"].values, [1.1, 1.0], atol=1e-7)


def test_manifest_without_label_columns(tmp_path):
    _touch(tmp_path / "x.mp4")
    manifest = tmp_path / "m.csv"
    manifest.write_text("recording_id,split,audio_path,video_path,speaker\nx,test,,x.mp4,bob\n")
    (recording,) = read_manifest(manifest)
    assert recording.labels is None and recording.modalities == ("video",)


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "recording_id,audio_path,label_path\n",
            r"line 1: header lacks required column\(s\) split, video_path \(found: "
            r"recording_id, audio_path, label_path",
        ),
        (
            HEADER + "s1,train,a.wav,,,,\ns1,dev,a.wav,,,,\n",
            r"line 3: duplicate recording_id 's1' ",
        ),
        (HEADER + "s1,,a.wav,,,,\n", r"line 2: split is empty for recording 's1'"),
        (HEADER + "s1,tr-ain,a.wav,,,,\n", r"line 2: split 'tr-ain' must be letters"),
        (HEADER + ",train,a.wav,,,,\n", r"line 2: recording_id is empty"),
        (HEADER + "s1,train,,,,,\n", r"line 2: recording 's1' has neither audio_path nor video"),
        (HEADER + "s1,train,a.wav,,\n", r"line 2: 5 fields but the header has 7"),
        (
            HEADER + "s1,train,a.wav,,,,\n\ns2,train,missing.wav,,,,\n",
            r"line 4: audio_path 'missing.wav' of recording 's2' not found \(looked for .*"
            r"missing\.wav\)",
        ),
        (
            HEADER + "s1,train,a.wav,nope.mp4,,,\n",
            r"line 2: video_path 'nope.mp4' of recording 's1' not found",
        ),
        (
            HEADER + "s1,train,a.wav,,lab.csv,,\n",
            r"line 2: label_path 'lab.csv' of recording 's1' not found",
        ),
        (HEADER + "s1,train,a.wav,,gold.arff,,\n", r"line 2: ARFF label_path 'gold.arff' must"),
        ("", r"manifest is empty"),
        (HEADER, r"header but no recordings"),
    ],
)
def test_manifest_errors(tmp_path, text, message):
    _touch(tmp_path / "a.wav")
    manifest = tmp_path / "bad_manifest.csv"
    manifest.write_text(text)
    with pytest.raises(CorpusError, match=message) as info:
        read_manifest(manifest)
    assert str(info.value).startswith(str(manifest))


def test_manifest_label_column_errors(tmp_path):
    _touch(tmp_path / "a.wav")
    _labels_csv(tmp_path / "l.csv")
    manifest = tmp_path / "m.csv"
    manifest.write_text(HEADER + "s1,train,a.wav,,l.csv,FM1,valence\n")
    with pytest.raises(LabelError, match=r"l\.csv: column 'FM1' not found; available columns"):
        read_manifest(manifest)
    with pytest.raises(CorpusError, match=r"cannot read manifest .*none\.csv"):
        read_manifest(tmp_path / "none.csv")


# ------------------------------------------------------------------------------ Recording


def test_recording_validation():
    track = LabelTrack([0.0], [0.0], "t")
    recording = Recording("r", "train", "a.wav", None, {"arousal": track, "valence": track})
    assert recording.modalities == ("audio",)
    with pytest.raises(CorpusError, match="needs an audio_path or a video_path"):
        Recording("r", "train", None, None, None)
    with pytest.raises(CorpusError, match="labels must have exactly the keys"):
        Recording("r", "train", "a.wav", None, {"arousal": track})
    with pytest.raises(CorpusError, match=r"labels\['valence'\] must be a LabelTrack"):
        Recording("r", "train", "a.wav", None, {"arousal": track, "valence": [0.0]})
    with pytest.raises(CorpusError, match="id must be a non-empty string"):
        Recording("", "train", "a.wav", None, None)
    with pytest.raises(CorpusError, match="audio_path must be None or a non-empty string"):
        Recording("r", "train", "", "v.mp4", None)
    with pytest.raises(CorpusError, match="summarize expects Recordings"):
        summarize(["r"])
