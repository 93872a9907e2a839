"""Input pipeline: windows inside recordings, every frame once, seeds, augmentation."""

import os

import numpy as np
import pytest
import tensorflow as tf

from e2e_emotion.data import (
    DataError,
    RecordSource,
    SequenceConfig,
    evaluation_dataset,
    training_dataset,
    window_starts,
)
from e2e_emotion.models.level import level_states
from tfrecords_tools import inspect_records


def recordings_frames(records):
    """{recording_id: {"audio": [n, 640], "video": [n, 96, 96, 3] uint8, ...}}."""
    metadata = inspect_records.load_metadata(records)
    frames = {}
    for split in metadata["splits"]:
        frames.update(inspect_records.read_split(records, split, metadata))
    return frames


def locate(window_audio, frames):
    """(recording, start) whose frames equal the window's first frame, or None."""
    for rid, recording in frames.items():
        hits = np.flatnonzero((recording["audio"] == window_audio[0]).all(axis=1))
        if len(hits):
            return rid, int(hits[0])
    return None


@pytest.mark.parametrize("length", [1, 7, 10, 23, 40])
def test_window_starts(length):
    s, hop = 10, 4
    evaluation = window_starts(length, s, hop, training=False)
    covered = np.concatenate([np.arange(a, min(a + s, length)) for a in evaluation])
    np.testing.assert_array_equal(covered, np.arange(length))  # every frame exactly once
    training = window_starts(length, s, hop, training=True)
    assert all(a + min(s, length) <= length for a in training)
    if length > s:
        assert training[-1] == length - s  # the tail is seen
        assert set(np.diff(training[:-1])) <= {hop}


def test_training_sequences_never_cross_recordings(small_records):
    frames = recordings_frames(small_records)
    config = SequenceConfig(sequence_length=20, hop=7, batch_size=4, shuffle_buffer=64, seed=3)
    dataset = training_dataset(small_records, "train", "multimodal", config)
    seen = set()
    for inputs, labels, weights in dataset.take(12):
        assert inputs["audio"].shape == (4, 20, 640)
        assert inputs["video"].shape == (4, 20, 96, 96, 3)
        assert labels.shape == (4, 20, 2) and weights.shape == (4, 20)
        np.testing.assert_array_equal(weights, 1.0)  # recordings (75) are longer than 20
        video = inputs["video"].numpy()
        assert video.min() >= 0.0 and video.max() <= 1.0
        for row in range(4):
            rid, start = locate(inputs["audio"][row].numpy(), frames)
            assert rid.startswith("train_")
            part = slice(start, start + 20)
            np.testing.assert_array_equal(inputs["audio"][row], frames[rid]["audio"][part])
            np.testing.assert_array_equal(labels[row, :, 0], frames[rid]["arousal"][part])
            # The level normaliser's state: the recording's frame powers before the window.
            expected_level = level_states(frames[rid]["audio"], [start])[0]
            np.testing.assert_allclose(inputs["audio_level"][row], expected_level, rtol=1e-6)
            seen.add((rid, start))
    assert {s for _, s in seen} <= {0, 7, 14, 21, 28, 35, 42, 49, 55}
    assert len({rid for rid, _ in seen}) == 2  # shuffled across both recordings


def test_evaluation_scores_every_frame_once_without_augmentation(small_records):
    frames = recordings_frames(small_records)
    config = SequenceConfig(sequence_length=20, batch_size=3)
    source = RecordSource(small_records)
    dataset = evaluation_dataset(source, "dev", "visual", config)
    counts = {}
    for inputs, labels, weights, info in dataset:
        assert set(inputs) == {"video"}
        for row in range(len(weights)):
            rid = source.recordings("dev")[int(info["recording"][row])][0]
            start, valid = int(info["start"][row]), int(weights[row].numpy().sum())
            np.testing.assert_array_equal(weights[row, valid:], 0.0)
            expected = frames[rid]["video"][start : start + valid] / 255.0
            np.testing.assert_allclose(inputs["video"][row, :valid], expected, atol=1e-6)
            np.testing.assert_array_equal(inputs["video"][row, valid:], 0.0)
            np.testing.assert_array_equal(
                labels[row, :valid, 1], frames[rid]["valence"][start : start + valid]
            )
            for frame in range(start, start + valid):
                counts[(rid, frame)] = counts.get((rid, frame), 0) + 1
    assert sorted(set(counts.values())) == [1]
    assert len(counts) == sum(n for _, n in source.recordings("dev"))


