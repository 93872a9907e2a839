"""Final models refitted on every labelled recording (train + dev).

Held-out recordings are needed to choose a setting, a checkpoint or a blend, but a model
trained on more speakers generalises better to new ones: in nested cross-validation over
recordings on the hard built-in corpora (``docs/robustness.md``), the audio model trained
on all of a fold's recordings at the recipe's steps scored higher on unseen speakers than
the one trained on two thirds of them with its checkpoint chosen on the last third. So the
final model is refitted:

* ``refit_config``: the same settings, trained on ``train+dev`` with no evaluation; the
  last weights are the final model.
* ``late_fusion_refit``: the multimodal model's late-fusion start, its blend kept as chosen
  on dev by the run that held dev out, rebuilt from refitted unimodal models.
"""

from __future__ import annotations

import dataclasses
import json
import os

from e2e_emotion.config import TrainConfig, TrainingError
from e2e_emotion.models import load_model, resolve_model_path
from e2e_emotion.models.fusion import FusionError, set_late_fusion_head
from e2e_emotion.training.model_dir import LATE_FUSION_FILE, save_model_atomically, write_json
from e2e_emotion.training.trainer import _initialise_from


class RefitError(TrainingError):
    """A refitted model cannot be made as asked; the message names the directory."""


def refit_config(config: TrainConfig, model_dir: str) -> TrainConfig:
    """``config`` refitted into ``model_dir``: trained on its train and eval splits
    together (``train+dev``) with the same settings and steps, without evaluations (every
    labelled recording is training data), so the last weights are the final model."""
    return dataclasses.replace(
        config,
        model_dir=model_dir,
        train_split=f"{config.train_split}+{config.eval_split}",
        eval_every=0,
        patience=0,
        eval_train=False,
        reference_scores=None,
    )


def _read_json(path, what):
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError:
        raise RefitError(f"{path} not found: {what}") from None
    except (OSError, ValueError) as error:
        raise RefitError(f"{path}: cannot be read ({error})") from None


def late_fusion_refit(multimodal_dir, audio_model, visual_model, output_dir):
    """Writes ``output_dir/final/model.keras``: the late-fusion start kept in
    ``multimodal_dir``, rebuilt from ``audio_model`` and ``visual_model`` (model
    directories or ``.keras`` files, e.g. refitted ones) with the blend that run chose.

    Only a start can be rebuilt: a head trained past it learned on the old unimodal
    models' features. Returns the model file's path.

    Raises:
        RefitError: ``multimodal_dir`` kept a trained head, has no chosen blend (not a
            late-fusion start), or the models do not fit together; the message says which.
    """
    best = _read_json(
        os.path.join(multimodal_dir, "best", "scores.json"),
        "the multimodal run has kept no model",
    )
    if best.get("step") != 0:
        raise RefitError(
            f"{multimodal_dir} kept a recurrent head trained to step {best.get('step')}, "
            "not its late-fusion start: that head cannot be rebuilt from other unimodal models"
        )
    blend = _read_json(
        os.path.join(multimodal_dir, LATE_FUSION_FILE),
        "the multimodal run did not start as a late fusion (--init_head=late_fusion), or "
        "predates the file",
    )
    model = load_model(resolve_model_path(multimodal_dir))
    sources = {}
    for name, path, network in (
        ("audio", audio_model, "speech_network"),
        ("visual", visual_model, "visual_network"),
    ):
        try:
            sources[name] = load_model(resolve_model_path(path))
        except (OSError, ValueError) as error:
            raise RefitError(f"{path}: cannot load the {name} model ({error})") from None
        try:
            _initialise_from(model, sources[name], path, network)
        except TrainingError as error:
            raise RefitError(str(error)) from None
    try:
        set_late_fusion_head(model, sources["audio"], sources["visual"], blend["audio_weight"])
    except (FusionError, KeyError, TypeError) as error:
        raise RefitError(f"{multimodal_dir}: cannot rebuild its late fusion ({error})") from None
    path = os.path.join(output_dir, "final", "model.keras")
    save_model_atomically(model, path)
    write_json(
        os.path.join(output_dir, "refit.json"),
        {
            "late_fusion_of": os.path.abspath(multimodal_dir),
            "audio_model": os.path.abspath(os.fspath(audio_model)),
            "visual_model": os.path.abspath(os.fspath(visual_model)),
            "audio_weight": blend["audio_weight"],
        },
    )
    return path
