"""Flag values of ``bin/train.py`` and a recipe -> ``TrainConfig`` -> training."""

from __future__ import annotations

from e2e_emotion import config
from e2e_emotion.data import DataError
from e2e_emotion.training.recipes import recipe
from e2e_emotion.training.trainer import TrainConfig, TrainingError, train, use_logical_cpus

user_errors = (TrainingError, DataError, FileNotFoundError)


def config_from_flags(flags, extra_model_config=None, reference_scores=None):
    """Builds the ``TrainConfig`` of the parsed flags (``config.define_training_flags``):
    the settings of ``--recipe`` for the modality, each replaced by its flag where the
    flag was given."""
    try:
        settings = recipe(
            flags.recipe, flags.modality, bool(flags.init_audio and flags.init_visual), flags.steps
        )
        model = {**settings["model"], **config.model_values(flags)}
        sequence = {**settings["sequence"], **config.sequence_values(flags)}
        training = config.training_values(flags)
    except ValueError as error:
        raise TrainingError(str(error)) from None
    if not isinstance(extra_model_config or {}, dict):
        raise TrainingError("--model_config must be a JSON object")
    model.update(extra_model_config or {})
    for key in config.recipe_fields():
        if key not in training:
            training[key] = settings[key]
    if training["init_head"] != "late_fusion":  # the recipe's rules are for its late fusion
        for key in ("select_above_start", "freeze_features"):
            if getattr(flags, key) is None:
                training[key] = False
    if flags.logical_cpus and flags.strategy != "mirrored":
        raise TrainingError("--logical_cpus needs --strategy=mirrored")
    return TrainConfig(
        model=model, sequence=sequence, reference_scores=reference_scores, **training
    )


def train_from_flags(flags, extra_model_config=None, reference_scores=None):
    config = config_from_flags(flags, extra_model_config, reference_scores)
    use_logical_cpus(flags.logical_cpus)
    try:
        from e2e_emotion.models import build_model  # noqa: F401  (fail early on bad sizes)

        return train(config)
    except ValueError as error:  # bad build_model arguments name the value
        if isinstance(error, DataError):
            raise
        raise TrainingError(str(error)) from None