def test_evaluation_windows_carry_the_level_state_of_their_recording(small_records):
    frames = recordings_frames(small_records)
    source = RecordSource(small_records)
    dataset = evaluation_dataset(source, "train", "audio", SequenceConfig(sequence_length=30))
    starts = {}
    for inputs, _, _, info in dataset:
        assert set(inputs) == {"audio", "audio_level"}
        for row in range(len(info["start"])):
            rid = source.recordings("train")[int(info["recording"][row])][0]
            start = int(info["start"][row])
            power = np.mean(np.square(frames[rid]["audio"][:start].astype(np.float64)), axis=-1)
            np.testing.assert_allclose(inputs["audio_level"][row], [power.sum(), start], rtol=1e-6)
            starts.setdefault(rid, []).append(start)
    assert starts == {rid: [0, 30, 60] for rid in ("train_1", "train_2")}


def test_shuffle_is_seeded_and_skip_resumes_the_same_stream(small_records):
    config = SequenceConfig(sequence_length=15, hop=15, batch_size=2, seed=11, augment_video=False)

    def first_audio(dataset, count):
        return [batch[0]["audio"].numpy() for batch in dataset.take(count)]

    a = first_audio(training_dataset(small_records, "train", "audio", config), 6)
    b = first_audio(training_dataset(small_records, "train", "audio", config), 6)
    np.testing.assert_array_equal(np.stack(a), np.stack(b))
    resumed = first_audio(
        training_dataset(small_records, "train", "audio", config, skip_batches=4), 2
    )
    np.testing.assert_array_equal(np.stack(resumed), np.stack(a[4:6]))
    other = first_audio(
        training_dataset(
            small_records, "train", "audio", SequenceConfig(**{**config.__dict__, "seed": 12})
        ),
        6,
    )
    assert not np.array_equal(np.stack(a), np.stack(other))


def test_video_augmentation_changes_training_crops_only(small_records):
    plain = SequenceConfig(sequence_length=10, batch_size=2, seed=1, augment_video=False)
    augmented = SequenceConfig(sequence_length=10, batch_size=2, seed=1, augment_video=True)
    x0 = next(iter(training_dataset(small_records, "train", "visual", plain)))[0]["video"].numpy()
    x1 = next(iter(training_dataset(small_records, "train", "visual", augmented)))[0][
        "video"
    ].numpy()
    assert x0.shape == x1.shape == (2, 10, 96, 96, 3)
    assert np.abs(x0 - x1).mean() > 0.01
    assert x1.min() >= 0.0 and x1.max() <= 1.0


def test_audio_augmentation_gain_and_noise(small_records):
    base = SequenceConfig(sequence_length=10, batch_size=2, seed=1)
    loud = SequenceConfig(
        sequence_length=10, batch_size=2, seed=1, audio_gain_db=6.0, audio_noise=0.01
    )
    a = next(iter(training_dataset(small_records, "train", "audio", base)))[0]["audio"].numpy()
    b = next(iter(training_dataset(small_records, "train", "audio", loud)))[0]["audio"].numpy()
    ratio = np.sqrt((b**2).mean() / (a**2).mean())
    assert 0.45 < ratio < 2.1 and not np.allclose(a, b)


