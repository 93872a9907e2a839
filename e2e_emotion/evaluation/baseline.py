"""Handcrafted-feature baseline: per-frame acoustic/visual descriptors + ridge regression.

Tzirakis et al. (2017) compare the end-to-end network with systems built on handcrafted
features (the AVEC 2016 baseline uses eGeMAPS acoustic descriptors and appearance/
geometric face features with linear regressors). This module is a small, dependency-free
stand-in of that kind of system, so any corpus converted for the project also gets a
reference number:

- :func:`acoustic_features`: per 40 ms frame (640 samples at 16 kHz) log energy, zero-
  crossing rate, spectral centroid, bandwidth, 85 % roll-off, flatness, log mel-band
  energies, and F0 by normalized autocorrelation (60-400 Hz) with its voicing strength.
- :func:`visual_features`: per 96x96 face crop colour statistics, mouth and eye region
  brightness, mouth gradient energy and an 8x8 grayscale thumbnail.
- :func:`add_context`: mean and std of the features over +-k frames (the gold standard
  is smooth, a single 40 ms frame is not).
- :class:`HandcraftedBaseline`: ``StandardScaler`` + ``Ridge`` (one ridge per dimension;
  a multi-output ``Ridge`` solves each output independently with the same penalty) or
  ``RidgeCV`` with a penalty per dimension when ``alpha`` is a list.

NumPy/scikit-learn only: this module never imports TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from e2e_emotion.evaluation.scores import DEFAULT_NAMES
from e2e_emotion.files import atomic_path
from e2e_emotion.modalities import MODALITIES, MODALITY_INPUTS
from tfrecords_tools.schema import SAMPLE_RATE

F0_RANGE = (60.0, 400.0)
VOICING_THRESHOLD = 0.5
_CHUNK = 512  # frames processed at once: bounds memory for 5-minute recordings
_EPS = 1e-10
FORMAT = "e2e_emotion.HandcraftedBaseline"
FORMAT_VERSION = 1


# -- acoustic features ----------------------------------------------------------------


def acoustic_feature_names(num_bands: int = 8) -> list[str]:
    """Names of the :func:`acoustic_features` columns (before context)."""
    return (
        [
            "log_energy",
            "zero_crossing_rate",
            "spectral_centroid",
            "spectral_bandwidth",
            "spectral_rolloff_85",
            "spectral_flatness",
        ]
        + [f"log_mel_band_{band}" for band in range(num_bands)]
        + ["f0", "voicing"]
    )


def _mel_filterbank(num_bands, n_fft, sample_rate):
    """``[num_bands, n_fft // 2 + 1]`` triangular filters evenly spaced on the mel scale."""

    def mel(hz):
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def hz(mels):
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = hz(np.linspace(mel(0.0), mel(sample_rate / 2.0), num_bands + 2))
    bank = np.zeros((num_bands, freqs.size))
    for band in range(num_bands):
        low, centre, high = edges[band : band + 3]
        rising = (freqs - low) / (centre - low)
        falling = (high - freqs) / (high - centre)
        bank[band] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank


def _pitch(frames, sample_rate):
    """F0 (Hz) and voicing strength of ``[m, L]`` DC-free frames.

    Normalized autocorrelation ``r(k) / sqrt(E_head(k) E_tail(k))`` (1 for a periodic
    signal at its period, whatever the lag's overlap); among the local maxima within
    60-400 Hz reaching 90 % of the best one the shortest lag is taken (a periodic signal
    correlates as well at 2 and 3 periods: this avoids halving F0), refined by a parabola.
    Frames with voicing below ``VOICING_THRESHOLD`` get F0 = 0, as in openSMILE.
    """
    length = frames.shape[1]
    min_lag = int(np.ceil(sample_rate / F0_RANGE[1]))
    max_lag = int(np.floor(sample_rate / F0_RANGE[0]))
    if max_lag + 2 > length:
        raise ValueError(
            f"frames of {length} samples are too short for F0 down to {F0_RANGE[0]} Hz at "
            f"{sample_rate} Hz (lags up to {max_lag})."
        )
    n_fft = 1 << int(np.ceil(np.log2(2 * length)))
    spectrum = np.fft.rfft(frames, n_fft, axis=1)
    lags = np.arange(min_lag - 1, max_lag + 2)
    autocorrelation = np.fft.irfft(np.abs(spectrum) ** 2, n_fft, axis=1)[:, lags]
    energy = np.concatenate([np.zeros((frames.shape[0], 1)), np.cumsum(frames**2, axis=1)], axis=1)
    head = energy[:, length - lags]  # sum of x[0 : L - k]^2
    tail = energy[:, length : length + 1] - energy[:, lags]  # sum of x[k : L]^2
    normalized = autocorrelation / np.sqrt(head * tail + _EPS)

    inner = normalized[:, 1:-1]  # lags min_lag .. max_lag
    best = inner.max(axis=1)
    local = (inner >= normalized[:, :-2]) & (inner >= normalized[:, 2:])
    candidates = local & (inner >= 0.9 * best[:, None])
    index = np.where(
        candidates.any(axis=1), np.argmax(candidates, axis=1), np.argmax(inner, axis=1)
    )
    rows = np.arange(frames.shape[0])
    before, peak, after = (normalized[rows, index + offset] for offset in (0, 1, 2))
    curvature = before - 2.0 * peak + after
    safe = np.where(curvature < 0, curvature, -1.0)  # a true peak has curvature < 0
    delta = np.where(curvature < 0, 0.5 * (before - after) / safe, 0.0)
    period = lags[index + 1] + np.clip(delta, -0.5, 0.5)
    voicing = np.clip(peak, 0.0, 1.0)
    f0 = np.where(voicing >= VOICING_THRESHOLD, sample_rate / period, 0.0)
    return f0, voicing


def acoustic_features(
    audio_frames,
    sample_rate: int = SAMPLE_RATE,
    context: int = 0,
    num_bands: int = 8,
) -> np.ndarray:
    """Per-frame acoustic descriptors.

    Args:
        audio_frames: ``[n, 640]`` float waveform frames (16 kHz, 40 ms each).
        sample_rate: samples per second of the frames.
        context: ``k > 0`` appends the mean and std of every feature over frames
            ``t - k .. t + k`` (:func:`add_context`).
        num_bands: number of log mel-band energies.

    Returns:
        ``[n, F]`` float64, ``F = 8 + num_bands`` (``x 3`` with context); column names in
        :func:`acoustic_feature_names`. Spectral features are in Hz (0 for silence).
    """
    frames = np.asarray(audio_frames)
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise ValueError(f"audio_frames: expected shape [frames, samples], got {frames.shape}.")
    if not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(f"audio_frames: expected a float waveform, got dtype {frames.dtype}.")
    if not np.all(np.isfinite(frames)):
        raise ValueError("audio_frames: contains non-finite samples.")
    if sample_rate <= 0 or num_bands < 1:
        raise ValueError(
            f"acoustic_features: bad sample_rate={sample_rate} or num_bands={num_bands}."
        )
    length = frames.shape[1]
    n_fft = 1 << int(np.ceil(np.log2(length)))
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)  # periodic Hann
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    bank = _mel_filterbank(num_bands, n_fft, sample_rate)

    outputs = []
    for start in range(0, frames.shape[0], _CHUNK):
        x = frames[start : start + _CHUNK].astype(np.float64)
        x = x - x.mean(axis=1, keepdims=True)
        log_energy = np.log(np.mean(x**2, axis=1) + _EPS)
        signs = np.signbit(x)
        zcr = np.mean(signs[:, 1:] != signs[:, :-1], axis=1)

        power = np.abs(np.fft.rfft(x * window, n_fft, axis=1)) ** 2 / length
        total = power.sum(axis=1)
        safe = np.maximum(total, _EPS)
        centroid = power @ freqs / safe
        bandwidth = np.sqrt(np.maximum(power @ freqs**2 / safe - centroid**2, 0.0))
        cumulative = np.cumsum(power, axis=1)
        rolloff = freqs[np.argmax(cumulative >= 0.85 * total[:, None], axis=1)]
        flatness = np.exp(np.mean(np.log(power + _EPS), axis=1)) / (np.mean(power, axis=1) + _EPS)
        bands = np.log(power @ bank.T + _EPS)
        f0, voicing = _pitch(x, sample_rate)
        outputs.append(
            np.column_stack(
                [log_energy, zcr, centroid, bandwidth, rolloff, flatness, bands, f0, voicing]
            )
        )
    return add_context(np.concatenate(outputs), context)


