"""Test setup: two logical CPU devices so multi-replica code runs without GPUs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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


def write_records(directory, modalities=("audio", "video"), seconds=3.0, counts=(2, 1, 1), seed=5):
    """Synthetic corpus -> records (PNG crops, centre mode): ``(records_dir, corpus_dir)``."""
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