def test_speed_perturbation_warps_audio_labels_and_video_together():
    from e2e_emotion.data.sequences import speed_perturb

    frames, length = 8, 640
    audio = np.arange(frames * length, dtype=np.float32).reshape(frames, length)
    labels = np.stack([np.arange(frames), -np.arange(frames)], axis=1).astype(np.float32)
    window = {
        "audio": tf.constant(audio),
        "labels": tf.constant(labels),
        "weights": tf.constant([1.0] * 6 + [0.0] * 2),
        "video": tf.constant([f"f{k}".encode() for k in range(frames)]),
        "face": tf.constant(np.arange(frames, dtype=np.int64)),
    }
    same = speed_perturb(window, tf.constant(1.0))
    # Factor 1 changes nothing but silences the padded frames (zeros in real windows).
    np.testing.assert_allclose(same["audio"].numpy()[:6], audio[:6])
    assert not same["audio"].numpy()[6:].any()
    np.testing.assert_array_equal(same["weights"].numpy(), window["weights"].numpy())
    # Half speed: sample i reads i / 2, frame k the labels of frame k / 2.
    slow = speed_perturb(window, tf.constant(0.5))
    np.testing.assert_allclose(slow["audio"].numpy().ravel(), np.arange(frames * length) / 2)
    np.testing.assert_allclose(slow["labels"].numpy()[:, 0], np.arange(frames) / 2)
    assert [v.decode() for v in slow["video"].numpy()] == [
        f"f{k}" for k in (0, 0, 1, 1, 2, 2, 3, 3)
    ]
    np.testing.assert_array_equal(slow["face"].numpy(), [0, 0, 1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(slow["weights"].numpy(), np.ones(frames))
    # 1.5x: frame k spans source frames [1.5k, 1.5k + 1.5); past the 6 valid ones: weight 0.
    fast = speed_perturb(window, tf.constant(1.5))
    np.testing.assert_array_equal(fast["weights"].numpy(), [1, 1, 1, 1, 0, 0, 0, 0])
    np.testing.assert_allclose(fast["labels"].numpy()[:4, 1], -1.5 * np.arange(4))
    np.testing.assert_allclose(fast["audio"].numpy()[1, :3], [960.0, 961.5, 963.0])
    assert not fast["audio"].numpy()[4:].any() and not fast["labels"].numpy()[4:].any()
    assert [v.decode() for v in fast["video"].numpy()[:4]] == ["f0", "f2", "f3", "f5"]


def test_speed_perturbation_in_the_training_pipeline(small_records):
    base = SequenceConfig(sequence_length=10, batch_size=2, seed=1)
    warped = SequenceConfig(sequence_length=10, batch_size=2, seed=1, speed_perturb=0.2)
    a_inputs, a_labels, a_weights = next(
        iter(training_dataset(small_records, "train", "audio", base))
    )
    b_inputs, b_labels, b_weights = next(
        iter(training_dataset(small_records, "train", "audio", warped))
    )
    assert b_inputs["audio"].shape == a_inputs["audio"].shape
    assert np.isfinite(b_inputs["audio"].numpy()).all()
    assert not np.allclose(a_inputs["audio"].numpy(), b_inputs["audio"].numpy())
    assert b_weights.numpy().sum() >= 0.5 * a_weights.numpy().sum()
    with pytest.raises(ValueError, match=r"speed_perturb must be in \[0, 0.5\)"):
        SequenceConfig(speed_perturb=0.5)


def test_pipeline_errors_name_the_problem(small_records, tmp_path):
    config = SequenceConfig(sequence_length=10)
    with pytest.raises(DataError, match="no split 'valid'"):
        training_dataset(small_records, "valid", "audio", config)
    with pytest.raises(DataError, match="'test' has no labels"):
        training_dataset(small_records, "test", "audio", config)
    with pytest.raises(DataError, match="no metadata.json"):
        training_dataset(str(tmp_path), "train", "audio", config)
    metadata = os.path.join(small_records, "metadata.json")
    with pytest.raises(DataError, match=r"metadata.json is a file: give the record directory"):
        training_dataset(metadata, "train", "audio", config)
    with pytest.raises(ValueError, match="sequence_length must be a positive integer"):
        SequenceConfig(sequence_length=0)


def test_audio_only_records_refuse_a_visual_model(tmp_path):
    from conftest import write_records

    records, _ = write_records(str(tmp_path), modalities=("audio",), seconds=1.0, counts=(1, 0, 0))
    with pytest.raises(DataError, match="visual model needs video.*hold only audio"):
        training_dataset(records, "train", "visual", SequenceConfig(sequence_length=5))
    batch = next(
        iter(training_dataset(records, "train", "audio", SequenceConfig(sequence_length=5)))
    )
    assert set(batch[0]) == {"audio", "audio_level"}


@pytest.fixture(scope="module")
def face_lost_records(tmp_path_factory):
    """One 3 s train recording whose face leaves after 1.2 s, converted with detection."""
    from tfrecords_tools import corpora, labels, media_writers, synthetic, writer

    folder = tmp_path_factory.mktemp("lost")
    audio_path, video_path = str(folder / "r.wav"), str(folder / "r.mp4")
    values = synthetic.write_synthetic_recording(
        "r", seconds=3.0, seed=1, audio_path=audio_path, video_path=video_path, image_size=96
    )
    shown = synthetic.synthetic_frames(np.zeros(30), np.zeros(30), size=96, seed=1)
    media_writers.write_video(video_path, list(shown) + [np.full((96, 96, 3), 70, np.uint8)] * 45)
    tracks = {
        name: labels.LabelTrack(np.arange(len(values)) * 0.04, values[:, d], "test")
        for d, name in enumerate(labels.LABEL_NAMES)
    }
    recording = corpora.Recording("r", "train", audio_path, video_path, tracks)
    output = str(folder / "records")
    options = writer.ConversionOptions(name="t", image_format="png", face_mode="detect")
    writer.convert_corpus([recording], output, options, progress=False)
    return output


def test_frames_without_a_face_are_black_for_the_model(face_lost_records):
    flags = recordings_frames(face_lost_records)["r"]["face"]
    assert flags[:32].mean() > 0.9 and not flags[32:].any()  # held two frames after the face
    config = SequenceConfig(sequence_length=25, batch_size=4)
    video = np.concatenate(
        [
            inputs["video"].numpy().reshape(-1, 96, 96, 3)
            for inputs, *_ in evaluation_dataset(face_lost_records, "train", "visual", config)
        ]
    )[:75]
    blank = ~video.reshape(75, -1).any(axis=1)
    np.testing.assert_array_equal(blank, flags == 0)
    # Training windows too, augmented or not, and after a speed perturbation.
    train = SequenceConfig(sequence_length=75, batch_size=1, speed_perturb=0.2)
    inputs, _, weights = next(iter(training_dataset(face_lost_records, "train", "visual", train)))
    frames = inputs["video"].numpy()[0]
    assert not frames[-30:].any() and frames[:10].reshape(10, -1).any(axis=1).all()


def test_modality_dropout_removes_one_whole_stream_per_window(small_records):
    config = SequenceConfig(
        sequence_length=10, batch_size=8, seed=3, video_dropout=0.4, audio_dropout=0.4
    )
    kept = {"video": [], "audio": []}
    for inputs, _, _ in training_dataset(small_records, "train", "multimodal", config).take(8):
        for name in kept:
            values = inputs[name].numpy().reshape(8, 10, -1)
            any_frame = values.any(axis=2)
            # A window keeps all of a stream or none of it.
            assert np.all(any_frame.all(axis=1) | ~any_frame.any(axis=1))
            kept[name].extend(any_frame.any(axis=1))
    video, audio = np.array(kept["video"]), np.array(kept["audio"])
    assert np.all(video | audio)  # never both removed
    assert 0.2 < 1 - video.mean() < 0.6  # 64 windows, rate 0.4
    assert 0.1 < 1 - audio.mean() < 0.45  # 0.4 of the 60% that keep their video
    plain = SequenceConfig(sequence_length=10, batch_size=8, seed=3)
    inputs, _, _ = next(iter(training_dataset(small_records, "train", "multimodal", plain)))
    assert inputs["video"].numpy().reshape(8, -1).any(axis=1).all()
    with pytest.raises(ValueError, match=r"video_dropout must be in \[0, 1\), received 1.0"):
        SequenceConfig(video_dropout=1.0)


def test_removed_streams_are_silence_and_black_crops(small_records):
    full = SequenceConfig(sequence_length=25, batch_size=4)
    removed = SequenceConfig(sequence_length=25, batch_size=4, remove_streams=("video",))
    a = next(iter(evaluation_dataset(small_records, "dev", "multimodal", full)))[0]
    b = next(iter(evaluation_dataset(small_records, "dev", "multimodal", removed)))[0]
    assert a["video"].numpy().any() and not b["video"].numpy().any()
    np.testing.assert_array_equal(a["audio"].numpy(), b["audio"].numpy())
    with pytest.raises(ValueError, match=r"remove_streams must be a tuple of \('audio', 'video'\)"):
        SequenceConfig(remove_streams=("camera",))
