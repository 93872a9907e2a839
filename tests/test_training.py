"""Trainer: learning, replica equivalence, resume after SIGKILL, multi-worker, errors."""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import lively, read_history, write_records

from e2e_emotion import build_model, cpu
from e2e_emotion.models import speech
from e2e_emotion.training import (
    TrainConfig,
    Trainer,
    TrainingError,
    global_ccc_loss,
    predict_split,
    train,
)
from e2e_emotion.training import trainer as trainer_module

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
SMALL_AUDIO = {"speech_preset": "reference", "lstm_units": 16, "input_dropout": 0.0}
SMALL_VISUAL = {
    "stem_filters": 8,
    "stage_blocks": [1, 1],
    "stage_filters": [8, 16],
    "lstm_units": 16,
}


@pytest.fixture(scope="module")
def audio_records(tmp_path_factory):
    """Audio-only records: 4 x 12 s train, 2 x 12 s dev, 1 test (300 frames each)."""
    directory = str(tmp_path_factory.mktemp("audio_records"))
    return write_records(directory, modalities=("audio",), seconds=12.0, counts=(4, 2, 1))[0]


def read_json(path):
    with open(path) as stream:
        return json.load(stream)


def two_cpu_strategy():
    devices = [d.name for d in tf.config.list_logical_devices("CPU")[:2]]
    return tf.distribute.MirroredStrategy(devices)


def test_global_ccc_loss_and_gradients_equal_single_device_under_two_replicas():
    rng = np.random.default_rng(0)
    labels = rng.normal(size=(4, 6, 2)).astype("float32")
    base = rng.normal(size=(4, 6, 2)).astype("float32")
    weights = np.ones((4, 6), "float32")
    weights[3, 4:] = 0
    variable = tf.Variable(np.float32(0.7))

    def loss_of(y, b, w):
        return global_ccc_loss(y, variable * b + 0.1 * b**2, w)

    with tf.GradientTape() as tape:
        single = loss_of(labels, base, weights)
    single_grad = tape.gradient(single, variable)

    strategy = two_cpu_strategy()
    with strategy.scope():
        mirrored = tf.Variable(np.float32(0.7))
    dataset = tf.data.Dataset.from_tensor_slices((labels, base, weights)).batch(4)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))

    @tf.function
    def step(y, b, w):
        def replica(y, b, w):
            with tf.GradientTape() as tape:
                loss = global_ccc_loss(y, mirrored * b + 0.1 * b**2, w)
                scaled = loss / strategy.num_replicas_in_sync
            grad = tape.gradient(scaled, mirrored)
            return loss, grad

        return strategy.run(replica, args=(y, b, w))

    losses, grads = step(*batch)
    for loss in strategy.experimental_local_results(losses):
        np.testing.assert_allclose(float(loss), float(single), rtol=1e-5)
    summed = sum(float(g) for g in strategy.experimental_local_results(grads))
    np.testing.assert_allclose(summed, float(single_grad), rtol=1e-4)


def config_for(records, model_dir, **overrides):
    values = {
        "records": records,
        "model_dir": str(model_dir),
        "modality": "audio",
        "model": dict(SMALL_AUDIO),
        "sequence": {"sequence_length": 50, "hop": 25, "batch_size": 4, "shuffle_buffer": 64},
        "learning_rate": 3e-3,
        "steps": 40,
        "checkpoint_every": 20,
        "eval_every": 20,
        "log_every": 10,
        "seed": 0,
        # float32 whatever the CPU, so these figures do not depend on the machine (auto
        # computes this audio model's convolution gradients in bfloat16 on AMX CPUs;
        # bfloat16 has tests of its own).
        "mixed_precision": False,
        "bfloat16_gradients": False,
    }
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def trained(audio_records, tmp_path_factory):
    """An audio model trained for 40 steps: ``(model_dir, untrained scores, final scores)``."""
    model_dir = tmp_path_factory.mktemp("trained") / "model"
    trainer = Trainer(config_for(audio_records, model_dir), verbose=False)
    untrained = trainer.evaluate()
    return model_dir, untrained, trainer.train()


def test_training_raises_dev_ccc_of_the_audio_model(audio_records, trained):
    """Seed 0, 40 Adam steps: dev arousal CCC from ~0 (untrained) to > 0.5.

    The synthetic voice's loudness, pitch and rate follow arousal within each recording,
    so a model that learns prosody passes 0.5, while an untrained model is at |CCC| < 0.2.
    Valence is not in the audio: not asserted.
    """
    model_dir, untrained, scores = trained
    assert abs(untrained["ccc_arousal"]) < 0.2
    assert scores["ccc_arousal"] > 0.5, scores
    assert scores["ccc_arousal"] > untrained["ccc_arousal"] + 0.4
    best = read_json(model_dir / "best" / "scores.json")
    assert best["ccc_mean"] >= scores["ccc_mean"] - 1e-9
    history = read_history(model_dir / "logs" / "history.jsonl")
    assert [row["step"] for row in history] == [10, 20, 30, 40]
    assert all(row["frames_per_second"] > 0 for row in history)
    assert "dev_ccc_arousal" in history[1]
    assert os.path.exists(model_dir / "final" / "model.keras")
    assert any(name.startswith("events.out") for name in os.listdir(model_dir / "logs"))
    assert read_json(model_dir / "config.json")["model"]["lstm_units"] == 16
    # A restart with the same command finds the run complete: same step, same scores.
    again = Trainer(config_for(audio_records, model_dir), verbose=False)
    assert again.train() == best
    assert int(again.step.numpy()) == 40


