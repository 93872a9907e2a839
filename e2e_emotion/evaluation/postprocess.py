"""The AVEC 2016 post-processing chain for continuous predictions.

AVEC 2016 (and Tzirakis et al. 2017, who follow it) post-process the raw per-frame
predictions before scoring, in this order, each dimension separately:

1. ``median``: median filter over time (odd window in frames; 1 = off). The signal is
   padded at both ends by repeating its first/last value, so the output keeps its length
   and the edges are not pulled towards zero.
2. ``centre``: ``pred - mean(pred) + train_mean``: the predictions' mean is replaced by
   the training labels' mean.
3. ``scale``: ``(pred - mean(pred)) * train_std / std(pred) + mean(pred)``: the
   predictions' standard deviation is matched to the training labels'. A constant
   prediction (std 0) is left unchanged.
4. ``shift``: predictions are moved by ``k`` frames, ``pred[t] := pred[t + k]``, the
   frames past either end repeating the end value: ``k > 0`` moves them earlier (for
   predictions that trail the gold standard), ``k < 0`` later (for predictions that follow
   the behaviour while the annotators' gold standard trails it by a second or so). Which
   one a model needs depends on what it learnt, so both are searched.

Statistics ``mean(pred)`` and ``std(pred)`` are taken, by default (``scope="split"``),
over all recordings given to one :meth:`PostProcessor.transform` call together, as the
AVEC 2016 baseline did with the whole development/test set; ``scope="recording"`` takes
them per recording instead. They never use labels, so the chain can run on the test set.

Every parameter is chosen on the development set to maximise its CCC (by default the CCC
of all dev frames concatenated, the challenge's score), then applied unchanged to the
test set. The search is greedy in chain order: each step in turn tries its candidates
(median windows; off/on for centring and scaling; shifts) with the steps before it fixed
at their chosen values and the steps after it off, and keeps the best candidate; ties go
to the first candidate, so "off" (window 1, shift 0) wins a tie. One pass costs
``len(median_windows) + 2 + 2 + len(shifts)`` evaluations per dimension.

NumPy only: this module never imports TensorFlow.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from e2e_emotion.evaluation.scores import DEFAULT_NAMES, ccc
from tfrecords_tools.schema import FRAME_SECONDS

STEPS = ("median", "centre", "scale", "shift")
SCOPES = ("split", "recording")
CRITERIA = ("overall", "mean_of_recordings")
DEFAULT_MEDIAN_WINDOWS = (1, 3, 5, 7, 9, 11, 15, 21, 31, 41, 61, 81, 101)
# 0 first (a tie keeps the predictions as they are), then up to 4 s earlier and 2 s later,
# at 40 ms per frame.
DEFAULT_SHIFTS = (0, *range(4, 101, 4), *range(-4, -49, -4))
FORMAT = "e2e_emotion.PostProcessor"
FORMAT_VERSION = 1

# The parameter of each step, and its "off" value.
_PARAMETER = {"median": "median_window", "centre": "centre", "scale": "scale", "shift": "shift"}
IDENTITY = {"median_window": 1, "centre": False, "scale": False, "shift": 0}


def _series(values, function: str) -> np.ndarray:
    """``values`` as a float64 1-D array; a ValueError naming ``function`` otherwise."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1:
        raise ValueError(f"{function}: expected a 1-D array, got shape {values.shape}.")
    return values


def median_filter(values, window: int) -> np.ndarray:
    """Running median of ``values`` ``[n]`` over an odd ``window`` of frames -> ``[n]``.

    Edges are padded by repeating the first/last value. ``window=1`` returns a copy.
    """
    window = _check_window(window)
    values = _series(values, "median_filter")
    if window == 1 or values.size == 0:
        return values.copy()
    half = window // 2
    padded = np.pad(values, half, mode="edge")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=-1)


