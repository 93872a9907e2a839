"""Scores of continuous predictions: CCC, Pearson correlation, RMSE, bias and scale.

Tzirakis et al. (2017) and AVEC 2016 score arousal and valence with the concordance
correlation coefficient (CCC) computed once over every frame of an evaluation split.
Per-recording CCCs and their mean are reported too: short recordings with a flat gold
standard can have very different per-recording values, so both views are kept.

Where a CCC below the Pearson correlation comes from is reported too: ``CCC = PCC * 2 /
(s + 1/s + u^2)`` with ``s`` the ratio of the standard deviations (``sd_ratio``,
predictions over gold standard) and ``u`` the difference of the means (``bias``,
predictions minus gold standard) over ``sqrt(sd_x sd_y)``: a recording scored with a
high PCC but a low CCC is off in level (bias) or in scale (sd_ratio).

Human raters follow the signals late (0.4-1.2 s on RECOLA, AVEC 2016), so every
recording is also scored at the delay that maximises its CCC (:func:`best_delay`): the
prediction at frame ``t`` against the gold standard at frame ``t + delay``, a positive
delay meaning the gold standard lags the predictions. This is information beside the
scores, never applied to them: ``ccc`` stays the CCC at zero delay.

All moments are population (biased) moments in float64, the same definition as the
training loss (``e2e_emotion.losses``) and the streaming metric (``e2e_emotion.metrics``).
NumPy only: this module never imports TensorFlow.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence

import numpy as np

from e2e_emotion.files import atomic_path
from tfrecords_tools.schema import FRAME_SECONDS, LABEL_NAMES

# The label dimensions, in the order of the model outputs.
DEFAULT_NAMES = LABEL_NAMES
METRICS = ("ccc", "pearson", "rmse", "bias", "sd_ratio")
# Raters lag by up to about 1.2 s; searching to 2 s shows a lag near that end in full
# instead of at the edge of the search.
DEFAULT_MAX_DELAY_SECONDS = 2.0
# A delay is only tried where it leaves at least this many frames (1 s) to compare:
# a CCC over fewer frames is too noisy to choose a delay by.
MIN_OVERLAP_FRAMES = 25
DELAY_CONVENTION = (
    "prediction at frame t against the gold standard at frame t + delay: a positive delay "
    "means the gold standard lags the predictions (rater lag), a negative one that the "
    "predictions lag the gold standard"
)


def _pair(x, y, what="values"):
    """Checks two 1-D series of equal length and finite values; returns float64 copies."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1:
        raise ValueError(f"{what}: expected two 1-D arrays, got shapes {x.shape} and {y.shape}.")
    if x.shape != y.shape:
        raise ValueError(f"{what}: lengths differ, {x.shape[0]} vs {y.shape[0]}.")
    if x.size == 0:
        raise ValueError(f"{what}: cannot score empty arrays.")
    for label, values in (("first", x), ("second", y)):
        if not np.all(np.isfinite(values)):
            bad = int(np.flatnonzero(~np.isfinite(values))[0])
            raise ValueError(
                f"{what}: {label} array has a non-finite value ({values[bad]}) at index {bad}."
            )
    return x, y


def _moments(x, y):
    mean_x, mean_y = x.mean(), y.mean()
    dx, dy = x - mean_x, y - mean_y
    return mean_x, mean_y, np.mean(dx * dx), np.mean(dy * dy), np.mean(dx * dy)


# Each score from the moments (one pass over the data serves all of them).
def ccc_of_moments(moments) -> float:
    """The CCC of ``(mean_x, mean_y, var_x, var_y, cov)`` (population moments): the one
    NumPy form every report and the trainer's scores use. 0.0 when the denominator is 0
    (both series constant and equal)."""
    mean_x, mean_y, var_x, var_y, cov = moments
    denominator = var_x + var_y + (mean_x - mean_y) ** 2
    if denominator <= 0.0:
        return 0.0
    return float(2.0 * cov / denominator)


def moments_of_sums(count, sum_x, sum_y, sum_xx, sum_yy, sum_xy):
    """``(mean_x, mean_y, var_x, var_y, cov)`` from (weighted) sums, which add up over
    batches and replicas."""
    count = max(float(count), 1e-12)
    mean_x, mean_y = sum_x / count, sum_y / count
    return (
        mean_x,
        mean_y,
        sum_xx / count - mean_x * mean_x,
        sum_yy / count - mean_y * mean_y,
        sum_xy / count - mean_x * mean_y,
    )


