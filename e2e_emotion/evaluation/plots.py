"""PNG plots: predictions against the gold standard, and training curves.

Figures are drawn with ``matplotlib.figure.Figure`` and its Agg canvas directly, never
through ``pyplot``: no global backend is selected, no window opens, nothing leaks
between calls, and it works on headless machines. Every file is written through a
temporary file and ``os.replace``, so a crash never leaves a truncated PNG.
NumPy/matplotlib only: this module never imports TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from e2e_emotion.evaluation.scores import DEFAULT_NAMES, ccc
from e2e_emotion.files import atomic_path
from tfrecords_tools.schema import FRAME_SECONDS


def _save(figure: Figure, path) -> str:
    path = os.fspath(path)
    with atomic_path(path, suffix=".png") as temporary:
        FigureCanvasAgg(figure)
        figure.savefig(temporary, format="png", dpi=100)
    return path


def _series(values, what, dims):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != dims or values.shape[0] == 0:
        raise ValueError(f"{what}: expected shape [frames, {dims}], got {values.shape}.")
    return values


def plot_predictions(
    path,
    times,
    predictions,
    labels=None,
    title: str | None = None,
    names: Sequence[str] = DEFAULT_NAMES,
    frame_seconds: float = FRAME_SECONDS,
) -> str:
    """Prediction vs gold standard over time, one panel per dimension, as a PNG.

    Args:
        path: output ``.png`` path (parent directories are created).
        times: ``[n]`` seconds of every frame, or ``None`` for ``frame * frame_seconds``.
        predictions: ``[n, D]``.
        labels: ``[n, D]`` gold standard or ``None`` (e.g. the test split). When given,
            every panel's title carries that dimension's CCC.
        title: figure title.

    Returns the path written.
    """
    names = tuple(names)
    predictions = _series(predictions, "plot_predictions: predictions", len(names))
    frames = predictions.shape[0]
    if labels is not None:
        labels = _series(labels, "plot_predictions: labels", len(names))
        if labels.shape != predictions.shape:
            raise ValueError(
                f"plot_predictions: labels {labels.shape} and predictions "
                f"{predictions.shape} differ in shape."
            )
    if times is None:
        times = np.arange(frames) * frame_seconds
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (frames,):
        raise ValueError(f"plot_predictions: times must have shape [{frames}], got {times.shape}.")

    figure = Figure(figsize=(10, 2.2 * len(names) + 0.6), layout="constrained")
    axes = figure.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for index, (axis, name) in enumerate(zip(axes, names, strict=True)):
        panel_title = name
        if labels is not None:
            axis.plot(times, labels[:, index], color="black", linewidth=1.2, label="gold standard")
            if np.all(np.isfinite(labels[:, index])) and np.all(np.isfinite(predictions[:, index])):
                panel_title += f"  (CCC {ccc(predictions[:, index], labels[:, index]):.3f})"
        axis.plot(times, predictions[:, index], color="tab:red", linewidth=1.0, label="prediction")
        axis.set_title(panel_title, fontsize=10, loc="left")
        axis.set_ylabel(name)
        axis.grid(True, alpha=0.3)
        axis.legend(loc="upper right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def _file_name(rid) -> str:
    """A safe file stem for a recording id (``train_1``, ``P16``)."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(rid)).strip("._")
    return stem or "recording"


def plot_recordings(
    directory,
    predictions: Mapping[str, np.ndarray],
    labels: Mapping[str, np.ndarray] | None = None,
    names: Sequence[str] = DEFAULT_NAMES,
    frame_seconds: float = FRAME_SECONDS,
) -> list[str]:
    """One PNG per recording, ``directory/<rid>.png``; labels may be missing for some.

    Args:
        predictions: ``{rid: [n, D]}``.
        labels: ``{rid: [n, D]}`` or ``None``; a recording without labels is drawn alone.

    Returns the paths written, in the order of ``predictions``.
    """
    directory = os.fspath(directory)
    labels = labels or {}
    paths, used = [], set()
    for rid, values in predictions.items():
        stem = _file_name(rid)
        if stem in used:
            raise ValueError(f"plot_recordings: recording ids collide on file name {stem!r}.")
        used.add(stem)
        paths.append(
            plot_predictions(
                os.path.join(directory, f"{stem}.png"),
                None,
                values,
                labels.get(rid),
                title=str(rid),
                names=names,
                frame_seconds=frame_seconds,
            )
        )
    return paths


def _number(value):
    """A finite float, or ``None`` for missing/non-numeric/non-finite values."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _curve(rows, key):
    points = [(row["step"], _number(row.get(key))) for row in rows]
    points = [(step, value) for step, value in points if value is not None]
    if not points:
        return None
    steps, values = zip(*points, strict=True)
    return np.asarray(steps, dtype=np.float64), np.asarray(values, dtype=np.float64)


def plot_training_curves(path, history_rows: Iterable[Mapping]) -> str:
    """Loss and dev CCC against the training step, as a PNG.

    Args:
        history_rows: dicts such as ``{"step": 10, "loss": 0.8, "dev_ccc_arousal": 0.2,
            "dev_ccc_valence": 0.1, "learning_rate": 1e-4, "frames_per_second": 120}``.
            Every row needs ``step``; other keys may be missing (or NaN) in some rows.
            Panels: every ``*loss*`` key; every ``*ccc*`` key; ``learning_rate`` (log
            scale) when present. A panel with no values says so.

    Returns the path written.
    """
    rows = []
    for index, row in enumerate(history_rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"plot_training_curves: row {index} is not a dict: {row!r}.")
        if _number(row.get("step")) is None:
            raise ValueError(f"plot_training_curves: row {index} has no numeric 'step': {row!r}.")
        rows.append(row)
    keys = []
    for row in rows:
        keys.extend(key for key in row if key not in keys and key != "step")
    loss_keys = [key for key in keys if "loss" in key]
    ccc_keys = [key for key in keys if "ccc" in key.lower()]
    panels = [("loss", loss_keys, False), ("CCC", ccc_keys, False)]
    if "learning_rate" in keys:
        panels.append(("learning rate", ["learning_rate"], True))

    figure = Figure(figsize=(9, 2.6 * len(panels) + 0.6), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for axis, (label, panel_keys, log_scale) in zip(axes, panels, strict=True):
        drawn = 0
        for key in panel_keys:
            curve = _curve(rows, key)
            if curve is None:
                continue
            marker = "o" if len(curve[0]) < 30 else None
            axis.plot(*curve, marker=marker, markersize=3, linewidth=1.2, label=key)
            drawn += 1
        if drawn:
            axis.legend(loc="best", fontsize=8)
            if log_scale:
                axis.set_yscale("log")
        else:
            axis.text(
                0.5, 0.5, f"no {label} values", ha="center", va="center", transform=axis.transAxes
            )
        axis.set_ylabel(label)
        axis.grid(True, alpha=0.3)
    axes[-1].set_xlabel("step")
    figure.suptitle(f"training curves ({len(rows)} rows)")
    return _save(figure, path)


def read_history(path) -> list[dict]:
    """Reads a JSON-lines history file: one dict per non-blank line -> list of dicts.

    A malformed line raises ``ValueError`` naming the file and line number.
    """
    path = os.fspath(path)
    rows = []
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg}).") from None
            if not isinstance(row, dict):
                raise ValueError(
                    f"{path}, line {number}: expected a JSON object, got {type(row).__name__}."
                )
            rows.append(row)
    return rows
