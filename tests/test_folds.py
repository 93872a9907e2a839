"""Leave-recordings-out folds: views of a record directory, the cross-validation command."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from e2e_emotion.data import RecordSource, SequenceConfig, evaluation_dataset
from e2e_emotion.training import folds
from tfrecords_tools import inspect_records

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_assign_folds_deals_every_recording_once():
    dealt = folds.assign_folds([f"r{i}" for i in range(7)], 3, seed=4)
    assert sorted(sum(dealt, [])) == [f"r{i}" for i in range(7)]
    assert sorted(len(fold) for fold in dealt) == [2, 2, 3]
    assert dealt == folds.assign_folds([f"r{i}" for i in reversed(range(7))], 3, seed=4)
    with pytest.raises(folds.FoldError, match="3 recordings cannot make 4 folds"):
        folds.assign_folds(["a", "b", "c"], 4)
    with pytest.raises(folds.FoldError, match="--folds must be an integer >= 2, got 1"):
        folds.assign_folds(["a", "b"], 1)


def test_fold_views_read_only_their_recordings(small_records, tmp_path):
    views = folds.make_fold_views(small_records, tmp_path, folds=3, seed=0)
    metadata = inspect_records.load_metadata(small_records)
    everything = {
        **metadata["splits"]["train"]["recordings"],
        **metadata["splits"]["dev"]["recordings"],
    }
    held_out = []
    for view in views:
        source = RecordSource(view)
        dev = [rid for rid, _ in source.recordings("dev")]
        train = [rid for rid, _ in source.recordings("train")]
        assert len(dev) == 1 and len(train) == 2 and not set(dev) & set(train)
        assert set(dev) | set(train) == set(everything)
        held_out.extend(dev)
        # The pipeline and the record reader give the listed recording only, all its frames.
        config = SequenceConfig(sequence_length=25, batch_size=4)
        seen = set()
        frames = 0
        for _, _, weights, info in evaluation_dataset(source, "dev", "audio", config):
            seen.update(info["recording"].numpy().tolist())
            frames += int(weights.numpy().sum())
        assert seen == {0} and frames == everything[dev[0]]
        assert list(inspect_records.read_split(view, "dev")) == dev
    assert sorted(held_out) == sorted(everything)  # every recording held out once
    assert "test" not in inspect_records.load_metadata(views[0])["splits"]


ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}


def _cross_validate(records, work_dir, *options):
    """``bin/cross_validate.py`` with a two-step audio run per fold: (command, result)."""
    command = [
        sys.executable,
        os.path.join(ROOT, "bin", "cross_validate.py"),
        f"--records={records}",
        f"--work_dir={work_dir}",
        *options,
        "--train_flags=--modality=audio --steps=2 --eval_every=2 --sequence_length=25 "
        "--hop=25 --lstm_units=8 --nobaseline --noeval_train",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return command, result


def test_cross_validation_command(small_records, tmp_path):
    command, result = _cross_validate(small_records, tmp_path / "cv", "--folds=2")
    summary = json.loads((tmp_path / "cv" / "cross_validation.json").read_text())["summary"]
    for kind in ("last", "best"):
        values = summary[kind]["arousal"]["folds"]
        assert len(values) == 2 and all(-1 <= v <= 1 for v in values)
        np.testing.assert_allclose(summary[kind]["arousal"]["mean"], np.mean(values))
    assert "last     arousal  mean" in result.stdout
    clash = subprocess.run(
        command[:4] + ["--train_flags=--records=x"], capture_output=True, text=True, env=ENV
    )
    assert clash.returncode == 1
    assert "--train_flags may not set --records=x" in clash.stderr


def test_nested_views_hold_each_fold_out_of_every_choice(small_records, tmp_path):
    metadata = inspect_records.load_metadata(small_records)
    everything = {
        **metadata["splits"]["train"]["recordings"],
        **metadata["splits"]["dev"]["recordings"],
    }
    views = folds.make_fold_views(small_records, tmp_path / "views", folds=3, nested=True)
    tested = []
    for view in views:
        source = RecordSource(view)
        parts = {split: [rid for rid, _ in source.recordings(split)] for split in ("train", "dev")}
        parts["test"] = [rid for rid, _ in source.recordings("test")]
        assert [len(parts[split]) for split in ("train", "dev", "test")] == [1, 1, 1]
        assert set(sum(parts.values(), [])) == set(everything)
        assert source.labelled("test")
        tested.extend(parts["test"])
    assert sorted(tested) == sorted(everything)
    with pytest.raises(folds.FoldError, match="a nested fold needs 2 recordings besides the"):
        folds.make_fold_views(small_records, tmp_path / "too_few", folds=2, nested=True)


def test_nested_cross_validation_scores_the_kept_model_on_the_held_out_fold(
    small_records, tmp_path
):
    _, result = _cross_validate(small_records, tmp_path / "cv", "--folds=3", "--nested")
    saved = json.loads((tmp_path / "cv" / "cross_validation.json").read_text())
    assert saved["nested"] is True
    held_out = saved["summary"]["held_out"]["arousal"]["folds"]
    for index, value in enumerate(held_out):
        report = tmp_path / "cv" / f"fold_{index}" / "held_out" / "report.json"
        assert value == json.loads(report.read_text())["test"]["overall"]["arousal"]["ccc"]
    assert "held_out arousal  mean" in result.stdout
