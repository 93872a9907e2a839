"""Latency per 40 ms frame of ``.tflite`` files (one interpreter thread by default)."""

from __future__ import annotations

import os
import statistics

import numpy as np

from e2e_emotion.export.tflite.base import VARIANTS, TFLiteExportError
from e2e_emotion.export.tflite.runtime import TFLiteModel
from e2e_emotion.timing import timed_runs


def _tflite_paths(paths):
    found = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            found += sorted(
                os.path.join(path, name) for name in os.listdir(path) if name.endswith(".tflite")
            )
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise TFLiteExportError(f"{path}: no such file or directory")
    if not found:
        raise TFLiteExportError(f"no .tflite files in {', '.join(map(str, paths))}")
    return found


def benchmark(paths, repeats=50, warmup=5, num_threads=1, seed=0):
    """Latency per 40 ms frame of ``.tflite`` files with the LiteRT interpreter.

    A stream file is timed per step (one frame, state fed back); a sequence file per
    window of ``T`` frames, divided by ``T``. The median of ``repeats`` runs after
    ``warmup`` runs, on random inputs.

    Args:
        paths: ``.tflite`` files and/or directories holding them.

    Returns:
        A list of rows: ``file, kind, modality, variant, size_mb, frames_per_run,
        ms_per_frame, real_time_factor`` (``ms_per_frame / 40``; below 1 is real time).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for path in _tflite_paths(paths):
        lite = TFLiteModel(path, num_threads=num_threads)
        if lite.kind == "sequence":
            frames = lite.sequence_length
            feed = {k: _random(rng, k, (1, frames, *s)) for k, s in lite.frame_shapes.items()}
        else:
            frames = 1
            feed = {k: _random(rng, k, (1, *s)) for k, s in lite.frame_shapes.items()}
        state = lite.zero_state()

        def run(lite=lite, feed=feed, state=state):
            result = lite.runner(**feed, **state)
            if lite.kind == "stream":  # feed the new LSTM state back, as when streaming
                state.update({name: result[f"new_{name}"] for name in lite.state_shapes})

        times = timed_runs(run, repeats, warmup)
        ms = 1000 * statistics.median(times) / frames
        name = os.path.basename(path)
        variant = next((v for v in VARIANTS if name.endswith(f"_{v}.tflite")), "?")
        rows.append(
            {
                "file": path,
                "kind": lite.kind,
                "modality": lite.modality,
                "variant": variant,
                "size_mb": round(os.path.getsize(path) / 2**20, 3),
                "frames_per_run": frames,
                "ms_per_frame": round(ms, 4),
                "real_time_factor": round(ms / 40.0, 4),
            }
        )
    return rows


def _random(rng, name, shape):
    if name == "video":
        return rng.uniform(0, 1, shape).astype(np.float32)
    return rng.normal(0, 0.1, shape).astype(np.float32)


def format_benchmark(rows):
    """The rows of ``benchmark`` as a text table."""
    header = ("file", "kind", "modality", "variant", "MB", "ms/frame", "x real time")
    lines = [header]
    for row in rows:
        lines.append(
            (
                os.path.join(*os.path.normpath(row["file"]).split(os.sep)[-2:]),
                row["kind"],
                row["modality"],
                row["variant"],
                f"{row['size_mb']:.2f}",
                f"{row['ms_per_frame']:.3f}",
                f"{row['real_time_factor']:.4f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines
    )
