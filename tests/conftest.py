"""Test setup: two logical CPU devices so multi-replica code runs without GPUs."""

import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Before TensorFlow: the package sets TensorFlow's CPU kernels as the tools run them.
import e2e_emotion  # noqa: E402, F401

# isort: split
import av  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Must happen before TensorFlow initialises its devices, hence at import time.
_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

# A ResNet of the paper's shape but tiny widths, and an 8-unit LSTM: fast tests.
TINY = {
    "stem_filters": 4,
    "stage_blocks": (1, 1),
    "stage_filters": (4, 8),
    "lstm_units": 8,
}


def make_inputs(model_or_modality, batch=2, time=3, frame_length=640, image_size=96, seed=0):
    """Random inputs for a modality: ``{"audio": [B, T, 640], "video": [B, T, S, S, 3]}``."""
    modality = getattr(model_or_modality, "modality", model_or_modality)
    rng = np.random.default_rng(seed)
    inputs = {}
    if modality in ("audio", "multimodal"):
        inputs["audio"] = rng.normal(0, 0.3, (batch, time, frame_length)).astype("float32")
    if modality in ("visual", "multimodal"):
        shape = (batch, time, image_size, image_size, 3)
        inputs["video"] = rng.uniform(0, 1, shape).astype("float32")
    return inputs


def lively(model, seed=0):
    """Larger random head weights so outputs are O(1), not ~1e-3: differences then show."""
    rng = np.random.default_rng(seed)
    dense = model.get_layer("predictions")
    kernel, bias = dense.get_weights()
    dense.set_weights([rng.normal(0, 1.0, kernel.shape), rng.normal(0, 0.3, bias.shape)])
    for index in (1, 2):
        layer = model.get_layer(f"temporal_lstm_{index}")
        layer.set_weights([w * 3.0 for w in layer.get_weights()])
    return model


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)


def _write_plain_videos(corpus, seed):
    """Replaces each synthetic MP4 by a disk whose brightness is the gold valence.

    The built-in faces carry valence in their expression, which a tiny ResNet needs many
    steps to learn; tests about the training machinery (not about the corpus) use this.
    """
    from tfrecords_tools import media_writers, synthetic

    marker = json.loads((Path(corpus) / synthetic.MARKER_FILE).read_text())
    grid = np.hypot(*np.meshgrid(np.arange(96) - 47.5, np.arange(96) - 47.5))
    disk = np.repeat((grid < 30)[..., None], 3, axis=-1)
    for recording in marker["recordings"]:
        split, number = recording.split("_")
        recording_seed = synthetic._recording_seed(seed, split, int(number))
        valence = synthetic.synthetic_labels(marker["num_label_frames"], recording_seed)[:, 1]
        levels = np.clip(128 + 100 * valence, 0, 255)
        frames = (np.where(disk, level, 60.0).astype(np.uint8) for level in levels)
        media_writers.write_video(Path(corpus) / "recordings_video" / f"{recording}.mp4", frames)


def write_records(
    directory,
    modalities=("audio", "video"),
    seconds=3.0,
    counts=(2, 1, 1),
    seed=5,
    plain_video=False,
):
    """Synthetic corpus -> records (PNG crops, centre mode): ``(records_dir, corpus_dir)``.

    `plain_video` replaces the faces by a disk whose brightness is the gold valence."""
    from tfrecords_tools import commands, synthetic, writer

    corpus = os.path.join(directory, "corpus")
    records = os.path.join(directory, "records")
    synthetic.write_synthetic_corpus(
        corpus,
        num_train=counts[0],
        num_dev=counts[1],
        num_test=counts[2],
        seconds=seconds,
        seed=seed,
        image_size=96,
    )
    if plain_video:
        _write_plain_videos(corpus, seed)
    options = writer.ConversionOptions(
        name="synthetic", image_format="png", face_mode="centre", num_shards=2
    )
    commands.make_tfrecords(
        "avec2016",
        corpus,
        records,
        options,
        progress=False,
        modalities=tuple(modalities),
        splits=tuple(s for s, c in zip(("train", "dev", "test"), counts, strict=True) if c),
    )
    return records, corpus


@pytest.fixture(scope="session")
def small_records(tmp_path_factory):
    """3 s recordings (75 frames): 2 train, 1 dev, 1 test, audio + video."""
    return write_records(str(tmp_path_factory.mktemp("small")))[0]


def copy_streams(source, target, audio=None):
    """``target`` holds ``source``'s video packets unchanged, and ``audio`` (int16 mono
    16 kHz samples) as PCM when given: the same pictures with or without a sound track."""
    with av.open(source) as given, av.open(str(target), "w") as out:
        video_in = given.streams.video[0]
        video_out = out.add_stream_from_template(video_in)
        sound = None
        if audio is not None:
            sound = out.add_stream("pcm_s16le", rate=16000, layout="mono")
        for packet in given.demux(video_in):
            if packet.dts is None:
                continue
            packet.stream = video_out
            out.mux(packet)
        if sound is not None:
            frame = av.AudioFrame.from_ndarray(audio[np.newaxis], format="s16", layout="mono")
            frame.sample_rate, frame.pts = 16000, 0
            out.mux(sound.encode(frame))
            out.mux(sound.encode(None))


def recorded_apart(mp4, directory):
    """``(wav, silent_mp4, muxed_mkv)`` of ``mp4``'s recording: its audio as a 16 kHz WAV,
    its pictures without sound, and both in one file (the same PCM samples and the same
    video packets), to compare separate sources with one muxed file."""
    from tfrecords_tools import media, media_writers

    samples = media.read_audio(mp4, 16000)
    pcm = np.round(np.clip(samples, -1, 1) * 32767).astype(np.int16)
    wav, silent, muxed = (Path(directory) / name for name in ("a.wav", "v.mp4", "av.mkv"))
    media_writers.write_wav(wav, pcm, 16000)
    copy_streams(mp4, silent)
    copy_streams(mp4, muxed, audio=pcm)
    return wav, silent, muxed


def read_history(path):
    """The rows of a model directory's ``logs/history.jsonl``."""
    with open(path) as stream:
        return [json.loads(line) for line in stream]


@pytest.fixture(scope="module")
def avec_corpus(tmp_path_factory):
    """A small synthetic corpus in the AVEC 2016 layout (2 train, 1 dev, 1 test of 3 s)."""
    from tfrecords_tools import synthetic

    root = tmp_path_factory.mktemp("corpus") / "avec"
    synthetic.write_synthetic_corpus(
        root, num_train=2, num_dev=1, num_test=1, seconds=3.0, seed=5, image_size=96
    )
    return str(root)


def assert_same_records(metadata, first_dir, second_dir):
    """Every shard of ``metadata`` holds the same records in ``first_dir`` and
    ``second_dir``, compared decoded (lossless PNG crops: the same pixels whatever bytes
    the encoder chose), in the same order. Returns the number of shards compared."""
    from tfrecords_tools import records

    compared = 0
    for split, info in metadata["splits"].items():
        for shard in info["shards"]:
            ours, theirs = (
                list(records.iter_shard(directory, metadata, split, shard["file"]))
                for directory in (first_dir, second_dir)
            )
            assert len(ours) == len(theirs) == shard["num_frames"] > 0
            for a, b in zip(ours, theirs, strict=True):
                assert a.keys() == b.keys()
                for key in a:
                    np.testing.assert_array_equal(a[key], b[key], err_msg=f"{shard} {key}")
            compared += 1
    return compared