def _pearson_of(moments):
    _, _, var_x, var_y, cov = moments
    denominator = math.sqrt(var_x * var_y)
    if denominator <= 0.0:
        return 0.0
    # Rounding can push |r| a hair above 1 for perfectly collinear series.
    return float(np.clip(cov / denominator, -1.0, 1.0))


def _sd_ratio_of(moments):
    _, _, var_x, var_y, _ = moments
    if var_y <= 0.0:
        return 0.0
    return float(math.sqrt(var_x / var_y))


def ccc(x, y) -> float:
    """Concordance correlation coefficient of two 1-D series (``[n]`` each).

    ``2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` with population moments.
    Symmetric in ``x`` and ``y``. When the denominator is 0 (both series constant and
    equal) the CCC is undefined; 0.0 is returned, the value of "no agreement beyond
    chance", so a degenerate recording never turns a report into NaN.
    """
    return ccc_of_moments(_moments(*_pair(x, y, "ccc")))


def pearson(x, y) -> float:
    """Pearson correlation of two 1-D series (``[n]`` each).

    Returns 0.0 when either series is constant (zero variance makes it undefined).
    """
    return _pearson_of(_moments(*_pair(x, y, "pearson")))


def rmse(x, y) -> float:
    """Root mean squared error of two 1-D series (``[n]`` each)."""
    x, y = _pair(x, y, "rmse")
    return float(np.sqrt(np.mean((x - y) ** 2)))


def bias(x, y) -> float:
    """Mean of ``x`` (predictions) minus mean of ``y`` (gold standard): the level error."""
    x, y = _pair(x, y, "bias")
    return float(x.mean() - y.mean())


def sd_ratio(x, y) -> float:
    """Standard deviation of ``x`` (predictions) over that of ``y`` (gold standard).

    1 when the predictions have the gold standard's scale; 0.0 when ``y`` is constant
    (undefined), as for the CCC.
    """
    return _sd_ratio_of(_moments(*_pair(x, y, "sd_ratio")))


def _check_frames(value, argument, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"best_delay: {argument} must be an integer number of frames, got {value!r}."
        )
    if value < minimum:
        raise ValueError(f"best_delay: {argument} must be >= {minimum} frames, got {value}.")
    return int(value)


def delay_frames(max_delay_seconds) -> int:
    """The largest delay in whole 40 ms frames within ``max_delay_seconds`` (>= 0).

    A value that is not a multiple of 40 ms is rounded down (0.5 s -> 12 frames, 0.48 s).
    Raises ValueError naming ``max_delay_seconds`` for a negative, non-finite or
    non-numeric value.
    """
    if isinstance(max_delay_seconds, (bool, np.bool_)) or not isinstance(
        max_delay_seconds, (int, float, np.integer, np.floating)
    ):
        raise ValueError(
            f"max_delay_seconds must be a number of seconds, got {max_delay_seconds!r}."
        )
    if not math.isfinite(max_delay_seconds) or max_delay_seconds < 0:
        raise ValueError(
            f"max_delay_seconds must be a finite number of seconds >= 0, got {max_delay_seconds}."
        )
    # The tolerance keeps 0.12 / 0.04 = 2.9999999999999996 at 3 frames.
    return int(math.floor(max_delay_seconds / FRAME_SECONDS + 1e-9))


def _seconds(frames):
    # Rounded so that 3 frames are written as 0.12 s, not 0.12000000000000001.
    return round(frames * FRAME_SECONDS, 6)


def _delay_order(low, high):
    """Delays from ``low`` to ``high`` by growing size, ``+d`` before ``-d``."""
    order = [0] if low <= 0 <= high else []
    for size in range(1, max(high, -low) + 1):
        order.extend(d for d in (size, -size) if low <= d <= high)
    return order


