"""A training run's model directory: its config.json checked against a reused one, and
files written so that an interruption never leaves a half-written one.

Layout (``trainer`` module docstring): ``config.json``, ``checkpoints/``, ``logs/``,
``best/``, ``final/``, the ``.lock`` held while a run trains, and for a multimodal model
that starts as a late fusion, ``late_fusion.json`` (the blend chosen for its start).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os

import numpy as np

from e2e_emotion.config import (
    COMPATIBLE_KEYS,
    TRAJECTORY_KEYS,
    SequenceConfig,
    TrainConfig,
    TrainingError,
)
from e2e_emotion.files import atomic_path
from tfrecords_tools.output_paths import output_path_problem

# The blend a late-fusion start chose on the eval split: {"audio_weight": [per dimension],
# "eval_split": ..., "scores": {weight: [CCC per dimension]}}.
LATE_FUSION_FILE = "late_fusion.json"


def write_json(path, data):
    """``data`` as indented JSON at ``path``, written atomically."""
    with atomic_path(path) as temporary, open(temporary, "w") as stream:
        json.dump(data, stream, indent=2, default=json_default)


def json_default(value):
    """JSON for NumPy scalars and tuples (``json.dump(default=...)``)."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def save_model_atomically(model, path):
    """``model.save(path)`` through a temporary file renamed at the end."""
    with atomic_path(path, suffix=".keras") as temporary:
        model.save(temporary)


def _comparable(config_json):
    """The values of a config.json that a resumed run must keep; a key an older
    config.json lacks had the default value (of TrainConfig, of SequenceConfig)."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    values = {key: config_json.get(key, defaults.get(key)) for key in COMPATIBLE_KEYS}
    for key in TRAJECTORY_KEYS:
        values[key] = config_json.get(key, defaults.get(key))
    sequence = dict(values["sequence"] or {})
    with contextlib.suppress(TypeError, ValueError):  # else compared as written
        sequence = dataclasses.asdict(SequenceConfig(**sequence))
    sequence.pop("seed", None)  # the run's seed is compared on its own
    values["sequence"] = json.loads(json.dumps(sequence, default=json_default))
    # The warm-up and the total steps shape the cosine curve only; a constant rate
    # continues the same whatever they say.
    cosine = values["lr_schedule"] == "cosine"
    values["steps"] = config_json.get("steps", defaults["steps"]) if cosine else None
    if not cosine:
        values["warmup_steps"] = None
    return values


def _differences(old, new, keys):
    """``key: old there, new now`` for each key whose value differs (the sequence
    options one by one)."""
    found = {}
    for key in keys:
        if old.get(key) == new.get(key):
            continue
        if isinstance(old.get(key), dict) and isinstance(new.get(key), dict):
            for name in sorted(set(old[key]) | set(new[key])):
                if old[key].get(name) != new[key].get(name):
                    found[f"{key}.{name}"] = (old[key].get(name), new[key].get(name))
        else:
            found[key] = (old.get(key), new.get(key))
    return found


def check_model_dir(config):
    """The configuration to write as config.json; a reused model directory that holds a
    trained state (checkpoint, best or final model) must have a compatible one: the same
    ``COMPATIBLE_KEYS`` always, the same ``TRAJECTORY_KEYS`` unless
    ``allow_config_change`` (the change is then appended to ``config_changes``). A
    directory whose run stopped before saving anything (an initialisation refused, say)
    is reused."""
    problem = output_path_problem(config.model_dir, "directory")
    if problem:
        raise TrainingError(f"--model_dir={config.model_dir}: {problem}")
    path = os.path.join(config.model_dir, "config.json")
    new = json.loads(json.dumps(config.to_json(), default=json_default))
    trained = any(
        os.path.exists(os.path.join(config.model_dir, *parts))
        for parts in (
            ("checkpoints", "checkpoint"),
            ("best", "model.keras"),
            ("final", "model.keras"),
        )
    )
    if not (trained and os.path.exists(path)):
        return new
    with open(path) as stream:
        try:
            old_json = json.load(stream)
        except json.JSONDecodeError as error:
            raise TrainingError(f"{path} is not valid JSON ({error})") from None
    if not isinstance(old_json, dict):
        raise TrainingError(f"{path} is not a JSON object")
    old, now = _comparable(old_json), _comparable(new)

    def describe(found):
        return "; ".join(f"{k}: {a!r} there, {b!r} now" for k, (a, b) in found.items())

    different = _differences(old, now, COMPATIBLE_KEYS)
    if different:
        raise TrainingError(
            f"model directory {config.model_dir} holds a run with another configuration "
            f"({describe(different)}). Use a new --model_dir, or the same flags as that run."
        )
    changed = _differences(old, now, (*TRAJECTORY_KEYS, "steps"))
    if changed and not config.allow_config_change:
        raise TrainingError(
            f"model directory {config.model_dir} holds a run trained with other settings "
            f"({describe(changed)}); resuming with them would not continue that run. Use the "
            "same flags, a new --model_dir, or --allow_config_change to go on with the new "
            "settings (recorded in config.json)."
        )
    new["config_changes"] = list(old_json.get("config_changes", []))
    if changed:
        new["config_changes"].append(
            {"changed": {k: {"before": a, "after": b} for k, (a, b) in changed.items()}}
        )
    return new
