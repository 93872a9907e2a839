"""Predictions for whole recordings from windowed evaluation batches."""

from __future__ import annotations

import weakref

import numpy as np
import tensorflow as tf

from e2e_emotion.data import evaluation_dataset

# One traced inference function per model, reused by every evaluation of that model.
_FORWARD = weakref.WeakKeyDictionary()


def _forward(model):
    if model not in _FORWARD:
        _FORWARD[model] = tf.function(
            lambda inputs: model(inputs, training=False), reduce_retracing=True
        )
    return _FORWARD[model]


def predict_split(model, source, split, modality, sequence_config):
    """Runs ``model`` over every frame of ``split`` once.

    Returns:
        ``(predictions, labels)``: dicts ``{recording_id: [n, 2] float32}``; ``labels``
        is empty for an unlabelled split. Windows tile each recording without overlap,
        padded frames are dropped, so every frame appears exactly once.
    """
    recordings = source.recordings(split)
    predictions = {rid: np.zeros((n, 2), np.float32) for rid, n in recordings}
    filled = {rid: np.zeros(n, bool) for rid, n in recordings}
    labelled = source.labelled(split)
    labels = {rid: np.zeros((n, 2), np.float32) for rid, n in recordings} if labelled else {}

    forward = _forward(model)
    dataset = evaluation_dataset(source, split, modality, sequence_config)
    for inputs, batch_labels, weights, info in dataset:
        outputs = forward(inputs).numpy()
        weights = weights.numpy()
        for row, (index, start) in enumerate(
            zip(info["recording"].numpy(), info["start"].numpy(), strict=True)
        ):
            rid, _ = recordings[index]
            valid = int(weights[row].sum())
            span = slice(int(start), int(start) + valid)
            if filled[rid][span].any():
                raise RuntimeError(f"recording {rid!r}: frames {span} predicted twice")
            predictions[rid][span] = outputs[row, :valid]
            filled[rid][span] = True
            if labelled:
                labels[rid][span] = batch_labels.numpy()[row, :valid]
    missing = [rid for rid, mask in filled.items() if not mask.all()]
    if missing:
        raise RuntimeError(f"recordings {missing} were not fully predicted")
    return predictions, labels