def best_delay(
    predictions, labels, max_frames, negative: bool = True, min_overlap=MIN_OVERLAP_FRAMES
) -> dict:
    """The delay between predictions and gold standard that maximises their CCC.

    The prediction at frame ``t`` is compared with the gold standard at frame
    ``t + delay``, over the frames where both exist (``n - |delay|`` of them; nothing is
    padded): a positive delay means the gold standard lags the predictions, as human
    raters lag the behaviour they rate; a negative one that the predictions lag the gold
    standard. Delays ``0 .. max_frames`` are searched, and ``-max_frames .. -1`` too when
    ``negative`` is true. The CCC at each delay is the one :func:`ccc` gives on those
    frames, so the CCC at delay 0 is the recording's CCC.

    The post-processing ``shift`` step moves predictions ``k`` frames earlier
    (``postprocess.shift_earlier``: the prediction at ``t + k`` against the gold
    standard at ``t``), which undoes a delay of ``-k`` here and adds ``k`` to any delay.
    That step pads the end with the last prediction and is chosen on a whole split; this
    function pads nothing, changes nothing and measures one recording.

    Only delays leaving at least ``min_overlap`` frames to compare are searched: a
    recording shorter than ``max_frames + min_overlap`` frames is searched over a
    narrower range (delay 0 alone when it has at most ``min_overlap`` frames), which
    ``range_frames`` and ``limited`` report instead of an error. Ties go to the smaller
    delay, 0 first, ``+d`` before ``-d``, so a flat CCC curve reports no lag.

    Each delay's CCC is taken over its own frames, so predictions off in level or scale
    (``bias``, ``sd_ratio``) meet a slightly different stretch of gold standard at each
    delay: on a short recording that can move the maximum a few frames away from the
    best timing, which the level-blind Pearson correlation would not.

    Args:
        predictions: ``[n]`` predictions of one recording and dimension.
        labels: ``[n]`` gold standard, same frames.
        max_frames: largest delay searched in 40 ms frames (integer >= 0).
        negative: also search negative delays (the predictions lagging).
        min_overlap: fewest frames a searched delay must leave (integer >= 1).

    Returns:
        ``{"delay_frames": int, "ccc": CCC at that delay, "range_frames": (lowest,
        highest) delay searched, "limited": whether that range is narrower than asked}``.

    Raises:
        ValueError: ``max_frames`` or ``min_overlap`` is not an integer in range (the
            message names it and its value), or the series are not two finite 1-D arrays
            of one length.
    """
    max_frames = _check_frames(max_frames, "max_frames", 0)
    min_overlap = _check_frames(min_overlap, "min_overlap", 1)
    x, y = _pair(predictions, labels, "best_delay")
    size = x.shape[0]
    reach = max(0, min(max_frames, size - min_overlap))
    low = -reach if negative else 0
    best_frames, best_ccc = 0, -np.inf
    for delay in _delay_order(low, reach):
        if delay >= 0:
            moments = _moments(x[: size - delay], y[delay:])
        else:
            moments = _moments(x[-delay:], y[: size + delay])
        value = ccc_of_moments(moments)
        if value > best_ccc + 1e-12:  # strict: the smaller delay wins a tie
            best_frames, best_ccc = delay, value
    return {
        "delay_frames": best_frames,
        "ccc": best_ccc,
        "range_frames": (low, reach),
        "limited": reach < max_frames,
    }


