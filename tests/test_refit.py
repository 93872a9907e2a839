"""A final model refitted on train + dev: the union split, its configuration, its training."""

import json
import os

import pytest
from conftest import read_history

from e2e_emotion.data import DataError, RecordSource, SequenceConfig, evaluation_dataset
from e2e_emotion.training import TrainConfig, TrainingError, folds, train
from e2e_emotion.training.refit import refit_config
from tfrecords_tools import inspect_records


def _config(records, model_dir, **overrides):
    values = {
        "records": records,
        "model_dir": str(model_dir),
        "modality": "audio",
        "model": {"speech_preset": "reference", "lstm_units": 8},
        "sequence": {"sequence_length": 25, "hop": 25, "batch_size": 2, "shuffle_buffer": 8},
        "learning_rate": 1e-3,
        "steps": 4,
        "checkpoint_every": 2,
        "eval_every": 2,
        "log_every": 1,
        "patience": 3,
        "reference_scores": {"ccc_arousal": 0.1, "ccc_valence": 0.1, "ccc_mean": 0.1},
        "mixed_precision": False,
        "bfloat16_gradients": False,
    }
    values.update(overrides)
    return TrainConfig(**values)


def _frames_read(source, split):
    config = SequenceConfig(sequence_length=25, batch_size=4)
    frames = 0
    for _, _, weights, _ in evaluation_dataset(source, split, "audio", config):
        frames += int(weights.numpy().sum())
    return frames


def test_a_union_of_splits_reads_every_recording_of_each(small_records, tmp_path):
    source = RecordSource(small_records)
    metadata = inspect_records.load_metadata(small_records)
    train, dev = (metadata["splits"][name]["recordings"] for name in ("train", "dev"))
    union = source.recordings("train+dev")
    assert union == source.recordings("train") + source.recordings("dev")
    assert dict(union) == {**train, **dev}
    assert source.labelled("train+dev")
    assert source.shard_paths("train+dev") == source.shard_paths("train") + source.shard_paths(
        "dev"
    )
    assert _frames_read(source, "train+dev") == sum(train.values()) + sum(dev.values())
    # A fold's view lists shards under both splits: each is read once.
    view = RecordSource(folds.make_fold_views(small_records, tmp_path / "views", folds=3)[0])
    paths = view.shard_paths("train+dev")
    assert len(paths) == len(set(paths))
    assert sorted(dict(view.recordings("train+dev"))) == sorted({**train, **dev})
    assert _frames_read(view, "train+dev") == sum(train.values()) + sum(dev.values())


def test_a_bad_union_is_named(small_records):
    source = RecordSource(small_records)
    with pytest.raises(DataError, match=r"no split 'tset' in 'train\+tset' \(has \['dev', 'test"):
        source.check("train+tset", "audio")
    with pytest.raises(DataError, match=r"split 'train\+train' names a split twice"):
        source.recordings("train+train")
    with pytest.raises(DataError, match=r"no split 'devs' \(has \['dev', 'test', 'train'\]\)"):
        source.check("devs", "audio")


def test_choosing_on_a_split_it_trains_on_is_refused(small_records, tmp_path):
    with pytest.raises(TrainingError, match=r"--eval_split=dev is part of --train_split=train\+de"):
        _config(small_records, tmp_path / "a", train_split="train+dev").check()
    _config(
        small_records, tmp_path / "a", train_split="train+dev", eval_every=0, patience=0
    ).check()


def test_a_refit_trains_on_train_and_dev_and_keeps_its_last_weights(small_records, tmp_path):
    config = _config(small_records, tmp_path / "held_out")
    refit = refit_config(config, str(tmp_path / "refit"))
    assert (refit.train_split, refit.eval_split, refit.eval_every) == ("train+dev", "dev", 0)
    assert (refit.patience, refit.reference_scores, refit.model_dir) == (
        0,
        None,
        str(tmp_path / "refit"),
    )
    # Every setting of the run it refits is kept, the steps too.
    for key in ("model", "sequence", "learning_rate", "steps", "seed", "lr_schedule"):
        assert getattr(refit, key) == getattr(config, key), key
    train(refit)
    assert os.path.isfile(tmp_path / "refit" / "final" / "model.keras")
    assert not os.path.exists(tmp_path / "refit" / "best")  # no choice made
    with open(tmp_path / "refit" / "config.json") as stream:
        assert json.load(stream)["train_split"] == "train+dev"
    history = read_history(str(tmp_path / "refit" / "logs" / "history.jsonl"))
    assert [row["step"] for row in history] == [1, 2, 3, 4]
    assert not any(key.startswith("dev_") for row in history for key in row)
