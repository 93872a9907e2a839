"""Training recipes: bin/train.py's settings come from one named recipe."""

import json
import os
import subprocess
import sys

import pytest
from absl import flags

from e2e_emotion import config
from e2e_emotion.training import recipes
from e2e_emotion.training.cli import config_from_flags
from e2e_emotion.training.trainer import TrainingError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ROOT}


def train_flags(**given):
    """bin/train.py's parsed flags with nothing given but ``given`` (defaults as there)."""
    values = flags.FlagValues()
    config.define_training_flags(values)
    values(["train.py", "--records=r", "--model_dir=m"])
    for name, value in given.items():
        setattr(values, name, value)
    return values


def test_flags_not_given_come_from_the_recipe():
    config = config_from_flags(train_flags())
    small = recipes.recipe("small", "audio")
    assert config.model == small["model"] and config.sequence == small["sequence"]
    assert (config.learning_rate, config.lr_schedule, config.steps) == (3e-3, "cosine", 300)
    assert config.select_on == "arousal" and config.init_head == "random"
    given = config_from_flags(train_flags(learning_rate=1e-3, lstm_units=8, hop=50))
    assert given.learning_rate == 1e-3 and given.model["lstm_units"] == 8
    assert given.sequence["hop"] == 50 and given.sequence["batch_size"] == 4
    paper = config_from_flags(train_flags(recipe="paper", modality="visual"))
    assert paper.model == {"speech_preset": "paper", "lstm_units": 256}  # build_model's ResNet-50
    assert (paper.learning_rate, paper.lr_schedule, paper.steps) == (1e-4, "constant", 1000)
    with pytest.raises(TrainingError, match=r"--recipe=fast: unknown recipe; expected one of"):
        config_from_flags(train_flags(recipe="fast"))


def test_multimodal_from_two_models_starts_as_their_late_fusion():
    both = train_flags(modality="multimodal", init_audio="a", init_visual="v")
    config = config_from_flags(both)
    assert config.init_head == "late_fusion" and config.select_above_start
    assert config.freeze_features  # only its head trains, with video dropout
    assert config.sequence["video_dropout"] == 0.3
    assert config.model["lstm_units"] == 64  # the two 32-unit heads side by side
    one = config_from_flags(train_flags(modality="multimodal", init_audio="a"))
    assert one.init_head == "random" and not one.select_above_start
    random_head = config_from_flags(
        train_flags(modality="multimodal", init_audio="a", init_visual="v", init_head="random")
    )
    assert random_head.init_head == "random" and not random_head.select_above_start
    assert not random_head.freeze_features and not one.freeze_features
    paper = config_from_flags(
        train_flags(recipe="paper", modality="multimodal", init_audio="a", init_visual="v")
    )
    assert paper.init_head == "random"  # the paper trains the fused head from scratch


def _train(records, model_dir, modality, extra=()):
    command = [
        sys.executable,
        os.path.join(ROOT, "bin", "train.py"),
        f"--records={records}",
        f"--model_dir={model_dir}",
        f"--modality={modality}",
        "--steps=4",
        "--eval_every=2",
        "--checkpoint_every=2",
        "--nobaseline",
        "--noeval_train",
        *extra,
    ]
    result = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(model_dir, "best", "scores.json")) as stream:
        return json.load(stream)


@pytest.mark.slow
def test_train_script_defaults_give_a_multimodal_model_at_least_both_unimodal(
    small_records, tmp_path
):
    audio = _train(small_records, tmp_path / "audio", "audio")
    visual = _train(small_records, tmp_path / "visual", "visual")
    fused = _train(
        small_records,
        tmp_path / "multimodal",
        "multimodal",
        [f"--init_audio={tmp_path / 'audio'}", f"--init_visual={tmp_path / 'visual'}"],
    )
    with open(tmp_path / "multimodal" / "config.json") as stream:
        config = json.load(stream)
    assert config["init_head"] == "late_fusion" and config["select_above_start"]
    for name in ("arousal", "valence"):
        key = f"ccc_{name}"
        assert fused[key] >= max(audio[key], visual[key]) - 1e-3, (name, fused, audio, visual)


def test_help_lists_every_setting_flag_from_its_config_field():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", "train.py"), "--help"],
        capture_output=True,
        text=True,
        env=ENV,
    )
    text = " ".join(result.stdout.split())  # absl wraps the help lines
    # One flag per config field with a help text, each with that help.
    for name in ("--speech_preset", "--voice_units", "--video_dropout", "--learning_rate"):
        assert name in text, name
    assert "Multimodal model: where a frame has no face (a black crop)" in text
    assert "--video_dropout: Multimodal training: probability of removing" in text
    assert "(not given: the recipe's value, else 0.0)" in text
