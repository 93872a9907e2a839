"""Flag values of ``bin/train.py`` and a recipe -> ``TrainConfig`` -> training."""

from __future__ import annotations

from e2e_emotion.data import DataError
from e2e_emotion.training.recipes import recipe
from e2e_emotion.training.trainer import TrainConfig, TrainingError, train, use_logical_cpus

user_errors = (TrainingError, DataError, FileNotFoundError)


def _ints(values, flag):
    try:
        return [int(v) for v in values]
    except ValueError:
        raise TrainingError(f"--{flag}={','.join(values)}: expected integers") from None


# Flags whose value, when not given, comes from the recipe: flag name -> where it lands
# (a key of the model arguments, of the sequence configuration, or of TrainConfig).
_MODEL_FLAGS = {
    "speech_preset": "speech_preset",
    "lstm_units": "lstm_units",
    "lstm_layers": "lstm_layers",
    "lstm_type": "lstm_type",
    "input_dropout": "input_dropout",
    "level_norm_frames": "level_norm_frames",
    "level_norm_db": "level_norm_db",
    "resnet_blocks": "stage_blocks",
    "resnet_filters": "stage_filters",
    "stem_filters": "stem_filters",
}
_SEQUENCE_FLAGS = (
    "sequence_length",
    "hop",
    "batch_size",
    "shuffle_buffer",
    "augment_video",
    "audio_gain_db",
    "audio_noise",
    "speed_perturb",
    "reverb_prob",
    "band_limit_prob",
    "noise_prob",
    "video_dropout",
    "audio_dropout",
)
_TRAINING_FLAGS = (
    "learning_rate",
    "steps",
    "lr_schedule",
    "warmup_steps",
    "select_on",
    "init_head",
    "select_above_start",
)


def config_from_flags(flags, extra_model_config=None, reference_scores=None):
    """Builds the ``TrainConfig`` of the parsed flags (see ``bin/train.py``): the settings
    of ``--recipe`` for the modality, each replaced by its flag where the flag was given
    (a flag left at None)."""
    try:
        settings = recipe(
            flags.recipe, flags.modality, bool(flags.init_audio and flags.init_visual), flags.steps
        )
    except ValueError as error:
        raise TrainingError(str(error)) from None
    model = settings["model"]
    for flag, key in _MODEL_FLAGS.items():
        value = getattr(flags, flag)
        if value is not None:
            model[key] = _ints(value, flag) if flag.startswith("resnet_") else value
    if not isinstance(extra_model_config or {}, dict):
        raise TrainingError("--model_config must be a JSON object")
    model.update(extra_model_config or {})
    sequence = settings["sequence"]
    for flag in _SEQUENCE_FLAGS:
        if getattr(flags, flag) is not None:
            sequence[flag] = getattr(flags, flag)
    training = {
        key: getattr(flags, key) if getattr(flags, key) is not None else settings[key]
        for key in _TRAINING_FLAGS
    }
    if training["init_head"] != "late_fusion" and flags.select_above_start is None:
        training["select_above_start"] = False  # the recipe's rule is for its late fusion
    if flags.logical_cpus and flags.strategy != "mirrored":
        raise TrainingError("--logical_cpus needs --strategy=mirrored")
    return TrainConfig(
        records=flags.records,
        model_dir=flags.model_dir,
        modality=flags.modality,
        model=model,
        sequence=sequence,
        checkpoint_every=flags.checkpoint_every,
        eval_every=flags.eval_every,
        log_every=flags.log_every,
        train_split=flags.train_split,
        eval_split=flags.eval_split,
        strategy=flags.strategy,
        init_audio=flags.init_audio,
        init_visual=flags.init_visual,
        freeze_features=flags.freeze_features,
        freeze_batch_norm=flags.freeze_batch_norm,
        seed=flags.seed,
        jit_compile={"auto": None, "true": True, "false": False}[flags.jit_compile],
        mixed_precision=flags.mixed_precision,
        patience=flags.patience,
        restore_best=flags.restore_best,
        eval_train=flags.eval_train,
        eval_context=flags.eval_context,
        allow_config_change=flags.allow_config_change,
        reference_scores=reference_scores,
        **training,
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
