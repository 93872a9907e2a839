"""Leave-recordings-out cross-validation over the train and dev recordings of a corpus.

Settings are chosen on many held-out recordings, not on one dev split looked at again
and again; the test split is never part of a fold. ``make_fold_views`` writes, for each
fold, a record directory that holds no copy of the data: links to the original shards
and a ``metadata.json`` whose ``train`` split lists the other folds' recordings and whose
``dev`` split lists the fold's own (the input pipeline reads only the recordings a split
lists). ``bin/cross_validate.py`` trains on each view with ``bin/train.py`` and
summarises with ``fold_summary``.
"""

from __future__ import annotations

import json
import os
import statistics

import numpy as np

from e2e_emotion.files import atomic_path
from tfrecords_tools import schema
from tfrecords_tools.records import load_metadata, split_of

LABEL_NAMES = schema.LABEL_NAMES


class FoldError(ValueError):
    """The records cannot be split as asked; the message names the directory or value."""


def assign_folds(recordings, folds, seed=0):
    """``[[recording_id, ...] per fold]``: the recordings shuffled by ``seed`` and dealt
    out in turn, so fold sizes differ by at most one."""
    recordings = sorted(recordings)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise FoldError(f"--folds must be an integer >= 2, got {folds!r}")
    if len(recordings) < folds:
        raise FoldError(f"{len(recordings)} recordings cannot make {folds} folds")
    order = np.random.default_rng(seed).permutation(len(recordings))
    return [sorted(recordings[i] for i in order[k::folds]) for k in range(folds)]


def make_fold_views(records, output_dir, folds=3, seed=0, splits=("train", "dev"), nested=False):
    """Writes ``output_dir/fold_K`` for each fold (``train``: the other folds, ``dev``:
    fold K) over the recordings of ``splits``; returns the view directories.

    ``nested``: fold K is the view's ``test`` split instead, and the other folds' recordings
    are dealt again into ``folds`` groups (fewer if there are fewer recordings; same seed)
    of which the first is ``dev`` and the rest ``train``: a whole procedure that chooses on
    dev (a checkpoint, a blend) is then scored on recordings no choice read.

    Raises:
        FoldError: a split is missing or unlabelled, or too few recordings.
    """
    records = os.path.abspath(records)
    metadata = load_metadata(records)
    members = []
    for split in splits:
        info = metadata["splits"].get(split)
        if info is None:
            raise FoldError(f"{records}: no split {split!r} (has {sorted(metadata['splits'])})")
        if not info["labelled"]:
            raise FoldError(f"{records}: split {split!r} has no labels to cross-validate on")
        members.extend(info["recordings"])
    assigned = assign_folds(members, folds, seed)
    views = []
    for index, held_out in enumerate(assigned):
        view = os.path.join(output_dir, f"fold_{index}")
        os.makedirs(view, exist_ok=True)
        training = {rid for fold in assigned if fold is not held_out for rid in fold}
        fold_metadata = dict(metadata)
        if nested:
            if len(training) < 2:
                raise FoldError(
                    f"{records}: a nested fold needs 2 recordings besides the held-out "
                    f"ones, to train on and to choose on; fold {index} leaves {len(training)}"
                )
            inner = assign_folds(sorted(training), min(folds, len(training)), seed)[0]
            fold_metadata["splits"] = {
                "train": split_of(metadata, training - set(inner)),
                "dev": split_of(metadata, set(inner)),
                "test": split_of(metadata, set(held_out)),
            }
        else:
            fold_metadata["splits"] = {
                "train": split_of(metadata, training),
                "dev": split_of(metadata, set(held_out)),
            }
        fold_metadata["fold"] = {
            "index": index,
            "of": folds,
            "seed": seed,
            "source": records,
            "nested": nested,
        }
        for info in fold_metadata["splits"].values():
            for shard in info["shards"]:
                link = os.path.join(view, shard["file"])
                if not os.path.lexists(link):
                    os.symlink(os.path.join(records, shard["file"]), link)
        path = os.path.join(view, schema.METADATA_FILE)
        with atomic_path(path) as tmp, open(tmp, "w") as stream:
            json.dump(fold_metadata, stream, indent=2)
        views.append(view)
    return views


def fold_scores(model_dir):
    """Dev CCC of a fold's run: ``last`` (the last evaluation: no choice read the fold)
    and ``best`` (the evaluation kept, chosen on the fold itself, so optimistic)."""
    rows = []
    with open(os.path.join(model_dir, "logs", "history.jsonl")) as stream:
        for line in stream:
            row = json.loads(line)
            if "dev_ccc_arousal" in row:
                rows.append(row)
    if not rows:
        raise FoldError(f"{model_dir}: no dev evaluation in logs/history.jsonl (--eval_every=0?)")
    with open(os.path.join(model_dir, "best", "scores.json")) as stream:
        best = json.load(stream)
    return {
        "last": {name: rows[-1][f"dev_ccc_{name}"] for name in LABEL_NAMES},
        "best": {name: best[f"ccc_{name}"] for name in LABEL_NAMES},
    }


def held_out_scores(report_path):
    """``{name: CCC}`` of the ``test`` split in a report of ``bin/evaluate.py
    --eval_split=test`` (a nested fold's held-out recordings)."""
    try:
        with open(report_path) as stream:
            overall = json.load(stream)["test"]["overall"]
        return {name: overall[name]["ccc"] for name in LABEL_NAMES}
    except (OSError, ValueError, KeyError) as error:
        raise FoldError(f"{report_path}: no test CCC in the report ({error})") from None


def fold_summary(scores):
    """Mean and standard deviation over folds of each dimension's ``last`` and ``best``
    dev CCC (and ``held_out`` test CCC of nested folds): ``{"last": {name: {"mean", "sd",
    "folds"}}, "best": ...}``."""
    summary = {}
    for kind in [kind for kind in ("last", "best", "held_out") if kind in scores[0]]:
        summary[kind] = {}
        for name in LABEL_NAMES:
            values = [fold[kind][name] for fold in scores]
            summary[kind][name] = {
                "mean": statistics.fmean(values),
                "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                "folds": values,
            }
    return summary