def _check_matrix(predictions, labels, names, what):
    predictions = np.asarray(predictions, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    dims = len(names)
    for label, values in (("predictions", predictions), ("labels", labels)):
        if values.ndim != 2 or values.shape[1] != dims:
            raise ValueError(
                f"{what}: {label} must have shape [frames, {dims}] ({', '.join(names)}), "
                f"got {values.shape}."
            )
        if values.shape[0] == 0:
            raise ValueError(f"{what}: {label} has no frames.")
        if not np.all(np.isfinite(values)):
            frame, dim = np.argwhere(~np.isfinite(values))[0]
            raise ValueError(
                f"{what}: {label} has a non-finite value ({values[frame, dim]}) at frame "
                f"{frame}, dimension {names[dim]!r}."
            )
    if predictions.shape != labels.shape:
        raise ValueError(
            f"{what}: predictions {predictions.shape} and labels {labels.shape} differ in shape."
        )
    return predictions, labels


def _dimension_scores(predictions, labels, names):
    """``{name: {metric: value for METRICS}, "mean_ccc": ...}`` of ``[n, D]`` arrays
    (already checked by ``_check_matrix``: float64, finite, same shape)."""
    result = {}
    for index, name in enumerate(names):
        x, y = predictions[:, index], labels[:, index]
        moments = _moments(x, y)
        result[name] = {
            "ccc": ccc_of_moments(moments),
            "pearson": _pearson_of(moments),
            "rmse": rmse(x, y),
            "bias": float(moments[0] - moments[1]),
            "sd_ratio": _sd_ratio_of(moments),
        }
    result["mean_ccc"] = float(np.mean([result[name]["ccc"] for name in names]))
    return result


def _check_names(names):
    names = tuple(str(name) for name in names)
    if not names or len(set(names)) != len(names) or "mean_ccc" in names:
        raise ValueError(f"`names` must be distinct dimension names, got {names}.")
    return names


def score(
    predictions,
    labels,
    recording_ids=None,
    names: Sequence[str] = DEFAULT_NAMES,
) -> dict:
    """Scores predictions against the gold standard.

    Args:
        predictions: ``[N, D]`` predictions of every scored frame of a split, the
            recordings concatenated (D = 2: arousal, valence).
        labels: ``[N, D]`` gold standard, same order.
        recording_ids: optional ``[N]`` recording id of every frame; frames of one
            recording need not be contiguous. Enables the per-recording scores.
        names: the D dimension names.

    Returns:
        ``{"overall": {name: {"ccc", "pearson", "rmse", "bias", "sd_ratio"}, ...,
        "mean_ccc"}, "per_recording": {rid: {same, "num_frames"}}, "mean_of_recordings":
        {name: {the same metrics} averaged over recordings, ..., "mean_ccc"},
        "num_frames": N}``. Without ``recording_ids``, ``per_recording`` is ``{}`` and
        ``mean_of_recordings`` is ``None``. Recording ids are turned into strings (JSON
        keys), in order of first appearance. No best delays: frames given here need not
        be in time order; :func:`score_recordings` adds them.
    """
    names = _check_names(names)
    predictions, labels = _check_matrix(predictions, labels, names, "score")
    result = {
        "overall": _dimension_scores(predictions, labels, names),
        "per_recording": {},
        "mean_of_recordings": None,
        "num_frames": int(predictions.shape[0]),
    }
    if recording_ids is None:
        return result
    recording_ids = np.asarray(recording_ids)
    if recording_ids.shape != (predictions.shape[0],):
        raise ValueError(
            f"score: `recording_ids` must have shape [{predictions.shape[0]}] (one id per "
            f"frame), got {recording_ids.shape}."
        )
    unique, first, inverse = np.unique(recording_ids, return_index=True, return_inverse=True)
    per_recording = {}
    for group in np.argsort(first):
        rid = str(unique[group])
        if rid in per_recording:
            raise ValueError(f"score: two recording ids turn into the same string {rid!r}.")
        rows = inverse.reshape(-1) == group
        scores = _dimension_scores(predictions[rows], labels[rows], names)
        scores["num_frames"] = int(rows.sum())
        per_recording[rid] = scores
    result["per_recording"] = per_recording
    result["mean_of_recordings"] = _mean_of_recordings(per_recording, names)
    return result


def _mean_of_recordings(per_recording, names):
    mean = {
        name: {
            metric: float(np.mean([scores[name][metric] for scores in per_recording.values()]))
            for metric in METRICS
        }
        for name in names
    }
    mean["mean_ccc"] = float(np.mean([mean[name]["ccc"] for name in names]))
    return mean


def score_recordings(
    recordings: Mapping[str, tuple],
    names: Sequence[str] = DEFAULT_NAMES,
    max_delay_seconds=DEFAULT_MAX_DELAY_SECONDS,
    negative_delays: bool = True,
) -> dict:
    """Scores ``{rid: (predictions [n, D], labels [n, D])}``; the :func:`score` result
    plus the best delay of every recording.

    ``overall`` is computed over all recordings' frames concatenated (in dict order),
    ``per_recording`` and ``mean_of_recordings`` per recording. Each recording's frames
    are in time order here (in :func:`score` they need not be), so each recording and
    dimension also gets :func:`best_delay`, searched up to ``max_delay_seconds`` (whole
    40 ms frames; negative delays too unless ``negative_delays`` is false):

    - ``per_recording[rid][name]``: ``"best_delay_seconds"`` (positive: the gold
      standard lags the predictions) and ``"ccc_at_best_delay"``; ``per_recording[rid]
      ["delay_range_seconds"]``: ``[lowest, highest]`` delay searched, narrower than asked
      for a recording too short to leave ``MIN_OVERLAP_FRAMES`` at the largest delay.
    - ``"delay"``: ``{"convention", "max_delay_seconds", "negative_delays",
      "range_seconds" (the range asked, in whole frames), "min_overlap_frames",
      "median_of_recordings": {name: {"best_delay_seconds", "ccc_at_best_delay"}}}``,
      medians over recordings.

    No delay is found for ``overall``: the recordings concatenated are not one series.
    ``ccc`` and every other score stay those at zero delay.

    Raises:
        ValueError: as :func:`score`; ``max_delay_seconds`` negative or not a finite
            number (named, with its value).
    """
    names = _check_names(names)
    max_frames = delay_frames(max_delay_seconds)
    if not recordings:
        raise ValueError("score_recordings: no recordings given.")
    checked = {}
    for rid, pair in recordings.items():
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                f"score_recordings: recording {rid!r} must map to (predictions, labels), "
                f"got {type(pair).__name__}."
            )
        checked[rid] = _check_matrix(pair[0], pair[1], names, f"recording {rid!r}")
    if len({str(rid) for rid in recordings}) != len(recordings):
        raise ValueError("score_recordings: two recording ids turn into the same string.")
    result = score(
        np.concatenate([predictions for predictions, _ in checked.values()]),
        np.concatenate([labels for _, labels in checked.values()]),
        np.concatenate(
            [np.full(pair[0].shape[0], str(rid), dtype=object) for rid, pair in checked.items()]
        ),
        names,
    )
    for rid, (predictions, labels) in checked.items():
        scores = result["per_recording"][str(rid)]
        for index, name in enumerate(names):
            found = best_delay(predictions[:, index], labels[:, index], max_frames, negative_delays)
            scores[name]["best_delay_seconds"] = _seconds(found["delay_frames"])
            scores[name]["ccc_at_best_delay"] = found["ccc"]
        # The range depends on the recording's length only: the same for every dimension.
        scores["delay_range_seconds"] = [_seconds(frames) for frames in found["range_frames"]]
    per_recording = result["per_recording"].values()
    result["delay"] = {
        "convention": DELAY_CONVENTION,
        "max_delay_seconds": float(max_delay_seconds),
        "negative_delays": bool(negative_delays),
        "range_seconds": [_seconds(-max_frames if negative_delays else 0), _seconds(max_frames)],
        "min_overlap_frames": MIN_OVERLAP_FRAMES,
        "median_of_recordings": {
            name: {
                key: float(np.median([scores[name][key] for scores in per_recording]))
                for key in ("best_delay_seconds", "ccc_at_best_delay")
            }
            for name in names
        },
    }
    return result


