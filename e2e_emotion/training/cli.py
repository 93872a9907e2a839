"""Flag values of ``bin/train.py`` -> ``TrainConfig`` -> training."""

from __future__ import annotations

from e2e_emotion.data import DataError
from e2e_emotion.training.trainer import TrainConfig, TrainingError, train, use_logical_cpus

user_errors = (TrainingError, DataError, FileNotFoundError)


def _ints(values, flag):
    try:
        return [int(v) for v in values]
    except ValueError:
        raise TrainingError(f"--{flag}={','.join(values)}: expected integers") from None


def config_from_flags(flags, extra_model_config=None, reference_scores=None):
    """Builds the ``TrainConfig`` of the parsed flags (see ``bin/train.py``)."""
    model = {
        "speech_preset": flags.speech_preset,
        "lstm_units": flags.lstm_units,
        "lstm_layers": flags.lstm_layers,
        "lstm_type": flags.lstm_type,
        "input_dropout": flags.input_dropout,
        "level_norm_frames": flags.level_norm_frames,
        "level_norm_db": flags.level_norm_db,
        "stage_blocks": _ints(flags.resnet_blocks, "resnet_blocks"),
        "stage_filters": _ints(flags.resnet_filters, "resnet_filters"),
        "stem_filters": flags.stem_filters,
    }
    if not isinstance(extra_model_config or {}, dict):
        raise TrainingError("--model_config must be a JSON object")
    model.update(extra_model_config or {})
    sequence = {
        "sequence_length": flags.sequence_length,
        "hop": flags.hop,
        "batch_size": flags.batch_size,
        "shuffle_buffer": flags.shuffle_buffer,
        "augment_video": flags.augment_video,
        "audio_gain_db": flags.audio_gain_db,
        "audio_noise": flags.audio_noise,
        "speed_perturb": flags.speed_perturb,
        "reverb_prob": flags.reverb_prob,
        "band_limit_prob": flags.band_limit_prob,
        "noise_prob": flags.noise_prob,
        "video_dropout": flags.video_dropout,
        "audio_dropout": flags.audio_dropout,
    }
    if flags.logical_cpus and flags.strategy != "mirrored":
        raise TrainingError("--logical_cpus needs --strategy=mirrored")
    return TrainConfig(
        records=flags.records,
        model_dir=flags.model_dir,
        modality=flags.modality,
        model=model,
        sequence=sequence,
        learning_rate=flags.learning_rate,
        steps=flags.steps,
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
        init_head=flags.init_head,
        seed=flags.seed,
        jit_compile={"auto": None, "true": True, "false": False}[flags.jit_compile],
        mixed_precision=flags.mixed_precision,
        lr_schedule=flags.lr_schedule,
        warmup_steps=flags.warmup_steps,
        patience=flags.patience,
        restore_best=flags.restore_best,
        eval_train=flags.eval_train,
        select_on=flags.select_on,
        select_above_start=flags.select_above_start,
        eval_context=flags.eval_context,
        reference_scores=reference_scores,
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
