"""Input pipelines: TFRecord shards of `tfrecords_tools` -> sequences for the models."""

from e2e_emotion.config import SequenceConfig
from e2e_emotion.data.sequences import (
    DataError,
    RecordSource,
    evaluation_dataset,
    training_dataset,
    window_starts,
)

__all__ = [
    "DataError",
    "RecordSource",
    "SequenceConfig",
    "evaluation_dataset",
    "training_dataset",
    "window_starts",
]
