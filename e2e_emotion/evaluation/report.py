"""Evaluate a trained model on records: scores, AVEC post-processing, baseline, plots.

``evaluate_model`` is what ``bin/evaluate.py`` runs. Output directory::

    report.json            every score below, post-processing parameters, baseline;
                           per recording the delay of the gold standard that
                           maximises the CCC and the CCC there (beside the raw CCC)
    report.txt             the same as readable tables
    predictions/SPLIT/ID.csv   per-40 ms arousal and valence (raw and post-processed)
    plots/SPLIT/ID.png     prediction against gold standard per recording
    training_curves.png    from the model directory's logs/history.jsonl, if present
"""

from __future__ import annotations

import csv
import os

import numpy as np

from e2e_emotion.evaluation.baseline import HandcraftedBaseline
from e2e_emotion.evaluation.plots import plot_recordings, plot_training_curves, read_history
from e2e_emotion.evaluation.postprocess import PostProcessor
from e2e_emotion.evaluation.scores import (
    DEFAULT_MAX_DELAY_SECONDS,
    delay_frames,
    format_table,
    score_recordings,
    write_report,
)
from e2e_emotion.files import atomic_path
from tfrecords_tools.records import RecordsError, read_split
from tfrecords_tools.schema import FRAME_SECONDS, LABEL_NAMES


class EvaluationError(ValueError):
    """The model or records cannot be evaluated as asked; the message says why."""


def _scores(predictions, labels, **delay):
    """``score_recordings`` of two ``{rid: [n, 2]}`` dicts; ``delay``: its
    ``max_delay_seconds`` and ``negative_delays``."""
    return score_recordings({rid: (predictions[rid], labels[rid]) for rid in predictions}, **delay)


def _write_predictions(directory, predictions, processed=None, frame_seconds=FRAME_SECONDS):
    os.makedirs(directory, exist_ok=True)
    for rid, values in predictions.items():
        path = os.path.join(directory, f"{rid}.csv")
        with atomic_path(path) as temporary, open(temporary, "w", newline="") as stream:
            writer = csv.writer(stream)
            header = ["frame", "time", "arousal", "valence"]
            if processed is not None:
                header += ["arousal_postprocessed", "valence_postprocessed"]
            writer.writerow(header)
            for index, row in enumerate(values):
                line = [index, f"{index * frame_seconds:.2f}", f"{row[0]:.6f}", f"{row[1]:.6f}"]
                if processed is not None:
                    line += [f"{processed[rid][index, 0]:.6f}", f"{processed[rid][index, 1]:.6f}"]
                writer.writerow(line)


def _frames_for_baseline(records, source, split, modality):
    data = {}
    try:
        recordings = read_split(records, split, source.metadata)
    except RecordsError as error:
        raise EvaluationError(
            f"{error}. Check every shard with `python bin/inspect_tfrecords.py {records}`"
        ) from None
    for rid, _ in source.recordings(split):
        frames = recordings[rid]
        entry = {
            "audio": frames.get("audio") if modality in ("audio", "multimodal") else None,
            "video": frames.get("video") if modality in ("visual", "multimodal") else None,
        }
        if source.labelled(split):
            entry["labels"] = np.stack([frames[name] for name in LABEL_NAMES], axis=1)
        data[rid] = entry
    return data


def baseline_reference(records, modality, train_split="train", eval_split="dev"):
    """The handcrafted baseline's raw CCC on ``eval_split`` (fitted on ``train_split``):
    ``{"ccc_arousal", "ccc_valence", "ccc_mean"}``, the reference line of training."""
    from e2e_emotion.data import RecordSource

    source = RecordSource(records)
    for split in (train_split, eval_split):
        source.check(split, modality)
    baseline = HandcraftedBaseline(modality=modality)
    baseline.fit(_frames_for_baseline(records, source, train_split, modality))
    data = _frames_for_baseline(records, source, eval_split, modality)
    labels = {rid: entry["labels"] for rid, entry in data.items()}
    overall = _scores(baseline.predict(data), labels)["overall"]
    return {
        "ccc_arousal": overall["arousal"]["ccc"],
        "ccc_valence": overall["valence"]["ccc"],
        "ccc_mean": overall["mean_ccc"],
    }