def shift_earlier(values, frames: int) -> np.ndarray:
    """Moves ``values`` ``[n]`` earlier by ``frames``: ``out[t] = values[t + frames]``
    (later for a negative ``frames``).

    Outputs past the end repeat the last value (the first, moving later), so the length
    is kept.
    """
    frames = _check_shift(frames)
    values = _series(values, "shift_earlier")
    if frames == 0 or values.size == 0:
        return values.copy()
    if abs(frames) >= values.size:
        return np.full_like(values, values[-1] if frames > 0 else values[0])
    if frames < 0:
        return np.concatenate([np.full(-frames, values[0]), values[:frames]])
    return np.concatenate([values[frames:], np.full(frames, values[-1])])


def label_statistics(labels: Mapping[str, np.ndarray], names=DEFAULT_NAMES) -> dict:
    """``{name: {"mean", "std"}}`` of training labels ``{rid: [n, D]}`` (all frames pooled).

    The ``train_label_stats`` argument of :meth:`PostProcessor.fit`. Population std.
    """
    names = tuple(names)
    arrays = [_check_array(labels[rid], len(names), f"labels of {rid!r}") for rid in labels]
    if not arrays:
        raise ValueError("label_statistics: no recordings given.")
    pooled = np.concatenate(arrays)
    return {
        name: {"mean": float(pooled[:, index].mean()), "std": float(pooled[:, index].std())}
        for index, name in enumerate(names)
    }


def _check_window(window):
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise ValueError(f"median window must be an integer, got {window!r}.")
    if window < 1 or window % 2 == 0:
        raise ValueError(
            f"median window must be odd and >= 1 (1 = off), got {window}: an even window "
            "has no centre frame and would shift the signal by half a frame."
        )
    return int(window)


def _check_shift(frames):
    if isinstance(frames, bool) or not isinstance(frames, (int, np.integer)):
        raise ValueError(f"shift must be an integer number of frames, got {frames!r}.")
    return int(frames)


def _check_array(values, dims, what):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != dims:
        raise ValueError(f"{what}: expected shape [frames, {dims}], got {values.shape}.")
    if values.shape[0] == 0:
        raise ValueError(f"{what}: no frames.")
    if not np.all(np.isfinite(values)):
        frame, dim = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(f"{what}: non-finite value {values[frame, dim]} at frame {frame}.")
    return values


def _check_steps(steps):
    if isinstance(steps, str):
        steps = (steps,)
    steps = tuple(steps)
    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        raise ValueError(f"unknown post-processing step(s) {unknown}; known steps: {STEPS}.")
    if len(set(steps)) != len(steps):
        raise ValueError(f"post-processing steps are repeated: {steps}.")
    return tuple(step for step in STEPS if step in steps)  # always in chain order


