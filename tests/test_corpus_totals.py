"""The split and face totals of metadata.json: the same bits in any order and grouping."""

import itertools
import random

import numpy as np

from tfrecords_tools.conversion import label_sums
from tfrecords_tools.corpus_totals import FaceTotals, SplitTotals, fold


def _report(labels, labelled=True, face=None):
    report = {"num_frames": len(labels), "labelled": labelled}
    if labelled:
        report["label_sums"] = label_sums(labels)
    if face is not None:
        runs, missed, face_frames = face
        report["face_detections"] = {"run": runs, "missed": missed}
        report["face_frames"] = face_frames
    return report


def _labels(seed, count):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (count, 2)) * rng.uniform(0.01, 1e3)


def _combined(totals, items, groups):
    """As a Beam runner may: accumulators over ``groups`` (lists of items), merged."""
    accumulators = []
    for group in groups:
        accumulator = totals.create()
        for item in group:
            accumulator = totals.add(accumulator, item)
        accumulators.append(accumulator)
    return totals.extract(totals.merge(accumulators))


def test_split_totals_are_the_same_bits_in_any_order_and_grouping():
    tracks = {f"rec_{i}": _labels(i, 50 + 37 * i) for i in range(6)}
    items = [(rid, _report(labels)) for rid, labels in tracks.items()]
    order = {rid: index for index, rid in enumerate(tracks)}
    expected = fold(SplitTotals(order), items)
    rng = random.Random(0)
    for _ in range(20):
        shuffled = rng.sample(items, len(items))
        cut = sorted(rng.sample(range(1, len(items)), 2))
        groups = [shuffled[: cut[0]], shuffled[cut[0] : cut[1]], shuffled[cut[1] :], []]
        assert _combined(SplitTotals(order), items, groups) == expected
    # In corpus order whatever the order of the items, with the frames summed.
    assert list(expected["recordings"]) == list(tracks)
    assert expected["num_recordings"] == 6
    assert expected["num_frames"] == sum(len(t) for t in tracks.values())
    assert expected["labelled"] == {True}
    everything = np.concatenate(list(tracks.values()))
    for column, name in enumerate(("arousal", "valence")):
        stats = expected["label_stats"][name]
        assert stats["count"] == len(everything)
        np.testing.assert_allclose(stats["mean"], everything[:, column].mean(), rtol=1e-12)
        np.testing.assert_allclose(stats["std"], everything[:, column].std(), rtol=1e-9)
        assert stats["min"] == everything[:, column].min()
        assert stats["max"] == everything[:, column].max()


def test_split_totals_of_unlabelled_and_mixed_splits():
    unlabelled = [(f"t{i}", _report(np.zeros((10 + i, 2)), labelled=False)) for i in range(3)]
    totals = fold(SplitTotals({rid: i for i, (rid, _) in enumerate(unlabelled)}), unlabelled)
    assert totals["labelled"] == {False}
    assert totals["label_stats"] is None
    assert totals["recordings"] == {"t0": 10, "t1": 11, "t2": 12}
    mixed = [("a", _report(_labels(1, 5))), ("b", _report(np.zeros((4, 2)), labelled=False))]
    assert fold(SplitTotals({"a": 0, "b": 1}), mixed)["labelled"] == {True, False}


def test_face_totals_weigh_detector_runs_and_frames():
    reports = [
        _report(np.zeros((100, 2)), face=(100, 10, 95)),
        _report(np.zeros((300, 2)), face=(30, 0, 300)),
        {**_report(np.zeros((50, 2))), "face_detections": {"run": 0, "missed": 0}},
    ]
    expected = {"face_missed_fraction": round(10 / 130, 4), "face_found_fraction": 0.9875}
    for permutation in itertools.permutations(reports):
        assert fold(FaceTotals(), permutation) == expected
        groups = [list(permutation[:1]), list(permutation[1:])]
        assert _combined(FaceTotals(), permutation, groups) == expected
    # Audio only: no figure at all; a centre crop (no detector run): nothing missed.
    assert fold(FaceTotals(), [_report(np.zeros((5, 2)))]) == {
        "face_missed_fraction": None,
        "face_found_fraction": None,
    }
    centre = {**_report(np.zeros((5, 2))), "face_detections": {"run": 0, "missed": 0}}
    assert fold(FaceTotals(), [centre])["face_missed_fraction"] == 0.0
