"""Wall-clock timing shared by the benchmarks (models, SavedModel, TFLite)."""

from __future__ import annotations

import time


def timed_runs(function, repeats, warmup=0):
    """Seconds taken by each of ``repeats`` calls of ``function()``, after ``warmup`` calls.

    ``function`` must wait for its result (e.g. call ``.numpy()``): TensorFlow runs ops
    asynchronously otherwise. Callers report the median (robust to a stray slow run).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if warmup < 0:
        raise ValueError(f"warmup must be >= 0, got {warmup}")
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times
