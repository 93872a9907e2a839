"""Predictions for whole recordings from windowed evaluation batches.

Two evaluation contexts (``EVAL_CONTEXTS``):

* ``"recording"`` (default): the feature networks run on the windows of the evaluation
  batches, the recurrent head then runs once over each whole recording's features, its
  state carried from the first frame to the last, as a live stream carries it. Exact for
  frame-local feature networks (the ResNet, the ``reference`` speech preset); the
  ``paper`` preset's long kernels see each window's zero padding at its edges, as in
  windowed evaluation.
* ``"window"``: the whole model runs on each window, every window starting from a zero
  LSTM state (the authors' evaluation of 150-frame sequences) and, for a model with audio
  level normalisation, from a zero level state: each window is scored as if it started a
  recording, as ``bin/predict.py --sequence_length`` and the TFLite sequence model do.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from e2e_emotion.config import EVAL_CONTEXTS
from e2e_emotion.data import evaluation_dataset
from e2e_emotion.modalities import LEVEL_INPUT
from e2e_emotion.models.inference import inference_functions


def predict_split(model, source, split, modality, sequence_config, context="recording"):
    """Runs ``model`` over every frame of ``split`` once.

    Args:
        context: ``"recording"`` or ``"window"`` (module docstring).

    Returns:
        ``(predictions, labels)``: dicts ``{recording_id: [n, 2] float32}``; ``labels``
        is empty for an unlabelled split. Windows tile each recording without overlap,
        padded frames are dropped, so every frame appears exactly once.
    """
    if context not in EVAL_CONTEXTS:
        raise ValueError(f"evaluation context must be one of {EVAL_CONTEXTS}, got {context!r}")
    recordings = source.recordings(split)
    functions = inference_functions(model)
    per_frame = functions["window"] if context == "window" else functions["features"]
    outputs_by_rid = {}
    filled = {rid: np.zeros(n, bool) for rid, n in recordings}
    labelled = source.labelled(split)
    labels = {rid: np.zeros((n, 2), np.float32) for rid, n in recordings} if labelled else {}

    dataset = evaluation_dataset(source, split, modality, sequence_config)
    for inputs, batch_labels, weights, info in dataset:
        if context == "window":  # each window a recording's start, the level's state too
            inputs = {name: value for name, value in inputs.items() if name != LEVEL_INPUT}
        outputs = per_frame(inputs).numpy()
        weights = weights.numpy()
        batch_labels = batch_labels.numpy()
        for row, (index, start) in enumerate(
            zip(info["recording"].numpy(), info["start"].numpy(), strict=True)
        ):
            rid, count = recordings[index]
            if rid not in outputs_by_rid:
                outputs_by_rid[rid] = np.zeros((count, outputs.shape[-1]), np.float32)
            valid = int(weights[row].sum())
            span = slice(int(start), int(start) + valid)
            if filled[rid][span].any():
                raise RuntimeError(f"recording {rid!r}: frames {span} predicted twice")
            outputs_by_rid[rid][span] = outputs[row, :valid]
            filled[rid][span] = True
            if labelled:
                labels[rid][span] = batch_labels[row, :valid]
    missing = [rid for rid, mask in filled.items() if not mask.all()]
    if missing:
        raise RuntimeError(f"recordings {missing} were not fully predicted")
    if context == "window":
        predictions = outputs_by_rid
    else:
        predictions = {
            rid: functions["head"](tf.constant(features[np.newaxis])).numpy()[0]
            for rid, features in outputs_by_rid.items()
        }
    return {rid: predictions[rid] for rid, _ in recordings}, labels