def _row(label, scores, names, frames):
    cells = [f"{label:<24.24}"]
    for name in names:
        cells.append(
            f"{scores[name]['ccc']:>8.4f} {scores[name]['pearson']:>8.4f} "
            f"{scores[name]['rmse']:>8.4f}"
        )
    cells.append(f"{scores['mean_ccc']:>8.4f}")
    cells.append(f"{frames:>8}")
    return "  ".join(cells)


def _names_of(result):
    return tuple(key for key in result["overall"] if key != "mean_ccc")


def _level_row(label, scores, names):
    cells = [f"{label:<24.24}"]
    for name in names:
        cells.append(f"{scores[name]['bias']:>+8.4f} {scores[name]['sd_ratio']:>8.4f}")
    return "  ".join(cells)


def _delay_row(label, scores, names):
    cells = [f"{label:<24.24}"]
    for name in names:
        cells.append(
            f"{scores[name]['best_delay_seconds']:>+8.2f} {scores[name]['ccc_at_best_delay']:>8.4f}"
        )
    return "  ".join(cells)


def _delay_block(result, names):
    """The best delay block of :func:`format_table`, [] for a result without delays."""
    delay = result.get("delay")
    per_recording = result.get("per_recording") or {}
    if not delay or not per_recording:
        return []
    block = 17  # two 8-wide columns: one dimension
    top = [" " * 24] + [f"{name:^{block}.{block}}" for name in names]
    header_line = "  ".join(
        [f"{'best delay':<24}"] + [f"{'delay s':>8} {'CCC at d':>8}" for _ in names]
    )
    lines = ["", "  ".join(top).rstrip(), header_line, "-" * len(header_line)]
    lines.extend(_delay_row(rid, scores, names) for rid, scores in per_recording.items())
    lines.append(_delay_row("median of recordings", delay["median_of_recordings"], names))
    low, high = delay["range_seconds"]
    lines.append(
        "delay: the gold standard at t + delay against the prediction at t (+: the gold "
        "standard lags)"
    )
    searched = f"searched {low:+.2f} .. {high:+.2f} s"
    short = [
        f"{rid} ({scores['delay_range_seconds'][0]:+.2f} .. "
        f"{scores['delay_range_seconds'][1]:+.2f} s)"
        for rid, scores in per_recording.items()
        if list(scores["delay_range_seconds"]) != [low, high]
    ]
    if short:
        searched += f"; short recordings over less: {', '.join(short)}"
    lines.append(searched)
    return lines


