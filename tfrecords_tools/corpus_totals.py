"""What ``metadata.json`` says of each split and of the corpus, from per-recording reports.

Each total is a combiner in the shape of Beam's ``CombineFn`` (``create``, ``add``,
``merge``, ``extract``): the local converter folds the recordings' reports through it in
one process (``fold``), the Beam pipeline combines them across workers in whatever
grouping and order its runner picks, and both write the same figures. Sums of floats are
kept exact (``fractions.Fraction``), so no grouping or order changes a bit of them. Pure
Python: no TensorFlow, no Beam.
"""

from __future__ import annotations

import math
from fractions import Fraction

from tfrecords_tools import schema

__all__ = ["FaceTotals", "SplitTotals", "fold"]


def fold(totals, items):
    """``totals`` over ``items`` in one process."""
    accumulator = totals.create()
    for item in items:
        accumulator = totals.add(accumulator, item)
    return totals.extract(accumulator)


class SplitTotals:
    """One split's recordings, frames and label statistics.

    Items are ``(recording id, report)`` (``conversion.convert_recording``'s report);
    ``order`` maps each recording id to its place in the corpus, the order in which the
    split lists its recordings. ``extract`` gives ``labelled`` (the set of the reports'
    flags: more than one is a mixed split), ``num_recordings``, ``num_frames``,
    ``recordings`` (``{id: frames}``) and ``label_stats`` (None without labels).
    """

    def __init__(self, order):
        self.order = dict(order)

    def create(self):
        return {"labelled": set(), "frames": {}, "labels": None}

    def add(self, accumulator, item):
        recording_id, report = item
        accumulator["labelled"].add(bool(report["labelled"]))
        accumulator["frames"][recording_id] = int(report["num_frames"])
        if "label_sums" in report:
            accumulator["labels"] = _merge_labels(
                accumulator["labels"], _exact_labels(report["label_sums"])
            )
        return accumulator

    def merge(self, accumulators):
        merged = self.create()
        for accumulator in accumulators:
            merged["labelled"] |= accumulator["labelled"]
            merged["frames"].update(accumulator["frames"])
            merged["labels"] = _merge_labels(merged["labels"], accumulator["labels"])
        return merged

    def extract(self, accumulator):
        frames = dict(sorted(accumulator["frames"].items(), key=lambda item: self.order[item[0]]))
        return {
            "labelled": accumulator["labelled"],
            "num_recordings": len(frames),
            "num_frames": sum(frames.values()),
            "recordings": frames,
            "label_stats": _label_stats(accumulator["labels"]),
        }


def _exact_labels(sums):
    return {
        "count": int(sums["count"]),
        "sum": [Fraction(value) for value in sums["sum"]],
        "sum_sq": [Fraction(value) for value in sums["sum_sq"]],
        "min": list(sums["min"]),
        "max": list(sums["max"]),
    }


def _merge_labels(left, right):
    if left is None or right is None:
        return right if left is None else left
    return {
        "count": left["count"] + right["count"],
        "sum": [a + b for a, b in zip(left["sum"], right["sum"], strict=True)],
        "sum_sq": [a + b for a, b in zip(left["sum_sq"], right["sum_sq"], strict=True)],
        "min": [min(a, b) for a, b in zip(left["min"], right["min"], strict=True)],
        "max": [max(a, b) for a, b in zip(left["max"], right["max"], strict=True)],
    }


def _label_stats(labels):
    """Mean/std/min/max per label dimension, or None without labelled frames."""
    if labels is None or labels["count"] == 0:
        return None
    count = labels["count"]
    stats = {}
    for d, name in enumerate(schema.LABEL_NAMES):
        mean = labels["sum"][d] / count
        variance = labels["sum_sq"][d] / count - mean * mean
        stats[name] = {
            "count": count,
            "mean": float(mean),
            "std": math.sqrt(max(float(variance), 0.0)),
            "min": labels["min"][d],
            "max": labels["max"][d],
        }
    return stats


class FaceTotals:
    """The corpus' face figures from the reports (items: reports).

    ``face_missed_fraction``: detector runs without a face over all detector runs (a long
    recording weighs more than a short one), 0.0 when no detector ran, None without video.
    ``face_found_fraction``: frames whose crop holds a detected face over the frames of
    the recordings that were searched by a detector (None if none was).
    """

    def create(self):
        return {"videos": 0, "runs": 0, "missed": 0, "face_frames": 0, "searched_frames": 0}

    def add(self, accumulator, report):
        if "face_detections" in report:
            accumulator["videos"] += 1
            accumulator["runs"] += report["face_detections"]["run"]
            accumulator["missed"] += report["face_detections"]["missed"]
        if "face_frames" in report:
            accumulator["face_frames"] += report["face_frames"]
            accumulator["searched_frames"] += report["num_frames"]
        return accumulator

    def merge(self, accumulators):
        merged = self.create()
        for accumulator in accumulators:
            for key in merged:
                merged[key] += accumulator[key]
        return merged

    def extract(self, accumulator):
        runs, searched = accumulator["runs"], accumulator["searched_frames"]
        missed = None
        if accumulator["videos"]:
            missed = round(accumulator["missed"] / runs, 4) if runs else 0.0
        return {
            "face_missed_fraction": missed,
            "face_found_fraction": (
                round(accumulator["face_frames"] / searched, 4) if searched else None
            ),
        }