# -- visual features ------------------------------------------------------------------


def visual_feature_names() -> list[str]:
    """Names of the :func:`visual_features` columns (before context)."""
    return (
        [f"{stat}_{channel}" for stat in ("mean", "std") for channel in "rgb"]
        + ["mouth_brightness", "eyes_brightness", "mouth_gradient_x", "mouth_gradient_y"]
        + [f"thumbnail_{row}_{col}" for row in range(8) for col in range(8)]
    )


def _block_means(gray, blocks=8):
    """``[m, H, W]`` -> ``[m, blocks * blocks]`` means over an even grid of blocks."""
    height, width = gray.shape[1:]
    rows = (np.arange(blocks) * height) // blocks
    cols = (np.arange(blocks) * width) // blocks
    sums = np.add.reduceat(np.add.reduceat(gray, rows, axis=1), cols, axis=2)
    sizes = np.outer(np.diff(np.append(rows, height)), np.diff(np.append(cols, width)))
    return (sums / sizes).reshape(gray.shape[0], -1)


def visual_features(video_frames, context: int = 0) -> np.ndarray:
    """Per-frame appearance statistics of face crops.

    Args:
        video_frames: ``[n, H, W, 3]`` RGB (96x96 in the project), ``uint8`` in 0..255 or
            float in [0, 1].
        context: ``k > 0`` appends mean/std over ``t - k .. t + k`` (:func:`add_context`).

    Returns:
        ``[n, 74]`` float64 (``x 3`` with context): mean and std of R, G, B; mean
        brightness of the mouth (lower-middle) and eye (upper) regions; mean squared
        horizontal and vertical brightness gradient of the mouth region; an 8x8
        grayscale thumbnail (block means). Names in :func:`visual_feature_names`.
    """
    frames = np.asarray(video_frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
        raise ValueError(f"video_frames: expected shape [frames, H, W, 3], got {frames.shape}.")
    height, width = frames.shape[1:3]
    if height < 8 or width < 8:
        raise ValueError(f"video_frames: images of {height}x{width} are smaller than 8x8.")
    if frames.dtype == np.uint8:
        scale = 1.0 / 255.0
    elif np.issubdtype(frames.dtype, np.floating):
        scale = 1.0
        low, high = float(frames.min()), float(frames.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low < -1e-6 or high > 1.0 + 1e-6:
            raise ValueError(
                f"video_frames: float images must be in [0, 1], got values in [{low}, {high}]."
            )
    else:
        raise ValueError(f"video_frames: expected uint8 or float images, got dtype {frames.dtype}.")
    # Regions of a centred face crop: mouth lower-middle, eyes upper band.
    mouth = (
        slice(int(0.62 * height), int(0.92 * height)),
        slice(int(0.25 * width), int(0.75 * width)),
    )
    eyes = (
        slice(int(0.20 * height), int(0.48 * height)),
        slice(int(0.12 * width), int(0.88 * width)),
    )
    luma = np.array([0.299, 0.587, 0.114])
    outputs = []
    for start in range(0, frames.shape[0], _CHUNK // 4):
        rgb = frames[start : start + _CHUNK // 4].astype(np.float32) * np.float32(scale)
        count = rgb.shape[0]
        flat = rgb.reshape(count, -1, 3)
        gray = (rgb @ luma.astype(np.float32)).astype(np.float64)  # [m, H, W]
        mouth_gray = gray[:, mouth[0], mouth[1]]
        outputs.append(
            np.column_stack(
                [
                    flat.mean(axis=1, dtype=np.float64),
                    flat.std(axis=1, dtype=np.float64),
                    mouth_gray.mean(axis=(1, 2)),
                    gray[:, eyes[0], eyes[1]].mean(axis=(1, 2)),
                    np.mean(np.diff(mouth_gray, axis=2) ** 2, axis=(1, 2)),
                    np.mean(np.diff(mouth_gray, axis=1) ** 2, axis=(1, 2)),
                    _block_means(gray),
                ]
            )
        )
    return add_context(np.concatenate(outputs), context)


# -- context ----------------------------------------------------------------------------


def add_context(features, context: int) -> np.ndarray:
    """Appends the mean and std of every feature over frames ``t - k .. t + k``.

    Args:
        features: ``[n, F]`` features of ONE recording (windows never cross recordings).
        context: ``k >= 0``; 0 returns the features unchanged.

    Returns:
        ``[n, F]`` when ``k = 0``, else ``[n, 3F]``: ``[features, mean, std]``. Windows
        are cut at the recording's ends (mean/std of the frames that exist).
    """
    if isinstance(context, bool) or not isinstance(context, (int, np.integer)) or context < 0:
        raise ValueError(f"context must be an integer >= 0 (frames each side), got {context!r}.")
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"add_context: expected [frames, features], got {features.shape}.")
    if context == 0:
        return features
    count = features.shape[0]
    # Centred per column first, so the running sums of squares do not cancel.
    offset = features.mean(axis=0)
    centred = features - offset
    zero = np.zeros((1, features.shape[1]))
    sums = np.concatenate([zero, np.cumsum(centred, axis=0)])
    squares = np.concatenate([zero, np.cumsum(centred**2, axis=0)])
    frames = np.arange(count)
    low = np.maximum(frames - context, 0)
    high = np.minimum(frames + context + 1, count)
    size = (high - low)[:, None].astype(np.float64)
    mean = (sums[high] - sums[low]) / size
    variance = np.maximum((squares[high] - squares[low]) / size - mean**2, 0.0)
    return np.concatenate([features, mean + offset, np.sqrt(variance)], axis=1)


# -- the regression baseline ----------------------------------------------------------


class HandcraftedBaseline:
    """Handcrafted features + standardisation + ridge regression, per recording dict.

    Args:
        modality: ``"audio"`` (:func:`acoustic_features`), ``"visual"``
            (:func:`visual_features`) or ``"multimodal"`` (both, concatenated).
        alpha: ridge penalty (> 0); a list of penalties selects ``RidgeCV`` (efficient
            leave-one-out over the training frames) with one penalty per dimension.
        context: frames each side for :func:`add_context` (5 = +-200 ms).
        sample_rate: audio sample rate.
        names: output dimension names (columns of ``labels``).

    Data are dicts ``{rid: {"audio": [n, 640] or None, "video": [n, 96, 96, 3] or None,
    "labels": [n, 2]}}`` (``labels`` unused by :meth:`predict`).
    """

    def __init__(
        self,
        modality: str = "audio",
        alpha: float | Sequence[float] = 1.0,
        context: int = 5,
        sample_rate: int = SAMPLE_RATE,
        names: Sequence[str] = DEFAULT_NAMES,
    ):
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}.")
        if isinstance(alpha, (list, tuple, np.ndarray)):
            alphas = [float(value) for value in alpha]
            if not alphas or min(alphas) <= 0:
                raise ValueError(f"alpha candidates must be > 0, got {list(alpha)}.")
            alpha = alphas
        elif not float(alpha) > 0:
            raise ValueError(f"alpha must be > 0, got {alpha!r}.")
        else:
            alpha = float(alpha)
        add_context(np.zeros((1, 1)), context)  # validates `context`
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be > 0, got {sample_rate!r}.")
        self.modality = modality
        self.alpha = alpha
        self.context = int(context)
        self.sample_rate = int(sample_rate)
        self.names = tuple(str(name) for name in names)
        self.model = None  # sklearn Pipeline once fitted
        self.num_features: int | None = None

    def get_config(self) -> dict:
        return {
            "modality": self.modality,
            "alpha": self.alpha,
            "context": self.context,
            "sample_rate": self.sample_rate,
            "names": list(self.names),
        }

    @property
    def streams(self) -> tuple[str, ...]:
        """Entry keys the modality reads, in feature order: audio before video."""
        return MODALITY_INPUTS.get(self.modality, MODALITY_INPUTS["multimodal"])

    def features(self, entry: Mapping, rid="recording") -> np.ndarray:
        """``[n, F]`` features of one recording entry (``{"audio": ..., "video": ...}``)."""
        if not isinstance(entry, Mapping):
            raise ValueError(
                f"recording {rid!r}: expected a dict with 'audio'/'video', got "
                f"{type(entry).__name__}."
            )
        extractors = {
            "audio": ("[n, 640]", lambda x: acoustic_features(x, self.sample_rate, self.context)),
            "video": ("[n, 96, 96, 3]", lambda x: visual_features(x, self.context)),
        }
        parts = []
        for key in self.streams:
            shape, extract = extractors[key]
            values = entry.get(key)
            if values is None:
                raise ValueError(
                    f"recording {rid!r}: the {self.modality} baseline needs {key!r} {shape}."
                )
            try:
                parts.append(extract(values))
            except ValueError as error:
                raise ValueError(f"recording {rid!r}: {error}") from None
        if len(parts) == 2 and parts[0].shape[0] != parts[1].shape[0]:
            raise ValueError(
                f"recording {rid!r}: audio has {parts[0].shape[0]} frames but video "
                f"{parts[1].shape[0]}."
            )
        return np.concatenate(parts, axis=1)

    def fit(self, train: Mapping[str, Mapping]) -> HandcraftedBaseline:
        """Fits scaler + ridge on all training frames. Returns ``self``."""
        from sklearn.linear_model import Ridge, RidgeCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if not isinstance(train, Mapping) or not train:
            raise ValueError("fit: `train` must be a non-empty dict {rid: {...}}.")
        inputs, targets = [], []
        for rid, entry in train.items():
            features = self.features(entry, rid)
            labels = np.asarray(entry.get("labels"), dtype=np.float64)
            if labels.shape != (features.shape[0], len(self.names)):
                raise ValueError(
                    f"recording {rid!r}: labels must have shape [{features.shape[0]}, "
                    f"{len(self.names)}] (one row per frame), got {labels.shape}."
                )
            if not np.all(np.isfinite(labels)):
                raise ValueError(f"recording {rid!r}: labels contain non-finite values.")
            inputs.append(features)
            targets.append(labels)
        if isinstance(self.alpha, list):
            regressor = RidgeCV(alphas=self.alpha, alpha_per_target=True)
        else:
            regressor = Ridge(alpha=self.alpha)
        self.model = make_pipeline(StandardScaler(), regressor)
        self.model.fit(np.concatenate(inputs), np.concatenate(targets))
        self.num_features = int(inputs[0].shape[1])
        return self

    def predict(self, data: Mapping[str, Mapping]) -> dict:
        """``{rid: entry}`` -> ``{rid: [n, D]}`` float64 predictions."""
        if self.model is None:
            raise RuntimeError("HandcraftedBaseline.predict called before fit() or load().")
        outputs = {}
        for rid, entry in data.items():
            features = self.features(entry, rid)
            if features.shape[1] != self.num_features:
                raise ValueError(
                    f"recording {rid!r}: {features.shape[1]} features, the model was fitted "
                    f"on {self.num_features}."
                )
            outputs[rid] = np.asarray(self.model.predict(features), dtype=np.float64).reshape(
                -1, len(self.names)
            )
        return outputs

    def save(self, path) -> str:
        """Writes the fitted model with joblib (a pickle), atomically. Returns the path.

        Pickles run code when loaded: load only files this project wrote.
        """
        import joblib

        if self.model is None:
            raise RuntimeError("HandcraftedBaseline.save called before fit().")
        path = os.fspath(path)
        payload = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": self.get_config(),
            "num_features": self.num_features,
            "model": self.model,
        }
        with atomic_path(path) as temporary:
            joblib.dump(payload, temporary)
        return path

    @classmethod
    def load(cls, path) -> HandcraftedBaseline:
        """Reads a model written by :meth:`save` (a trusted, project-written pickle)."""
        import joblib

        path = os.fspath(path)
        payload = joblib.load(path)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"{path}: not a HandcraftedBaseline file (format {FORMAT!r}).")
        if payload.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"{path}: HandcraftedBaseline file version {payload.get('version')!r} is not "
                f"supported (expected {FORMAT_VERSION})."
            )
        baseline = cls(**payload["config"])
        baseline.model = payload["model"]
        baseline.num_features = payload["num_features"]
        return baseline
