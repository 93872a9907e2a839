"""Where a trained model's Keras file is: the one place that knows a model directory."""

from __future__ import annotations

import os

# A model directory written by the trainer holds these, tried in this order.
MODEL_FILES = ("best/model.keras", "final/model.keras")


class ModelNotFoundError(FileNotFoundError):
    """No Keras model file at the given path; the message names it."""


def resolve_model_path(path):
    """A model directory (``best/``, then ``final/``) or a ``.keras`` file -> a ``.keras`` path.

    Raises:
        ModelNotFoundError: the file, or both files of the directory, do not exist.
    """
    path = os.fspath(path)
    if path.endswith(".keras"):
        if not os.path.isfile(path):
            raise ModelNotFoundError(f"model file not found: {path}")
        return path
    for candidate in MODEL_FILES:
        full = os.path.join(path, candidate)
        if os.path.isfile(full):
            return full
    raise ModelNotFoundError(
        f"{path}: no best/model.keras or final/model.keras (not a trained model)"
    )