def test_frozen_features_keep_the_initialising_weights(audio_records, trained, tmp_path):
    from e2e_emotion.models import load_model, resolve_model_path

    source = load_model(resolve_model_path(str(trained[0])))
    config = config_for(
        audio_records,
        tmp_path / "frozen",
        init_audio=str(trained[0]),
        freeze_features=True,
        steps=5,
        eval_every=0,
        seed=3,
    )
    trainer = Trainer(config, verbose=False)
    trainer.train()
    model = trainer.model
    assert not model.speech_network.trainable_weights
    for kept, original in zip(
        model.speech_network.get_weights(), source.speech_network.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(kept, original)
    # The head did train (from its own random initialisation, seed 3).
    head = model.get_layer("temporal_lstm_1").get_weights()[0]
    fresh = (
        Trainer(
            config_for(audio_records, tmp_path / "fresh", steps=5, eval_every=0, seed=3),
            verbose=False,
        )
        .model.get_layer("temporal_lstm_1")
        .get_weights()[0]
    )
    assert head.shape == fresh.shape and np.abs(head - fresh).max() > 1e-4
    with pytest.raises(TrainingError, match="the audio model needs --init_audio"):
        Trainer(config_for(audio_records, tmp_path / "x", freeze_features=True))
    with pytest.raises(TrainingError, match="needs --init_audio and --init_visual"):
        Trainer(
            config_for(audio_records, tmp_path / "y", modality="multimodal", freeze_features=True)
        )


def test_evaluation_report_with_postprocessing_and_baseline(audio_records, trained, tmp_path):
    from e2e_emotion.evaluation.report import EvaluationError, baseline_reference, evaluate_model

    model_dir, _, scores = trained
    output = tmp_path / "eval"
    report = evaluate_model(
        str(model_dir), audio_records, str(output), test_split="test", sequence_length=50
    )
    best = read_json(model_dir / "best" / "scores.json")
    # The report scores the best model: the same dev CCC the trainer measured (same windows).
    np.testing.assert_allclose(
        report["dev"]["overall"]["arousal"]["ccc"], best["ccc_arousal"], atol=1e-4
    )
    assert set(report["dev"]["per_recording"]) == {"dev_1", "dev_2"}
    assert report["dev"]["num_frames"] == 600
    assert "dev_postprocessed" in report and "baseline_dev" in report
    assert (
        report["dev_postprocessed"]["overall"]["mean_ccc"]
        >= report["dev"]["overall"]["mean_ccc"] - 1e-9
    )
    assert report["baseline_dev"]["overall"]["arousal"]["ccc"] > 0.5  # loudness is learnable
    # The reference line of training is the same baseline on the same split.
    reference = baseline_reference(audio_records, "audio")
    baseline_dev = report["baseline_dev"]["overall"]
    assert reference["ccc_arousal"] == pytest.approx(baseline_dev["arousal"]["ccc"], abs=1e-9)
    assert reference["ccc_mean"] == pytest.approx(baseline_dev["mean_ccc"], abs=1e-9)
    on_disk = read_json(output / "report.json")
    assert on_disk["postprocessing"] == report["postprocessing"]
    rows = (output / "predictions" / "test" / "test_1.csv").read_text().splitlines()
    assert rows[0] == "frame,time,arousal,valence,arousal_postprocessed,valence_postprocessed"
    assert len(rows) == 1 + 300
    assert (output / "plots" / "dev" / "dev_1.png").read_bytes()[:4] == b"\x89PNG"
    assert (output / "training_curves.png").exists()
    assert "dev" in (output / "report.txt").read_text()
    # Post-processing chosen on dev and "tested" on dev would not be held out: refused.
    with pytest.raises(EvaluationError, match=r"--test_split='dev' is the --eval_split"):
        evaluate_model(str(model_dir), audio_records, str(tmp_path / "same"), test_split="dev")
    assert not (tmp_path / "same").exists()


def test_inference_mode_matches_training_mode_and_a_mismatch_is_caught(
    audio_records, trained, tmp_path, capsys
):
    """The CCC of the training batches in training mode against the same model in
    inference mode on its training recordings: close for the default model, far apart
    with heavy dropout on the waveform before max-pooling (a known mismatch)."""
    model_dir, _, _ = trained
    history = read_history(model_dir / "logs" / "history.jsonl")
    evaluated = [row for row in history if "dev_ccc_mean" in row]
    assert [row["step"] for row in evaluated] == [20, 40]
    last = evaluated[-1]
    assert last["train_inference_ccc_arousal"] > 0.6
    # No mismatch: inference mode is not worse than training mode (the gap is training
    # minus inference; the training batches' CCC lags the model, so it may be negative),
    # and on arousal, the dimension the audio carries, the two are close.
    assert last["train_mode_gap"] < 0.1, last
    arousal_gap = last["train_training_mode_ccc_arousal"] - last["train_inference_ccc_arousal"]
    assert abs(arousal_gap) < 0.1, last
    assert last["train_mode_gap"] == pytest.approx(
        last["train_training_mode_ccc_mean"] - last["train_inference_ccc_mean"]
    )
    heavy = dict(SMALL_AUDIO, input_dropout=0.8)
    Trainer(config_for(audio_records, tmp_path / "heavy", model=heavy), verbose=True).train()
    rows = [
        r
        for r in read_history(tmp_path / "heavy" / "logs" / "history.jsonl")
        if "dev_ccc_mean" in r
    ]
    assert max(row["train_mode_gap"] for row in rows) > trainer_module.MISMATCH_WARNING, rows
    out = capsys.readouterr().out
    assert "warning: on its training recordings the model scores" in out
    assert "less in inference mode than in training mode" in out
    assert "train (inference)" in out and "train batches (training mode)" in out


@pytest.fixture(scope="module")
def video_records(tmp_path_factory):
    """Video-only records: 4 x 12 s train, 2 x 12 s dev; a disk's brightness is valence."""
    directory = str(tmp_path_factory.mktemp("video_records"))
    return write_records(
        directory, modalities=("video",), seconds=12.0, counts=(4, 2, 0), plain_video=True
    )[0]


def test_visual_model_in_inference_mode_matches_training_mode(video_records, tmp_path):
    """BatchNorm's moving statistics: with Keras' momentum 0.99 they lag a ResNet trained
    from scratch and inference scores far below training; the default 0.9 keeps up."""
    gaps = {}
    for momentum in (0.9, 0.99):
        model = {**SMALL_VISUAL, "bn_momentum": momentum}
        model_dir = tmp_path / f"momentum_{momentum}"
        config = config_for(
            video_records, model_dir, modality="visual", model=model, steps=50, eval_every=50
        )
        Trainer(config, verbose=False).train()
        (row,) = [
            r for r in read_history(model_dir / "logs" / "history.jsonl") if "dev_ccc_mean" in r
        ]
        gaps[momentum] = row["train_mode_gap"]
        if momentum == 0.9:
            assert row["train_inference_ccc_valence"] > 0.7, row
    assert abs(gaps[0.9]) < trainer_module.MISMATCH_WARNING, gaps
    assert gaps[0.99] > trainer_module.MISMATCH_WARNING, gaps


def _scripted_evaluations(monkeypatch, dev_scores):
    """Trainer.evaluate returns ``dev_scores`` in turn for dev, a constant for train.

    Each entry is one value for both dimensions or an ``(arousal, valence)`` pair.
    """
    scores = iter(dev_scores)

    def evaluate(self, split=None):
        if split == self.config.train_split:
            return {"ccc_arousal": 0.5, "ccc_valence": 0.5, "ccc_mean": 0.5}
        value = next(scores)
        arousal, valence = value if isinstance(value, tuple) else (value, value)
        return {"ccc_arousal": arousal, "ccc_valence": valence, "ccc_mean": (arousal + valence) / 2}

    monkeypatch.setattr(Trainer, "evaluate", evaluate)


def test_early_stopping_restores_the_best_model_and_survives_a_restart(
    audio_records, tmp_path, monkeypatch, capsys
):
    _scripted_evaluations(monkeypatch, [0.1, 0.4, 0.3, 0.35, 0.2, 0.9, 0.9])
    reference = {"ccc_arousal": 0.25, "ccc_valence": 0.05, "ccc_mean": 0.15}
    config = config_for(
        audio_records,
        tmp_path / "early",
        steps=40,
        eval_every=5,
        log_every=5,
        checkpoint_every=100,
        patience=3,
        reference_scores=reference,
    )
    Trainer(config, verbose=True).train()
    out = capsys.readouterr().out
    # Best 0.4 at step 10; 0.3, 0.35, 0.2 are three evaluations without better: stop at 25.
    assert (
        "stopping early at step 25: no better dev CCC in 3 evaluations "
        "(best mean 0.400 at step 10)" in out
    )
    assert "final model = the best on dev (step 10, mean CCC 0.400)" in out
    history = read_history(tmp_path / "early" / "logs" / "history.jsonl")
    assert [row["step"] for row in history] == [5, 10, 15, 20, 25]
    assert all(row["reference_ccc_mean"] == 0.15 for row in history)
    assert "baseline 0.250 / 0.050" in out
    assert tf.train.latest_checkpoint(str(tmp_path / "early" / "checkpoints")).endswith("ckpt-25")
    best = tmp_path / "early" / "best" / "model.keras"
    assert (tmp_path / "early" / "final" / "model.keras").read_bytes() == best.read_bytes()
    # The same command again: still stopped (the count of stale evaluations is checkpointed).
    assert Trainer(config, verbose=True).train()["step"] == 10
    assert "stopped early at step 25" in capsys.readouterr().out


@pytest.mark.parametrize(("select_on", "best_step"), [("mean", 10), ("arousal", 15)])
def test_best_model_chosen_on_the_dimension_asked(
    audio_records, tmp_path, monkeypatch, select_on, best_step
):
    """Dev (arousal, valence) per evaluation: (0.5, 0.0), (0.2, 0.9), (0.6, 0.0)."""
    _scripted_evaluations(monkeypatch, [(0.5, 0.0), (0.2, 0.9), (0.6, 0.0)])
    config = config_for(
        audio_records,
        tmp_path / select_on,
        steps=15,
        eval_every=5,
        log_every=5,
        checkpoint_every=100,
        select_on=select_on,
    )
    Trainer(config, verbose=False).train()
    best = read_json(tmp_path / select_on / "best" / "scores.json")
    assert best["step"] == best_step, best
    with pytest.raises(TrainingError, match="--select_on='loss': expected one of"):
        TrainConfig(records=audio_records, model_dir=str(tmp_path), select_on="loss").check()


def test_cosine_schedule_with_warm_up(audio_records, tmp_path):
    config = config_for(
        audio_records,
        tmp_path / "cosine",
        steps=20,
        eval_every=0,
        log_every=5,
        lr_schedule="cosine",
        warmup_steps=10,
        restore_best=False,
    )
    Trainer(config, verbose=False).train()
    rates = [
        row["learning_rate"] for row in read_history(tmp_path / "cosine" / "logs" / "history.jsonl")
    ]
    # Logged after each step: warm-up 5/10 and 10/10 of 3e-3, then cosine over 10 steps.
    np.testing.assert_allclose(rates, [1.5e-3, 3e-3, 1.5e-3, 0.0], atol=1e-9)


def test_one_and_two_replicas_give_the_same_weights(audio_records, tmp_path):
    overrides = {"steps": 3, "eval_every": 0, "checkpoint_every": 3, "log_every": 3}
    single = Trainer(config_for(audio_records, tmp_path / "one", **overrides), verbose=False)
    single.train()
    double = Trainer(
        config_for(audio_records, tmp_path / "two", **overrides),
        strategy=two_cpu_strategy(),
        verbose=False,
    )
    assert double.strategy.num_replicas_in_sync == 2
    double.train()
    for a, b in zip(single.model.weights, double.model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
    # And the weights did move: the same seed rebuilds the initial weights, which differ.
    keras.utils.set_random_seed(0)
    initial = build_model("audio", **SMALL_AUDIO).get_layer("predictions").get_weights()[0]
    trained = single.model.get_layer("predictions").get_weights()[0]
    assert np.abs(trained - initial).max() > 1e-4


@pytest.mark.parametrize(
    "strategy, jit_compile",
    [("default", False), ("default", True), ("mirrored", False)],
)
def test_resume_is_exact_with_dropout_and_augmentation(
    audio_records, tmp_path, strategy, jit_compile
):
    """10 steps, then the same command to 20, equals 20 steps in one go: the dropout
    layers' random streams are checkpointed, augmentation is seeded by window index."""
    model = dict(SMALL_AUDIO, input_dropout=0.5)
    sequence = {"sequence_length": 50, "hop": 25, "batch_size": 4, "audio_gain_db": 3.0}
    sequence["audio_noise"] = 0.01

    def run(model_dir, steps):
        config = config_for(
            audio_records,
            model_dir,
            model=model,
            sequence=sequence,
            steps=steps,
            eval_every=0,
            checkpoint_every=5,
            log_every=5,
            jit_compile=jit_compile,
        )
        replicas = two_cpu_strategy() if strategy == "mirrored" else None
        trainer = Trainer(config, strategy=replicas, verbose=False)
        trainer.train()
        return trainer.model

    run(tmp_path / "resumed", 10)
    resumed = run(tmp_path / "resumed", 20)
    straight = run(tmp_path / "straight", 20)
    for a, b in zip(resumed.weights, straight.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-7, err_msg=a.path)


def test_weight_average_is_scored_saved_and_resumed(audio_records, tmp_path):
    """With --weight_average=m the model kept after 3 steps is m^2 w1 + m(1-m) w2 + (1-m) w3
    of the raw weights after steps 1, 2 and 3; the trainer goes on with the raw weights;
    resumed from a checkpoint, the average is the same."""
    momentum = 0.6

    def run(model_dir, steps, **overrides):
        values = {"steps": steps, "eval_every": 0, "checkpoint_every": 1, "log_every": 1}
        trainer = Trainer(config_for(audio_records, model_dir, **{**values, **overrides}))
        trainer.verbose = False
        trainer.train()
        return trainer

    def trainable(model):
        return [variable.numpy() for variable in model.trainable_variables]

    raw = [trainable(run(tmp_path / f"raw{n}", n).model) for n in (1, 2, 3)]
    expected = [
        momentum**2 * a + momentum * (1 - momentum) * b + (1 - momentum) * c
        for a, b, c in zip(*raw, strict=True)
    ]
    # Scored and kept as the best model at step 3: the average.
    scored = run(tmp_path / "scored", 3, eval_every=3, weight_average=momentum)
    for a, b in zip(trainable(scored.model), raw[2], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-7)  # it trains on with the raw ones
    kept = keras.saving.load_model(tmp_path / "scored" / "final" / "model.keras")
    moved = 0.0
    for value_kept, value, last in zip(trainable(kept), expected, raw[2], strict=True):
        np.testing.assert_allclose(value_kept, value, rtol=1e-5, atol=1e-6)
        moved = max(moved, float(np.abs(value - last).max()))
    assert moved > 1e-5  # the average is not the last weights
    best = read_json(tmp_path / "scored" / "best" / "scores.json")
    assert best["step"] == 3
    # 1 step, then resumed to 3 without evaluations: the final model is the same average.
    run(tmp_path / "resumed", 1, weight_average=momentum, restore_best=False)
    run(tmp_path / "resumed", 3, weight_average=momentum, restore_best=False)
    resumed = keras.saving.load_model(tmp_path / "resumed" / "final" / "model.keras")
    for a, b in zip(trainable(resumed), trainable(kept), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    with pytest.raises(
        TrainingError, match=r"--weight_average must be in \[0, 1\) \(0: off\), received 1.0"
    ):
        Trainer(config_for(audio_records, tmp_path / "bad", weight_average=1.0))


def _corrupt_copy(records, destination, split):
    """A copy of ``records`` with bytes in the middle of the first ``split`` shard flipped."""
    shutil.copytree(records, destination)
    shard = sorted(p for p in os.listdir(destination) if f"-{split}.tfrecord" in p)[0]
    path = os.path.join(destination, shard)
    with open(path, "rb") as stream:
        data = bytearray(stream.read())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0xFF for b in data[middle : middle + 16])
    with open(path, "wb") as stream:
        stream.write(data)
    return path


def test_corrupted_shard_is_named_and_the_checkpoint_kept(audio_records, tmp_path):
    from e2e_emotion.evaluation.report import EvaluationError, evaluate_model

    # Train a few steps on good records, then go on over a corrupted copy.
    good = config_for(audio_records, tmp_path / "model", steps=5, eval_every=0, checkpoint_every=5)
    Trainer(good, verbose=False).train()
    corrupted = str(tmp_path / "corrupted")
    shard = _corrupt_copy(audio_records, corrupted, "train")
    config = config_for(corrupted, tmp_path / "model", steps=400, eval_every=0, checkpoint_every=5)
    with pytest.raises(TrainingError) as error:
        Trainer(config, verbose=False).train()
    message = str(error.value)
    assert f"corrupted TFRecord data in {shard}: corrupted record at byte offset" in message
    assert f"python bin/inspect_tfrecords.py {corrupted}" in message
    assert "the last checkpoint (" in message and "ckpt-5) is kept" in message
    checkpoints = str(tmp_path / "model" / "checkpoints")
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-5")
    # Evaluation of a corrupted dev split names the dev shard.
    dev_copy = str(tmp_path / "corrupted_dev")
    dev_shard = _corrupt_copy(audio_records, dev_copy, "dev")
    with pytest.raises(EvaluationError, match=f"corrupted TFRecord data in {dev_shard}"):
        evaluate_model(str(tmp_path / "model"), dev_copy, str(tmp_path / "eval"), baseline=False)


def test_non_finite_loss_stops_with_a_clear_message(audio_records, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = trainer_module.global_ccc_loss

    def poisoned(labels, predictions, weights):
        loss = original(labels, predictions, weights)
        calls["n"] += 1
        return loss * tf.constant(float("nan"))

    monkeypatch.setattr(trainer_module, "global_ccc_loss", poisoned)
    config = config_for(audio_records, tmp_path / "nan", steps=5, eval_every=0)
    trainer = Trainer(config, verbose=False)
    before = [w.numpy().copy() for w in trainer.model.weights]
    with pytest.raises(TrainingError, match=r"not finite\) at step 1.*last good checkpoint"):
        trainer.train()
    for a, b in zip(before, trainer.model.weights, strict=True):
        np.testing.assert_array_equal(a, b.numpy())  # the NaN update was not applied


def test_xla_and_mixed_precision_options_train(audio_records, tmp_path, monkeypatch):
    overrides = {"steps": 2, "eval_every": 0, "checkpoint_every": 2, "log_every": 1}
    mixed = Trainer(
        config_for(audio_records, tmp_path / "bf16", mixed_precision=True, **overrides),
        verbose=False,
    )
    # bfloat16 in the networks; the LSTM state and gates and the predictions in float32.
    assert mixed.model.speech_network.compute_dtype == "bfloat16"
    for name in ("temporal_lstm_1", "temporal_lstm_2", "predictions"):
        assert mixed.model.get_layer(name).compute_dtype == "float32"
    mixed.train()
    assert keras.mixed_precision.global_policy().name == "float32"  # policy restored
    # The level normaliser's running sum of frame powers stays float32 as well.
    levelled = Trainer(
        config_for(
            audio_records,
            tmp_path / "bf16_level",
            model=dict(SMALL_AUDIO, level_norm_frames=250),
            mixed_precision=True,
            **overrides,
        ),
        verbose=False,
    )
    assert levelled.model.get_layer("level_normalization").compute_dtype == "float32"
    assert levelled.model.speech_network.compute_dtype == "bfloat16"
    history = read_history(tmp_path / "bf16" / "logs" / "history.jsonl")
    assert np.isfinite([row["loss"] for row in history]).all()
    xla = Trainer(
        config_for(audio_records, tmp_path / "xla", jit_compile=True, **overrides), verbose=False
    )
    xla.train()
    assert int(xla.step.numpy()) == 2
    with pytest.raises(TrainingError, match="--jit_compile is supported with --strategy=default"):
        Trainer(config_for(audio_records, tmp_path / "x", jit_compile=True, strategy="mirrored"))
    # Default: XLA for the audio model with the default strategy on a CPU without AMX
    # (measured faster, same weights); not with AMX (oneDNN measured faster), none for the
    # ResNet models (measured slower) nor other strategies.
    monkeypatch.setattr(cpu, "_this_cpu_flags", lambda: ("avx2", "fma", "avx512f"))
    assert config_for(audio_records, tmp_path / "y").use_xla is True
    monkeypatch.setattr(cpu, "_this_cpu_flags", lambda: ("avx512_bf16", "amx_tile", "amx_bf16"))
    assert config_for(audio_records, tmp_path / "y").use_xla is False
    assert config_for(audio_records, tmp_path / "y", jit_compile=True).use_xla is True
    monkeypatch.setattr(cpu, "_this_cpu_flags", lambda: ())
    for modality in ("visual", "multimodal"):
        assert config_for(audio_records, tmp_path / "y", modality=modality).use_xla is False
        assert (
            config_for(audio_records, tmp_path / "y", modality=modality, jit_compile=True).use_xla
            is True
        )
    assert config_for(audio_records, tmp_path / "y", strategy="mirrored").use_xla is False
    assert config_for(audio_records, tmp_path / "y", jit_compile=False).use_xla is False


AMX = ("avx512f", "avx512_bf16", "amx_tile", "amx_bf16")
AVX512_BF16 = ("avx2", "fma", "avx512f", "avx512_bf16")


def resolved_on(flags, records, model_dir, choice, **values):
    """``TrainConfig``'s ``choice`` property (an auto setting) on a CPU with ``flags``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cpu, "_this_cpu_flags", lambda: flags)
        return getattr(config_for(records, model_dir, **values), choice)


def test_bfloat16_by_default_on_cpus_with_amx_for_the_models_measured(audio_records, tmp_path):
    def config(flags, **overrides):
        values = {"mixed_precision": None, **overrides}  # auto unless forced
        return resolved_on(flags, audio_records, tmp_path, "use_bfloat16", **values)

    amx, avx512 = AMX, AVX512_BF16
    resnet50 = {"modality": "visual", "model": {"lstm_units": 8}}  # the default widths
    small = {"modality": "multimodal", "model": {"stage_filters": [16, 32, 64]}}
    assert config(amx, **resnet50) is True
    assert config(amx, modality="multimodal", model={}) is True
    assert config(avx512, **resnet50) is False  # no AMX tiles
    assert config((), **resnet50) is False  # flags unknown
    assert config(amx, **small) is False  # not ResNet-50's width
    # The audio model: float32 (its last dev CCC on the hard corpora was lower).
    assert config(amx, modality="audio") is False
    assert config(amx, modality="audio", mixed_precision=True) is True
    assert config(amx, **resnet50, mixed_precision=False) is False  # forced either way
    assert config(avx512, **small, mixed_precision=True) is True


def test_bfloat16_convolution_gradients_by_default_on_amx_for_the_reference_network(
    audio_records, tmp_path
):
    def uses(flags, **overrides):
        values = {"bfloat16_gradients": None, **overrides}  # auto unless forced
        return resolved_on(flags, audio_records, tmp_path, "use_bfloat16_gradients", **values)

    amx, avx512 = AMX, AVX512_BF16
    assert uses(amx) is True
    assert uses(amx, modality="multimodal", model=dict(SMALL_AUDIO)) is True
    assert uses(avx512) is False and uses(()) is False  # no AMX bfloat16 tiles
    assert uses(amx, model=dict(SMALL_AUDIO, speech_preset="paper")) is False
    assert uses(amx, modality="visual", model=dict(SMALL_VISUAL)) is False
    assert uses(avx512, bfloat16_gradients=True) is True  # forced either way
    assert uses(amx, bfloat16_gradients=False) is False


def test_bfloat16_convolution_gradients_train_and_name_a_model_without_them(
    audio_records, tmp_path
):
    overrides = {"steps": 2, "eval_every": 0, "checkpoint_every": 2, "log_every": 1}
    trainer = Trainer(
        config_for(audio_records, tmp_path / "a", bfloat16_gradients=True, **overrides),
        verbose=False,
    )
    convolutions = [
        layer
        for layer in trainer.model.speech_network.layers
        if isinstance(layer, speech.FrameConv2D)
    ]
    assert [layer.gradient_dtype for layer in convolutions] == ["bfloat16", "bfloat16"]
    assert trainer.model.speech_network.compute_dtype == "float32"  # forward pass unchanged
    trainer.train()
    history = read_history(tmp_path / "a" / "logs" / "history.jsonl")
    assert [row["step"] for row in history] == [1, 2]
    assert np.isfinite([row["loss"] for row in history]).all()
    # The saved model predicts in float32 like any other (the setting is not saved in it).
    saved = keras.models.load_model(tmp_path / "a" / "final" / "model.keras")
    dtypes = [
        layer.gradient_dtype
        for layer in saved.speech_network.layers
        if isinstance(layer, speech.FrameConv2D)
    ]
    assert dtypes == ["float32", "float32"]
    with pytest.raises(TrainingError, match="--bfloat16_gradients=true is for the `reference`"):
        Trainer(
            config_for(
                audio_records,
                tmp_path / "b",
                model=dict(SMALL_AUDIO, speech_preset="paper", conv2_kernel=40),
                bfloat16_gradients=True,
            ),
            verbose=False,
        )


def test_bad_configuration_errors(audio_records, tmp_path):
    with pytest.raises(TrainingError, match="--batch_size=3 is not divisible by the 2 replicas"):
        Trainer(
            config_for(audio_records, tmp_path / "a", sequence={"batch_size": 3}),
            strategy=two_cpu_strategy(),
        )
    with pytest.raises(TrainingError, match="--modality='speech'"):
        Trainer(config_for(audio_records, tmp_path / "b", modality="speech"))
    with pytest.raises(TrainingError, match="--steps must be >= 1"):
        Trainer(config_for(audio_records, tmp_path / "c", steps=0))
    with pytest.raises(TrainingError, match="sequence options: sequence_length"):
        Trainer(config_for(audio_records, tmp_path / "d", sequence={"sequence_length": -1}))
    with pytest.raises(TrainingError, match="--lr_schedule='step'"):
        Trainer(config_for(audio_records, tmp_path / "g", lr_schedule="step"))
    with pytest.raises(TrainingError, match="--warmup_steps=40 must be below --steps=40"):
        Trainer(config_for(audio_records, tmp_path / "g", lr_schedule="cosine", warmup_steps=40))
    with pytest.raises(TrainingError, match="--eval_context='frames': expected one of"):
        Trainer(config_for(audio_records, tmp_path / "g", eval_context="frames"))
    with pytest.raises(TrainingError, match="--patience needs evaluations"):
        Trainer(config_for(audio_records, tmp_path / "g", patience=2, eval_every=0))
    with pytest.raises(TrainingError, match="--patience must be >= 0, received -1"):
        Trainer(config_for(audio_records, tmp_path / "g", patience=-1))
    with pytest.raises(TrainingError, match="visual model needs video"):
        train(config_for(audio_records, tmp_path / "e", modality="visual"))
    # A model directory that is a file, or lies under one: named, nothing written.
    (tmp_path / "a_file").write_text("keep")
    with pytest.raises(TrainingError, match=r"--model_dir=\S*a_file: \S*a_file is a file, not a"):
        Trainer(config_for(audio_records, tmp_path / "a_file"))
    with pytest.raises(TrainingError, match=r"a_file \(a parent of \S*a_file/run\) is a file"):
        Trainer(config_for(audio_records, tmp_path / "a_file" / "run"))
    assert (tmp_path / "a_file").read_text() == "keep"
    # A model directory from an incompatible configuration.
    Trainer(config_for(audio_records, tmp_path / "f", steps=1, eval_every=0), verbose=False).train()
    other = dict(SMALL_AUDIO, lstm_units=8)
    with pytest.raises(
        TrainingError, match=r"another configuration \(model.lstm_units: 16 there, 8"
    ):
        Trainer(config_for(audio_records, tmp_path / "f", model=other))


def test_resume_with_other_data_or_optimiser_settings(audio_records, tmp_path):
    """A trained model directory resumed with another batch size, seed, hop or
    learning-rate curve is refused, naming each key, and config.json is left as it was;
    --allow_config_change goes on and records the change with the step it applies from."""
    model_dir = tmp_path / "run"
    Trainer(config_for(audio_records, model_dir, steps=2, eval_every=0), verbose=False).train()
    written = (model_dir / "config.json").read_text()
    sequence = {"sequence_length": 50, "hop": 10, "batch_size": 2, "shuffle_buffer": 64}
    changed = config_for(audio_records, model_dir, steps=3, eval_every=0, seed=1, sequence=sequence)
    with pytest.raises(TrainingError) as refused:
        Trainer(changed, verbose=False)
    message = str(refused.value)
    for part in (
        "sequence.batch_size: 4 there, 2 now",
        "sequence.hop: 25 there, 10 now",
        "seed: 0 there, 1 now",
        "--allow_config_change",
    ):
        assert part in message
    assert (model_dir / "config.json").read_text() == written
    # The cosine curve is defined by --steps: a longer run is another curve.
    cosine = tmp_path / "cosine"
    first = config_for(audio_records, cosine, steps=2, eval_every=0, lr_schedule="cosine")
    Trainer(first, verbose=False).train()
    with pytest.raises(TrainingError, match="steps: 2 there, 4 now"):
        Trainer(dataclasses.replace(first, steps=4), verbose=False)
    # A constant rate: more steps continue the same run.
    Trainer(config_for(audio_records, model_dir, steps=3, eval_every=0), verbose=False).train()
    # Allowed: trained on from step 3 with the new settings, the change recorded.
    allowed = dataclasses.replace(changed, steps=4, allow_config_change=True)
    Trainer(allowed, verbose=False).train()
    config = read_json(model_dir / "config.json")
    assert config["seed"] == 1 and config["sequence"]["batch_size"] == 2
    assert config["config_changes"] == [
        {
            "changed": {
                "sequence.batch_size": {"before": 4, "after": 2},
                "sequence.hop": {"before": 25, "after": 10},
                "seed": {"before": 0, "after": 1},
            },
            "from_step": 3,
        }
    ]
    # The new settings are now the run's: resuming with them needs no flag.
    Trainer(dataclasses.replace(changed, steps=5), verbose=False).train()
    assert read_json(model_dir / "config.json")["config_changes"][0]["from_step"] == 3
    # A second run on a directory in use (its lock held by a live process) is refused.
    (model_dir / ".lock").write_text(f"{os.getpid()} {socket.gethostname()}\n")
    with pytest.raises(TrainingError, match=f"--model_dir={model_dir} is in use by process"):
        Trainer(dataclasses.replace(changed, steps=6), verbose=False).train()
    assert read_json(model_dir / "config.json")["steps"] == 5
    assert (model_dir / ".lock").exists()  # another process's lock is never removed


def test_a_full_disk_while_checkpointing_is_one_line_and_resumable(audio_records, tmp_path):
    model_dir = tmp_path / "run"
    config = config_for(audio_records, model_dir, steps=4, checkpoint_every=2, eval_every=0)
    trainer = Trainer(config, verbose=False)
    real_save = trainer.manager.save

    def save(checkpoint_number):
        if checkpoint_number == 2:
            return real_save(checkpoint_number=checkpoint_number)
        os.makedirs(model_dir / "checkpoints" / f"ckpt-{checkpoint_number}_temp" / "part")
        raise tf.errors.ResourceExhaustedError(None, None, "No space left on device\nmore")

    trainer.manager.save = save
    with pytest.raises(TrainingError) as error:
        trainer.train()
    first = model_dir / "checkpoints" / "ckpt-2"
    assert str(error.value) == (
        f"disk full while writing to {model_dir} at step 4 (No space left on device); the "
        f"last complete checkpoint ({first}) is kept: free space and run the same command "
        "to resume"
    )
    assert not [n for n in os.listdir(model_dir / "checkpoints") if "_temp" in n]
    assert not (model_dir / ".lock").exists()
    resumed = Trainer(config, verbose=False)
    resumed.train()
    assert int(resumed.step.numpy()) == 4


@pytest.mark.parametrize("level_norm_frames", [0, 25])
def test_predict_split_covers_every_frame(audio_records, level_norm_frames):
    from e2e_emotion.data import RecordSource, SequenceConfig
    from e2e_emotion.models.inference import predict_recording
    from tfrecords_tools import inspect_records

    source = RecordSource(audio_records)
    model = lively(build_model("audio", level_norm_frames=level_norm_frames, **SMALL_AUDIO))
    sequence = SequenceConfig(sequence_length=70)
    windowed, labels = predict_split(model, source, "dev", "audio", sequence, "window")
    assert {rid: len(p) for rid, p in windowed.items()} == dict(source.recordings("dev"))
    assert set(labels) == set(windowed)
    rid, n = source.recordings("dev")[0]
    frames = inspect_records.read_recording(audio_records, rid)
    np.testing.assert_array_equal(labels[rid][:, 0], frames["arousal"])
    whole = model({"audio": frames["audio"][None]}, training=False).numpy()[0]
    # Windows: every window starts from a zero state, so only the first one equals the
    # model run over the whole recording.
    np.testing.assert_allclose(windowed[rid][:70], whole[:70], atol=1e-5)
    assert np.abs(windowed[rid][70:] - whole[70:]).max() > 1e-2
    # ... as bin/predict.py's windows (each a recording's start, the level state too).
    np.testing.assert_allclose(
        windowed[rid], predict_recording(model, {"audio": frames["audio"]}, 70), atol=1e-5
    )
    # Recording (the default): features per window (each with its recording's level state),
    # the LSTM over the whole recording, equal to the model on the whole sequence (the
    # reference preset is frame-local).
    carried, carried_labels = predict_split(model, source, "dev", "audio", sequence)
    assert list(carried) == list(windowed)
    np.testing.assert_allclose(carried[rid], whole, atol=1e-4)
    np.testing.assert_array_equal(carried_labels[rid], labels[rid])
    with pytest.raises(ValueError, match="evaluation context must be one of"):
        predict_split(model, source, "dev", "audio", sequence, "frames")


def run_train_command(records, model_dir, steps, extra=(), env=None):
    return [
        sys.executable,
        os.path.join(ROOT, "bin", "train.py"),
        f"--records={records}",
        f"--model_dir={model_dir}",
        "--modality=audio",
        "--speech_preset=reference",
        "--lstm_units=16",
        "--input_dropout=0",
        "--sequence_length=50",
        "--batch_size=4",
        f"--steps={steps}",
        "--checkpoint_every=5",
        "--eval_every=0",
        "--log_every=5",
        "--learning_rate=3e-3",
        # A constant rate: the resume test stops a run meant for 400 steps and finishes it
        # at fewer, and a cosine schedule is defined by the total.
        "--lr_schedule=constant",
        *extra,
    ]


def test_train_script_passes_select_above_start_to_the_config(audio_records, tmp_path):
    # The flag reaches TrainConfig: its check refuses it without a late-fusion start.
    command = run_train_command(audio_records, tmp_path / "run", 1, ["--select_above_start"])
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    assert (
        "error: --select_above_start compares with the late-fusion start: it needs "
        "--init_head=late_fusion" in result.stdout + result.stderr
    )
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_kill_minus_9_then_restart_resumes_and_finishes(audio_records, tmp_path):
    model_dir = tmp_path / "killed"
    command = run_train_command(audio_records, model_dir, steps=400)
    process = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    checkpoints = model_dir / "checkpoints"

    def checkpointed_step():
        # The checkpoint state file is written last (atomically) once a checkpoint is
        # complete: only a step it names is one that a restart can resume from.
        latest = tf.train.latest_checkpoint(str(checkpoints))
        return int(latest.rsplit("-", 1)[1]) if latest else 0

    deadline = time.monotonic() + 300
    while checkpointed_step() < 10:
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint of step >= 10 within 300 s"
        time.sleep(0.1)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    latest = tf.train.latest_checkpoint(str(checkpoints))
    killed_at = checkpointed_step()
    assert 10 <= killed_at < 400
    finish = run_train_command(audio_records, model_dir, steps=killed_at + 10)
    result = subprocess.run(finish, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resumed from {latest} at step {killed_at}" in result.stdout
    final = tf.train.latest_checkpoint(str(checkpoints))
    assert final.endswith(f"ckpt-{killed_at + 10}")
    # Same weights as an uninterrupted run of the same number of steps (same data, same
    # optimizer state): the resumed run is indistinguishable.
    reference_dir = tmp_path / "straight"
    straight = run_train_command(audio_records, reference_dir, steps=killed_at + 10)
    result = subprocess.run(straight, env=ENV, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    a = keras.saving.load_model(str(model_dir / "final" / "model.keras"))
    b = keras.saving.load_model(str(reference_dir / "final" / "model.keras"))
    for x, y in zip(a.weights, b.weights, strict=True):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-4, atol=1e-5)


def free_ports(count):
    """Ports for servers that other processes will bind, taken below the kernel's
    ephemeral range: a port that bind(0) hands out is free again once closed, and any
    connection or other bind(0) could take it before the server binds it; ports below
    the range are never handed out by the kernel."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    ports = []
    for port in range(max(1024, low - 4000 + os.getpid() % 2000), low):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use: try the next one
        ports.append(port)
        if len(ports) == count:
            return ports
    raise AssertionError(f"no {count} free ports below {low}")


@pytest.mark.slow
def test_two_multiworker_processes_train_in_lock_step(audio_records, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        command = run_train_command(
            audio_records, tmp_path / "mw", steps=6, extra=["--strategy=multiworker"]
        )
        processes.append(
            subprocess.Popen(
                command,
                env={**ENV, "TF_CONFIG": tf_config},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-3000:]
    history = read_history(tmp_path / "mw" / "logs" / "history.jsonl")
    assert [row["step"] for row in history] == [5, 6]
    assert tf.train.latest_checkpoint(str(tmp_path / "mw" / "checkpoints")).endswith("ckpt-6")
    assert "2 replicas" in outputs[0][0]