def _check_stats(stats, names):
    if not isinstance(stats, Mapping):
        raise ValueError(
            "train_label_stats must be {name: {'mean': ..., 'std': ...}} for "
            f"{names}, got {type(stats).__name__}."
        )
    checked = {}
    for name in names:
        if name not in stats or not isinstance(stats[name], Mapping):
            raise ValueError(f"train_label_stats has no entry for dimension {name!r}.")
        try:
            mean, std = float(stats[name]["mean"]), float(stats[name]["std"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(
                f"train_label_stats[{name!r}] needs numeric 'mean' and 'std', got {stats[name]!r}."
            ) from error
        if not (np.isfinite(mean) and np.isfinite(std)) or std <= 0.0:
            raise ValueError(
                f"train_label_stats[{name!r}] must have a finite mean and std > 0, "
                f"got mean={mean}, std={std}."
            )
        checked[name] = {"mean": mean, "std": std}
    return checked


def _statistics(series, scope, function):
    """One value per recording: per recording, or the whole split's value repeated."""
    if scope == "recording":
        return [function(values) for values in series]
    pooled = function(np.concatenate(series))
    return [pooled] * len(series)


def apply_step(series: Sequence[np.ndarray], step: str, value, stats=None, scope="split"):
    """Applies one step of the chain with its parameter ``value`` to every recording.

    ``series`` is one 1-D array per recording (a split); ``value`` is the median window,
    ``True``/``False`` for centre/scale, or the shift in frames. Returns a new list.
    """
    if step == "median":
        return [median_filter(values, value) for values in series]
    if step == "shift":
        return [shift_earlier(values, value) for values in series]
    if step not in ("centre", "scale"):
        raise ValueError(f"unknown post-processing step {step!r}; known steps: {STEPS}.")
    if not value:
        return list(series)
    if stats is None:
        raise ValueError(f"the {step!r} step needs the training labels' mean and std.")
    means = _statistics(series, scope, np.mean)
    if step == "centre":
        return [values - mean + stats["mean"] for values, mean in zip(series, means, strict=True)]
    stds = _statistics(series, scope, np.std)
    return [
        (values - mean) * (stats["std"] / std) + mean if std > 0 else values
        for values, mean, std in zip(series, means, stds, strict=True)
    ]


def apply_chain(series: Sequence[np.ndarray], params: Mapping, stats=None, scope="split"):
    """Applies one dimension's chain to a list of recordings' ``[n_i]`` series.

    Args:
        series: one 1-D float array per recording (a split).
        params: ``{"median_window", "centre", "scale", "shift"}`` (see ``IDENTITY``).
        stats: ``{"mean", "std"}`` of the training labels; needed by centre/scale.
        scope: ``"split"`` or ``"recording"``: where ``mean(pred)``/``std(pred)`` come from.

    Returns a new list of ``[n_i]`` arrays.
    """
    out = [np.asarray(values, dtype=np.float64) for values in series]
    for step in STEPS:
        value = params[_PARAMETER[step]]
        if value != IDENTITY[_PARAMETER[step]]:
            out = apply_step(out, step, value, stats, scope)
    return out


class PostProcessor:
    """AVEC 2016 post-processing, fitted on dev predictions, applied to any split.

    Args:
        names: dimension names, the columns of every ``[n, D]`` array.
        scope: ``"split"`` (default, as the AVEC baseline) or ``"recording"``: over what
            the predictions' mean and std used by centring and scaling are taken.
        criterion: dev objective, ``"overall"`` (CCC of all frames concatenated, the
            challenge score) or ``"mean_of_recordings"`` (mean of per-recording CCCs).

    Usage::

        post = PostProcessor().fit(dev_pred, dev_labels, label_statistics(train_labels))
        test_pred = post.transform(test_pred)      # {rid: [n, 2]} -> {rid: [n, 2]}
        print(post.report())
        write_report("post.json", post.to_dict())  # PostProcessor.from_dict(...) reloads
    """

    def __init__(self, names=DEFAULT_NAMES, scope: str = "split", criterion: str = "overall"):
        self.names = tuple(str(name) for name in names)
        if not self.names or len(set(self.names)) != len(self.names):
            raise ValueError(f"`names` must be distinct dimension names, got {names!r}.")
        if scope not in SCOPES:
            raise ValueError(f"`scope` must be one of {SCOPES}, got {scope!r}.")
        if criterion not in CRITERIA:
            raise ValueError(f"`criterion` must be one of {CRITERIA}, got {criterion!r}.")
        self.scope = scope
        self.criterion = criterion
        self.steps: tuple[str, ...] = ()
        self.train_label_stats: dict | None = None
        self.parameters: dict | None = None  # {name: {"median_window", "centre", ...}}
        self.dev_ccc_before: dict = {}
        self.dev_ccc_after: dict = {}
        self.search: dict = {}  # {name: [{"step", "value", "dev_ccc"}, ...]}

    # -- checking -------------------------------------------------------------------

    def _check_predictions(self, predictions, what):
        if not isinstance(predictions, Mapping) or not predictions:
            raise ValueError(f"{what} must be a non-empty dict {{recording_id: [n, D]}}.")
        dims = len(self.names)
        return {
            rid: _check_array(values, dims, f"{what} of recording {rid!r}")
            for rid, values in predictions.items()
        }

    def _objective(self, series, targets):
        if self.criterion == "overall":
            return ccc(np.concatenate(series), np.concatenate(targets))
        return float(np.mean([ccc(x, y) for x, y in zip(series, targets, strict=True)]))

    # -- fitting ----------------------------------------------------------------------

    def fit(
        self,
        dev_predictions: Mapping[str, np.ndarray],
        dev_labels: Mapping[str, np.ndarray],
        train_label_stats: Mapping | None = None,
        steps: Iterable[str] = STEPS,
        median_windows: Iterable[int] = DEFAULT_MEDIAN_WINDOWS,
        shifts: Iterable[int] = DEFAULT_SHIFTS,
    ) -> PostProcessor:
        """Chooses every step's parameter per dimension to maximise dev CCC (greedy).

        Args:
            dev_predictions: ``{rid: [n, D]}`` raw dev predictions.
            dev_labels: ``{rid: [n, D]}`` dev gold standard, same recordings and lengths.
            train_label_stats: ``{name: {"mean", "std"}}`` of the training labels (see
                :func:`label_statistics`); required when ``centre`` or ``scale`` is used.
            steps: subset of ``("median", "centre", "scale", "shift")``; always run in
                chain order; steps left out stay off.
            median_windows: odd candidate windows in frames (1 = no filtering).
            shifts: candidate shifts in frames (> 0 earlier, < 0 later; 25 frames = 1 s).

        Returns ``self``.
        """
        steps = _check_steps(steps)
        windows = tuple(_check_window(window) for window in median_windows)
        shifts = tuple(_check_shift(shift) for shift in shifts)
        if "median" in steps and not windows:
            raise ValueError("`median_windows` is empty while the 'median' step is selected.")
        if "shift" in steps and not shifts:
            raise ValueError("`shifts` is empty while the 'shift' step is selected.")
        stats = None
        if "centre" in steps or "scale" in steps:
            if train_label_stats is None:
                raise ValueError(
                    "train_label_stats is required by the 'centre' and 'scale' steps; "
                    "compute it with label_statistics(train_labels)."
                )
            stats = _check_stats(train_label_stats, self.names)
        elif train_label_stats is not None:
            stats = _check_stats(train_label_stats, self.names)

        predictions = self._check_predictions(dev_predictions, "dev_predictions")
        labels = self._check_predictions(dev_labels, "dev_labels")
        missing = [rid for rid in predictions if rid not in labels]
        extra = [rid for rid in labels if rid not in predictions]
        if missing or extra:
            raise ValueError(
                f"dev_predictions and dev_labels hold different recordings: no labels for "
                f"{missing}, no predictions for {extra}."
            )
        for rid, values in predictions.items():
            if values.shape != labels[rid].shape:
                raise ValueError(
                    f"recording {rid!r}: predictions have {values.shape[0]} frames, labels "
                    f"{labels[rid].shape[0]}; they must be aligned frame by frame."
                )

        candidates = {
            "median": windows,
            "centre": (False, True),
            "scale": (False, True),
            "shift": shifts,
        }
        rids = list(predictions)
        parameters, before, after, search = {}, {}, {}, {}
        for index, name in enumerate(self.names):
            series = [predictions[rid][:, index] for rid in rids]
            targets = [labels[rid][:, index] for rid in rids]
            dim_stats = stats[name] if stats else None
            chosen = dict(IDENTITY)
            before[name] = self._objective(series, targets)
            trace = []
            current = series  # output of the steps fixed so far; later steps are off
            for step in steps:
                best_value, best_ccc, best_output = None, -np.inf, None
                for value in candidates[step]:
                    output = apply_step(current, step, value, dim_stats, self.scope)
                    result = self._objective(output, targets)
                    if result > best_ccc + 1e-12:  # strict: the first candidate wins ties
                        best_value, best_ccc, best_output = value, result, output
                chosen[_PARAMETER[step]] = best_value
                current = best_output
                trace.append({"step": step, "value": best_value, "dev_ccc": best_ccc})
            parameters[name] = chosen
            after[name] = self._objective(
                apply_chain(series, chosen, dim_stats, self.scope), targets
            )
            search[name] = trace
        self.steps = steps
        self.train_label_stats = stats
        self.parameters = parameters
        self.dev_ccc_before, self.dev_ccc_after, self.search = before, after, search
        return self

    # -- applying ---------------------------------------------------------------------

    def transform(self, predictions: Mapping[str, np.ndarray]) -> dict:
        """Applies the fitted chain: ``{rid: [n, D]}`` -> new ``{rid: [n, D]}`` float64.

        With ``scope="split"`` the predictions' mean/std come from all recordings given
        here together, so pass a whole split at once.
        """
        if self.parameters is None:
            raise RuntimeError("PostProcessor.transform called before fit() or from_dict().")
        checked = self._check_predictions(predictions, "predictions")
        rids = list(checked)
        outputs = {rid: np.empty_like(checked[rid]) for rid in rids}
        for index, name in enumerate(self.names):
            stats = self.train_label_stats[name] if self.train_label_stats else None
            series = [checked[rid][:, index] for rid in rids]
            for rid, values in zip(
                rids, apply_chain(series, self.parameters[name], stats, self.scope), strict=True
            ):
                outputs[rid][:, index] = values
        return outputs

    # -- saving -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-serializable description: settings, fitted parameters, dev CCCs."""
        if self.parameters is None:
            raise RuntimeError("PostProcessor.to_dict called before fit().")
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "names": list(self.names),
            "scope": self.scope,
            "criterion": self.criterion,
            "steps": list(self.steps),
            "train_label_stats": copy.deepcopy(self.train_label_stats),
            "parameters": copy.deepcopy(self.parameters),
            "dev_ccc_before": dict(self.dev_ccc_before),
            "dev_ccc_after": dict(self.dev_ccc_after),
            "search": copy.deepcopy(self.search),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> PostProcessor:
        """Rebuilds a fitted post-processor from :meth:`to_dict` output."""
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError(
                f"not a post-processor description (expected format {FORMAT!r}, got "
                f"{data.get('format') if isinstance(data, Mapping) else type(data).__name__!r})."
            )
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"post-processor description version {data.get('version')!r} is not "
                f"supported (expected {FORMAT_VERSION})."
            )
        post = cls(data["names"], data["scope"], data["criterion"])
        post.steps = _check_steps(data["steps"])
        stats = data.get("train_label_stats")
        post.train_label_stats = _check_stats(stats, post.names) if stats else None
        parameters = {}
        for name in post.names:
            given = data["parameters"].get(name)
            if not isinstance(given, Mapping) or set(given) != set(IDENTITY):
                raise ValueError(
                    f"post-processor parameters for {name!r} must have keys "
                    f"{sorted(IDENTITY)}, got {given!r}."
                )
            parameters[name] = {
                "median_window": _check_window(given["median_window"]),
                "centre": bool(given["centre"]),
                "scale": bool(given["scale"]),
                "shift": _check_shift(given["shift"]),
            }
            if (parameters[name]["centre"] or parameters[name]["scale"]) and not stats:
                raise ValueError(
                    f"post-processor for {name!r} centres or scales but has no train_label_stats."
                )
        post.parameters = parameters
        post.dev_ccc_before = dict(data.get("dev_ccc_before", {}))
        post.dev_ccc_after = dict(data.get("dev_ccc_after", {}))
        post.search = copy.deepcopy(data.get("search", {}))
        return post

    def report(self, frame_seconds: float = FRAME_SECONDS) -> str:
        """Text table of the chosen parameters and dev CCC before/after, per dimension."""
        if self.parameters is None:
            return "PostProcessor: not fitted."
        lines = [
            f"post-processing (steps: {', '.join(self.steps) or 'none'}; scope: {self.scope}; "
            f"criterion: {self.criterion})",
            f"{'dimension':<12} {'median':>6} {'centre':>6} {'scale':>6} {'shift':>14} "
            f"{'dev CCC before':>14} {'after':>8}",
        ]
        for name in self.names:
            params = self.parameters[name]
            shift = f"{params['shift']} ({params['shift'] * frame_seconds:.2f} s)"
            before = self.dev_ccc_before.get(name, float("nan"))
            after = self.dev_ccc_after.get(name, float("nan"))
            lines.append(
                f"{name:<12} {params['median_window']:>6} {str(params['centre']):>6} "
                f"{str(params['scale']):>6} {shift:>14} {before:>14.4f} {after:>8.4f}"
            )
        return "\n".join(lines)

    def __repr__(self):
        state = "fitted" if self.parameters is not None else "not fitted"
        return f"PostProcessor(names={self.names}, scope={self.scope!r}, {state})"