def format_table(result: Mapping, title: str | None = None) -> str:
    """Fixed-width text table of a :func:`score` result.

    Rows: every recording, the mean of recordings, and the overall (all frames) score;
    columns: CCC, Pearson (PCC) and RMSE per dimension, the mean CCC and the frame count.
    Below it, the same rows with the bias (mean prediction minus mean gold standard) and
    the ratio of standard deviations per dimension: where a CCC lower than the PCC is
    lost (left out for results written before these were scored). Last, for a
    :func:`score_recordings` result, every recording's best delay and the CCC at it per
    dimension, their medians over recordings, and a line with the sign convention and
    the range searched (naming recordings searched over less); the CCC columns above
    stay those at zero delay.
    """
    names = _names_of(result)
    block = 26  # three 8-wide columns and two spaces: one dimension
    top = [" " * 24] + [f"{name:^{block}.{block}}" for name in names] + [" " * 8, " " * 8]
    header = [f"{'recording':<24}"]
    header += [f"{'CCC':>8} {'PCC':>8} {'RMSE':>8}" for _ in names]
    header += [f"{'mean CCC':>8}", f"{'frames':>8}"]
    header_line = "  ".join(header)
    rule = "-" * len(header_line)
    lines = [title] if title else []
    lines.extend(["  ".join(top).rstrip(), header_line, rule])
    per_recording = result.get("per_recording") or {}
    rows = list(per_recording.items())
    for rid, scores in rows:
        lines.append(_row(rid, scores, names, scores.get("num_frames", "")))
    if result.get("mean_of_recordings"):
        rows.append(("mean of recordings", result["mean_of_recordings"]))
        lines.append(_row("mean of recordings", result["mean_of_recordings"], names, ""))
    if per_recording:
        lines.append(rule)
    lines.append(_row("overall (all frames)", result["overall"], names, result["num_frames"]))
    rows.append(("overall (all frames)", result["overall"]))
    if all(
        "bias" in scores[name] and "sd_ratio" in scores[name]
        for _, scores in rows
        for name in names
    ):
        block = 17  # two 8-wide columns: one dimension
        top = [" " * 24] + [f"{name:^{block}.{block}}" for name in names]
        header_line = "  ".join(
            [f"{'level and scale':<24}"] + [f"{'bias':>8} {'sd ratio':>8}" for _ in names]
        )
        lines.extend(["", "  ".join(top).rstrip(), header_line, "-" * len(header_line)])
        lines.extend(_level_row(label, scores, names) for label, scores in rows)
    lines.extend(_delay_block(result, names))
    return "\n".join(lines)


def _plain(value, where="result"):
    """Converts NumPy scalars/arrays to plain Python values for JSON."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item, f"{where}[{key!r}]") for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item, f"{where}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"write_report: {where} is {value}, which JSON cannot hold.")
        return value
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"write_report: {where} has unsupported type {type(value).__name__}.")


def write_json_atomic(path, data) -> str:
    """Writes ``data`` as JSON to ``path`` through a temporary file and ``os.replace``.

    A crash mid-write leaves either the old file or none, never a truncated one.
    Parent directories are created. Returns the path as a string.
    """
    path = os.fspath(path)
    text = json.dumps(_plain(data), indent=2, sort_keys=False) + "\n"
    with atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
    return path


def write_report(path_json, result: Mapping) -> str:
    """Writes a :func:`score` result (or any dict of plain values) as JSON, atomically.

    NumPy numbers become plain floats/ints; non-finite numbers are refused with an error
    naming their key. Returns the path.
    """
    return write_json_atomic(path_json, result)