def evaluate_model(
    model_path,
    records,
    output_dir,
    eval_split="dev",
    test_split=None,
    train_split="train",
    sequence_length=150,
    batch_size=4,
    context="recording",
    postprocess=True,
    baseline=True,
    plots=True,
    max_delay_seconds=DEFAULT_MAX_DELAY_SECONDS,
    negative_delays=True,
    remove_streams=(),
):
    """Scores a model (directory or ``.keras``) on ``eval_split`` and optionally more.

    ``context``: ``"recording"`` runs the recurrent head over each whole recording,
    ``"window"`` restarts it every ``sequence_length`` frames (``predict_split``).
    Post-processing parameters are chosen on ``eval_split`` and applied to
    ``test_split``; the handcrafted baseline is fitted on ``train_split`` and scored on
    the same splits. Every scored split also gets each recording's best delay
    (``scores.best_delay``: the gold standard at ``t + delay`` against the prediction at
    ``t``, searched up to ``max_delay_seconds``, below zero too with ``negative_delays``)
    and the CCC there, reported beside the raw scores, which stay those at zero delay.
    ``remove_streams``: ``"audio"`` and/or ``"video"`` replaced by silence / black crops in
    every window (what the model does when that stream is lost). Returns the report dict
    (also written to ``report.json``).
    """
    import tensorflow as tf

    from e2e_emotion.config import EVAL_CONTEXTS
    from e2e_emotion.data import DataError, RecordSource, SequenceConfig
    from e2e_emotion.models import fold_batch_norm, load_model, resolve_model_path
    from e2e_emotion.training import predict_split

    if context not in EVAL_CONTEXTS:
        raise EvaluationError(f"--eval_context={context!r}: expected one of {EVAL_CONTEXTS}")
    if test_split and test_split == eval_split:
        raise EvaluationError(
            f"--test_split={test_split!r} is the --eval_split: the post-processing is chosen "
            "on that split, so its scores after post-processing would not be held out; give "
            "another split (e.g. --test_split=test)"
        )
    try:
        delay_frames(max_delay_seconds)
    except ValueError as error:
        raise EvaluationError(str(error)) from None
    delay = {"max_delay_seconds": max_delay_seconds, "negative_delays": negative_delays}

    path = resolve_model_path(model_path)
    model = load_model(path)
    modality = getattr(model, "modality", None)
    if modality is None:
        raise EvaluationError(f"{path} is not an e2e_emotion model")
    model = fold_batch_norm(model)
    try:
        source = RecordSource(records)
        source.check(eval_split, modality)
        if not source.labelled(eval_split):
            raise EvaluationError(f"--eval_split={eval_split!r} has no labels to score")
        if test_split:
            source.check(test_split, modality)
    except DataError as error:
        raise EvaluationError(str(error)) from None
    try:
        sequence = SequenceConfig(
            sequence_length=sequence_length,
            batch_size=batch_size,
            remove_streams=tuple(remove_streams),
        )
    except ValueError as error:
        raise EvaluationError(f"--remove_stream: {error}") from None
    os.makedirs(output_dir, exist_ok=True)
    report = {"model": path, "records": records, "modality": modality, "context": context}
    if remove_streams:
        report["removed_streams"] = list(remove_streams)
    text = []

    def predict(split):
        try:
            return predict_split(model, source, split, modality, sequence, context)
        except tf.errors.DataLossError as error:
            raise EvaluationError(str(source.corruption_error(split, error))) from None

    predictions, labels = predict(eval_split)
    report[eval_split] = _scores(predictions, labels, **delay)
    how = {
        "recording": "LSTM state over each whole recording",
        "window": f"LSTM state reset every {sequence_length} frames",
    }[context]
    if remove_streams:
        how += f"; {' and '.join(remove_streams)} removed"
    text.append(format_table(report[eval_split], f"{modality} model on {eval_split} ({how})"))
    splits = {eval_split: (predictions, labels)}
    if test_split:
        splits[test_split] = predict(test_split)

    processed = {}
    if postprocess:
        train_stats = source.metadata["splits"].get(train_split, {}).get("label_stats")
        processor = PostProcessor().fit(predictions, labels, train_stats)
        report["postprocessing"] = processor.to_dict()
        text.append(processor.report())
        for split, (split_predictions, split_labels) in splits.items():
            processed[split] = processor.transform(split_predictions)
            if split_labels:
                key = f"{split}_postprocessed"
                report[key] = _scores(processed[split], split_labels, **delay)
                text.append(format_table(report[key], f"{split} after post-processing"))

    for split, (split_predictions, split_labels) in splits.items():
        if split != eval_split and split_labels:
            report[split] = _scores(split_predictions, split_labels, **delay)
            text.append(format_table(report[split], f"{modality} model on {split} ({how})"))
        _write_predictions(
            os.path.join(output_dir, "predictions", split), split_predictions, processed.get(split)
        )
        if plots:
            plot_recordings(
                os.path.join(output_dir, "plots", split), split_predictions, split_labels or None
            )

    if baseline:
        if not source.labelled(train_split):
            raise EvaluationError(f"baseline: --train_split={train_split!r} has no labels")
        model_b = HandcraftedBaseline(modality=modality)
        model_b.fit(_frames_for_baseline(records, source, train_split, modality))
        for split, (_, split_labels) in splits.items():
            if not split_labels:
                continue
            data = _frames_for_baseline(records, source, split, modality)
            baseline_predictions = model_b.predict(data)
            key = f"baseline_{split}"
            report[key] = _scores(baseline_predictions, split_labels, **delay)
            text.append(format_table(report[key], f"handcrafted baseline ({modality}) on {split}"))

    history = os.path.join(os.path.dirname(os.path.dirname(path)), "logs", "history.jsonl")
    if plots and os.path.exists(history):
        plot_training_curves(os.path.join(output_dir, "training_curves.png"), read_history(history))
    write_report(os.path.join(output_dir, "report.json"), report)
    summary = "\n\n".join(text)
    with atomic_path(os.path.join(output_dir, "report.txt")) as tmp, open(tmp, "w") as stream:
        stream.write(summary + "\n")
    report["text"] = summary
    return report
