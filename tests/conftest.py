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


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
