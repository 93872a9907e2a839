"""Named training recipes: every setting of a model's training in one place.

``bin/train.py --recipe=NAME`` (default ``small``) and the quickstart read them; a flag
given on the command line overrides the recipe's value for that flag.

* ``small``: the models and settings that train in minutes on 2 CPU cores, chosen on dev
  data of the built-in corpus (``docs/``): a ResNet of widths 16-64 with the paper's
  bottleneck design, the ``reference`` speech network with the causal level normalisation,
  2 x 32-unit LSTMs, cosine learning-rate decay; half of the visual model's training
  windows seen as through another camera (``--camera_prob``). The multimodal model, when
  it starts from a trained audio and a trained visual model, starts as their late fusion;
  its recurrent head alone is then trained, with a window's video removed in 3 of 10, and
  kept only where dev shows it at least as good on both dimensions as the start (so never
  below the better unimodal model on dev), chosen on its dev CCC with and without the
  video.
* ``paper``: Tzirakis et al. (2017): the ``paper`` speech network, ResNet-50, 2 x 256-unit
  LSTMs, Adam 1e-4, 6 s windows, the multimodal head trained from random weights.
"""

from __future__ import annotations

import copy

from e2e_emotion.config import DEFAULT_RECIPE, RECIPES  # noqa: F401 (the names' home)

_SMALL_RESNET = {"stem_filters": 16, "stage_blocks": [1, 1, 1], "stage_filters": [16, 32, 64]}
# Speech is level-normalised per recording, causally, with a 10 s prior: recordings' levels
# differ and a 6 s window cannot tell a speaker's loudness base from arousal.
_LEVEL_NORM = {"level_norm_frames": 250, "level_norm_db": -30.0}

_SMALL = {
    "audio": {
        "model": {"speech_preset": "reference", **_LEVEL_NORM, "lstm_units": 32},
        # Speech needs context (pauses, rate, a speaker's range): 6 s windows; a random
        # gain and speed perturbation stand for other levels and voices.
        "sequence": {
            "sequence_length": 150,
            "hop": 25,
            "batch_size": 4,
            "audio_gain_db": 6.0,
            "speed_perturb": 0.1,
        },
        "learning_rate": 3e-3,
        "warmup_steps": 20,
        "steps": 300,
        # Its valence output carries little and would only add noise to the choice.
        "select_on": "arousal",
    },
    "visual": {
        "model": {**_SMALL_RESNET, "lstm_units": 32},
        # The ResNet's BatchNorm and the batch CCC want many recordings per batch. Half
        # the windows come as through another camera (mirrored, contrast and colour,
        # resolution): chosen by cross-validation on the hard built-in corpora (docs/).
        "sequence": {"sequence_length": 12, "hop": 12, "batch_size": 16, "camera_prob": 0.5},
        "learning_rate": 1e-3,
        "warmup_steps": 50,
        "steps": 800,
        "select_on": "mean",
    },
    "multimodal": {
        # Its head is the two unimodal heads side by side (32 + 32 units) when it starts
        # from them.
        # Where a frame has no face, its predictions are the audio half's alone.
        "model": {
            "speech_preset": "reference",
            **_LEVEL_NORM,
            **_SMALL_RESNET,
            "lstm_units": 64,
            "voice_units": 32,
        },
        # A window's whole video is removed in 3 of 10, so the model learns to go on with
        # the voice when the face is lost (a rate set beforehand, not tuned: see docs/).
        "sequence": {
            "sequence_length": 150,
            "hop": 25,
            "batch_size": 2,
            "audio_gain_db": 6.0,
            "video_dropout": 0.3,
        },
        # Lower than the unimodal rates: it starts from two trained models.
        "learning_rate": 5e-4,
        "warmup_steps": 20,
        "steps": 300,
        "select_on": "mean",
    },
}

_PAPER_MODEL = {"speech_preset": "paper", "lstm_units": 256}
_PAPER = {
    modality: {
        "model": dict(_PAPER_MODEL),
        "sequence": {"sequence_length": 150, "batch_size": 2},
        "learning_rate": 1e-4,
        "lr_schedule": "constant",
        "warmup_steps": 0,
        "steps": 1000,
        "select_on": "mean",
    }
    for modality in ("audio", "visual", "multimodal")
}


def recipe(name: str, modality: str, both_inits: bool = False, steps: int | None = None) -> dict:
    """The ``TrainConfig`` fields of recipe ``name`` for ``modality``.

    Returns a new dict with ``model`` and ``sequence`` (dicts), ``learning_rate``,
    ``lr_schedule``, ``warmup_steps``, ``weight_average``, ``steps``, ``select_on``,
    ``init_head``, ``select_above_start`` and ``freeze_features``. ``both_inits``: the
    multimodal model starts from a trained audio and a trained visual model (``init_audio``
    and ``init_visual``). ``steps``: another number of steps than the recipe's; its warm-up
    is then at most half of them.

    Raises:
        ValueError: an unknown recipe or modality, naming it and the known ones.
    """
    table = {"small": _SMALL, "paper": _PAPER}.get(name)
    if table is None:
        raise ValueError(f"--recipe={name}: unknown recipe; expected one of {RECIPES}")
    if modality not in table:
        raise ValueError(f"modality {modality!r}: expected one of {sorted(table)}")
    settings = {"lr_schedule": "cosine", "weight_average": 0.0, **copy.deepcopy(table[modality])}
    late_fusion = name == "small" and modality == "multimodal" and both_inits
    settings["init_head"] = "late_fusion" if late_fusion else "random"
    settings["select_above_start"] = late_fusion
    # From two trained models only the head trains: fine-tuning the feature networks on
    # batches of two windows lost visual valence on dev, and the head alone is what must
    # learn to go on without the face.
    settings["freeze_features"] = late_fusion
    if steps is not None:
        settings["steps"] = steps
        settings["warmup_steps"] = min(settings["warmup_steps"], steps // 2)
    return settings
