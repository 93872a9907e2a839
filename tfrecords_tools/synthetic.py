"""A small synthetic corpus in the AVEC 2016 layout: the project's built-in default data.

RECOLA / AVEC 2016 (used by Tzirakis et al., IEEE JSTSP 2017) is licensed and not
available everywhere, so this module writes look-alike recordings whose labels can be
learned from the signals:

- labels: smooth random arousal and valence curves in [-1, 1], one value per 40 ms;
- speech (16 kHz WAV): a voiced harmonic tone with syllable-like amplitude modulation
  whose loudness and pitch (f0 = 150 Hz + 60 Hz * arousal) follow arousal;
- face video (25 fps MP4): a drawn face whose mouth curvature (smile vs frown) and
  lighting follow valence, and whose mouth opening follows arousal, with slight head
  motion. The OpenCV Haar frontal-face cascade detects it in every frame at 96 pixels
  and above (measured on 2500 frames at 160 pixels: 100 %); at 64 pixels it mostly
  fails (the face is then near the cascade's 24-pixel window), use mode="centre".

Layout written by `write_synthetic_corpus` (N starts at 1):

    recordings_audio/{train,dev,test}_N.wav
    recordings_video/{train,dev,test}_N.mp4
    ratings_gold_standard/{arousal,valence}/{train,dev}_N.arff   (no test labels)
    synthetic_corpus.json                                        (parameters, ids)

Everything is a function of `seed`: the WAV and ARFF files are byte-identical across
runs, and so are the MP4 files (single-threaded libx264).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from tfrecords_tools import media
from tfrecords_tools.labels import write_arff

__all__ = [
    "MARKER_FILE",
    "iter_synthetic_frames",
    "synthetic_audio",
    "synthetic_frames",
    "synthetic_labels",
    "write_synthetic_corpus",
    "write_synthetic_recording",
]

MARKER_FILE = "synthetic_corpus.json"
"""Written at the corpus root; `overwrite=True` only replaces directories holding it."""

_SPLITS = ("train", "dev", "test")
_LABELLED_SPLITS = ("train", "dev")
_LAYOUT_NAMES = {"recordings_audio", "recordings_video", "ratings_gold_standard", MARKER_FILE}
_DIMENSIONS = ("arousal", "valence")


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator per (seed, purpose, ...) so parts never share draws."""
    return np.random.default_rng([int(seed), *stream])


# ---------------------------------------------------------------------------- labels


def synthetic_labels(num_frames: int, seed: int = 0) -> np.ndarray:
    """Smooth random arousal and valence curves, one value per 40 ms label frame.

    Each curve is an offset plus four sinusoids with periods between 4 s and 40 s and
    random phases, scaled so its largest magnitude is 0.9. Values are rounded to six
    decimals, exactly what the ARFF files hold.

    Args:
      num_frames: number of label frames (`round(seconds / 0.04)`).
      seed: the two curves are independent and a function of `seed` only.

    Returns:
      float32 `[num_frames, 2]`, columns (arousal, valence), in [-0.9, 0.9].
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames!r}")
    times = np.arange(num_frames) * media.FRAME_SECONDS
    curves = []
    for dimension in range(2):
        rng = _rng(seed, 1, dimension)
        frequency = 1.0 / rng.uniform(4.0, 40.0, size=4)  # Hz
        phase = rng.uniform(0.0, 2 * np.pi, size=4)
        amplitude = rng.uniform(0.3, 1.0, size=4)
        offset = rng.uniform(-0.4, 0.4)
        curve = offset + np.sum(
            amplitude * np.sin(2 * np.pi * frequency * times[:, None] + phase), axis=1
        )
        peak = np.max(np.abs(curve)) if num_frames else 0.0
        if peak > 0:
            curve = 0.9 * curve / peak
        curves.append(np.round(curve, 6))
    return np.stack(curves, axis=1).astype(np.float32).reshape(num_frames, 2)


def _at_times(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Label curve (value k at k * 0.04 s) linearly interpolated at `times` (seconds)."""
    values = np.asarray(values, dtype=np.float64)
    return np.interp(times, np.arange(len(values)) * media.FRAME_SECONDS, values)


# ---------------------------------------------------------------------------- audio


def synthetic_audio(
    arousal: np.ndarray, sample_rate: int = media.SAMPLE_RATE, channels: int = 1, seed: int = 0
) -> np.ndarray:
    """Speech-like sound whose loudness and pitch follow `arousal`.

    A voiced tone (ten harmonics, f0 = 150 Hz + 60 Hz * arousal) with syllable-like
    amplitude modulation (3-4.5 per second) and gain rising from 0.03 (arousal -1) to
    0.5 (arousal +1), plus faint noise. Extra channels are scaled copies with their own
    noise, so a downmix keeps the relation.

    Args:
      arousal: `[num_frames]` label values, one per 40 ms (frame k at k * 0.04 s).
      sample_rate: Hz.
      channels: channel count.
      seed: noise and syllable phase.

    Returns:
      float32 `[num_samples]` (mono) or `[num_samples, channels]`, in [-1, 1], where
      `num_samples = round(num_frames * 0.04 * sample_rate)`.
    """
    arousal = np.asarray(arousal, dtype=np.float64).reshape(-1)
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels!r}")
    if sample_rate < 4000:
        raise ValueError(f"sample_rate must be >= 4000 Hz, got {sample_rate!r}")
    rng = _rng(seed, 2)
    num_samples = round(len(arousal) * media.FRAME_SECONDS * sample_rate)
    times = np.arange(num_samples) / sample_rate
    level = _at_times(arousal, times) if len(arousal) else np.zeros(0)
    level = np.clip(level, -1.0, 1.0)
    pitch_phase = 2 * np.pi * np.cumsum(150.0 + 60.0 * level) / sample_rate
    voiced = sum(np.sin(h * pitch_phase) / h for h in range(1, 11))
    voiced /= sum(1.0 / h for h in range(1, 11))
    syllable_phase = 2 * np.pi * np.cumsum(3.75 + 0.75 * level) / sample_rate
    syllables = 0.75 + 0.25 * np.sin(syllable_phase + rng.uniform(0, 2 * np.pi))
    gain = 0.03 + 0.47 * ((level + 1.0) / 2.0) ** 1.5
    signal = gain * syllables * voiced
    out = np.empty((num_samples, channels), np.float64)
    for channel in range(channels):
        noise = rng.normal(0.0, 0.002, num_samples)
        out[:, channel] = (1.0 - 0.1 * channel) * signal + noise
    out = np.clip(out, -1.0, 1.0).astype(np.float32)
    return out[:, 0] if channels == 1 else out


# ---------------------------------------------------------------------------- video


class _FacePainter:
    """Draws the synthetic face on `size` x `size` RGB canvases."""

    _SKIN = np.array([225.0, 185.0, 155.0], np.float32)
    _HAIR = np.array([60.0, 40.0, 30.0], np.float32)
    _SHIFT = 4  # fixed-point bits for sub-pixel cv2 drawing

    def __init__(self, size: int, seed: int):
        if size < 48 or size % 2:
            raise ValueError(f"image size must be an even number >= 48, got {size!r}")
        self.size = size
        rng = _rng(seed, 3)
        self.background = (np.array([90.0, 110.0, 130.0]) + rng.uniform(-25, 25, size=3)).astype(
            np.float32
        )
        self.motion_frequency = rng.uniform(0.1, 0.4, size=3)  # Hz: x, y, scale
        self.motion_phase = rng.uniform(0, 2 * np.pi, size=3)
        self.noise_rng = _rng(seed, 4)
        self.grid_y, self.grid_x = np.mgrid[0:size, 0:size].astype(np.float32)

    def draw(self, time: float, valence: float, arousal: float) -> np.ndarray:
        """uint8 `[size, size, 3]` RGB frame at `time` seconds for the given labels."""
        size = self.size
        wobble = np.sin(2 * np.pi * self.motion_frequency * time + self.motion_phase)
        centre_x = np.float32(size * (0.5 + 0.03 * wobble[0]))
        centre_y = np.float32(size * (0.52 + 0.025 * wobble[1]))
        half_w = np.float32(size * 0.26 * (1 + 0.03 * wobble[2]))
        half_h = half_w * 1.3
        # Head: soft-edged ellipse, darker towards its rim (a little shading).
        radius = ((self.grid_x - centre_x) / half_w) ** 2 + ((self.grid_y - centre_y) / half_h) ** 2
        inside = np.clip((1.0 - radius) * half_w / 2, 0.0, 1.0)[..., None]
        face = self._SKIN * (1.0 - 0.25 * np.clip(radius, 0.0, 1.0))[..., None]
        noise = 4.0 * self.noise_rng.standard_normal((size, size, 1), dtype=np.float32)
        image = (self.background + noise) * (1.0 - inside) + face * inside
        hair_radius = ((self.grid_x - centre_x) / (half_w * 1.08)) ** 2 + (
            (self.grid_y - (centre_y - 0.35 * half_h)) / (0.8 * half_h)
        ) ** 2
        hair = ((hair_radius < 1.0) & (self.grid_y < centre_y - 0.55 * half_h))[..., None]
        image = np.where(hair, self._HAIR, image)
        image = np.clip(image, 0, 255).astype(np.uint8)

        def point(x, y):  # head-relative coordinates -> fixed-point pixels
            return (
                round((centre_x + x * half_w) * (1 << self._SHIFT)),
                round((centre_y + y * half_h) * (1 << self._SHIFT)),
            )

        def length(pixels):
            return round(pixels * (1 << self._SHIFT))

        def ellipse(x, y, axis_x, axis_y, colour, thickness=-1, start=0, end=360):
            cv2.ellipse(
                image, point(x, y), (length(axis_x), length(axis_y)), 0, start, end, colour,
                thickness, cv2.LINE_AA, self._SHIFT,
            )  # fmt: skip

        eye_y = -0.12
        brow = max(1, round(size / 60))
        for side in (-1, 1):
            ellipse(side * 0.38, eye_y, half_w * 0.24, half_h * 0.09, (175, 135, 110))
            ellipse(side * 0.38, eye_y, half_w * 0.16, half_h * 0.05, (245, 245, 245))
            ellipse(side * 0.38, eye_y, half_w * 0.08, half_w * 0.08, (40, 30, 30))
            ellipse(side * 0.38, eye_y - 0.13, half_w * 0.22, half_h * 0.05, (70, 50, 40),
                    brow, 180, 360)  # fmt: skip
        nose = np.array([point(0, eye_y + 0.02), point(-0.1, 0.2), point(0.1, 0.2)])
        cv2.polylines(image, [nose.astype(np.int32)], False, (185, 140, 115), 1, cv2.LINE_AA,
                      self._SHIFT)  # fmt: skip
        ellipse(0, 0.2, half_w * 0.14, half_h * 0.04, (180, 135, 110))
        # Mouth: centre line bends down at the middle for a smile (valence > 0), up for a
        # frown; its opening grows with arousal.
        across = np.linspace(-1.0, 1.0, 21)
        shape = 1.0 - across**2
        middle = 0.45 + 0.09 * float(valence) * shape
        opening = (0.015 + 0.05 * (float(arousal) + 1.0) / 2.0) * np.sqrt(shape) + 0.012
        upper = [point(0.34 * x, y) for x, y in zip(across, middle - opening, strict=True)]
        lower = [point(0.34 * x, y) for x, y in zip(across, middle + opening, strict=True)]
        lips = np.array(upper + lower[::-1], np.int32)
        cv2.fillPoly(image, [lips], (120, 50, 50), cv2.LINE_AA, self._SHIFT)
        image = cv2.GaussianBlur(image, (0, 0), 1.0)
        # Lighting follows valence: about +-20 % brightness.
        light = 1.0 + 0.2 * float(valence)
        return np.clip(image.astype(np.float32) * light, 0, 255).astype(np.uint8)


def iter_synthetic_frames(
    valence: np.ndarray,
    arousal: np.ndarray,
    fps: float = 25.0,
    size: int = 160,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """Streams the face video for the label curves, frame by frame.

    Frame i is drawn at time `i / fps` seconds from the labels linearly interpolated at
    that time (label k at k * 0.04 s), so any frame rate follows the labels by timestamp.

    Args:
      valence, arousal: `[num_frames]` label values, one per 40 ms.
      fps: frames per second.
      size: frame side in pixels (even, >= 48).
      seed: background, head motion and pixel noise.

    Yields:
      `round(num_frames * 0.04 * fps)` uint8 `[size, size, 3]` RGB frames.
    """
    valence = np.asarray(valence, dtype=np.float64).reshape(-1)
    arousal = np.asarray(arousal, dtype=np.float64).reshape(-1)
    if valence.shape != arousal.shape:
        raise ValueError(f"valence {valence.shape} and arousal {arousal.shape} differ")
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    painter = _FacePainter(int(size), seed)
    count = round(len(valence) * media.FRAME_SECONDS * float(fps))
    times = np.arange(count) / float(fps)
    valence_at = _at_times(valence, times)
    arousal_at = _at_times(arousal, times)
    for index in range(count):
        yield painter.draw(times[index], valence_at[index], arousal_at[index])


def synthetic_frames(
    valence: np.ndarray,
    arousal: np.ndarray,
    fps: float = 25.0,
    size: int = 160,
    seed: int = 0,
) -> np.ndarray:
    """All frames of `iter_synthetic_frames` as uint8 `[num_video_frames, size, size, 3]`."""
    frames = list(iter_synthetic_frames(valence, arousal, fps=fps, size=size, seed=seed))
    if not frames:
        return np.zeros((0, size, size, 3), np.uint8)
    return np.stack(frames)


# ---------------------------------------------------------------------------- files


def write_synthetic_recording(
    recording_id: str,
    seconds: float = 20.0,
    seed: int = 0,
    audio_path: str | os.PathLike | None = None,
    video_path: str | os.PathLike | None = None,
    sample_rate: int = media.SAMPLE_RATE,
    audio_channels: int = 1,
    fps: float = 25.0,
    image_size: int = 160,
    audio_in_video: bool = False,
) -> np.ndarray:
    """Writes one synthetic recording's WAV and/or MP4 and returns its labels.

    Args:
      recording_id: name used in messages (e.g. `train_1`).
      seconds: duration; the recording has `round(seconds / 0.04)` label frames.
      seed: labels, audio and video are functions of it.
      audio_path: 16-bit PCM WAV to write, or None.
      video_path: MP4 to write, or None.
      sample_rate, audio_channels: of the WAV (e.g. 44100 and 2 for alignment tests).
      fps, image_size: of the MP4 (frames follow the labels by timestamp).
      audio_in_video: also put the audio (mono, AAC, `sample_rate`) in the MP4, as in
        the full RECOLA release.

    Returns:
      float32 `[num_frames, 2]` labels (arousal, valence).
    """
    if not seconds > 0:
        raise ValueError(f"{recording_id}: seconds must be positive, got {seconds!r}")
    labels = synthetic_labels(round(seconds / media.FRAME_SECONDS), seed)
    audio = None
    if audio_path is not None or audio_in_video:
        audio = synthetic_audio(labels[:, 0], sample_rate, audio_channels, seed)
    if audio_path is not None:
        media.write_wav(audio_path, audio, sample_rate, channels=audio_channels)
    if video_path is not None:
        track = None
        if audio_in_video:
            track = audio if audio.ndim == 1 else audio.mean(axis=1)
        frames = iter_synthetic_frames(labels[:, 1], labels[:, 0], fps, image_size, seed)
        media.write_video(video_path, frames, fps=fps, audio=track, audio_rate=sample_rate)
    return labels


def write_synthetic_corpus(
    root: str | os.PathLike,
    num_train: int = 2,
    num_dev: int = 2,
    num_test: int = 1,
    seconds: float = 20.0,
    seed: int = 0,
    image_size: int = 160,
    overwrite: bool = False,
) -> list[str]:
    """Writes a synthetic corpus in the AVEC 2016 layout (see the module docstring).

    Recordings are 16 kHz mono WAV and 25 fps `image_size`-square MP4; labels for train
    and dev only, `round(seconds / 0.04)` rows each. The corpus is built in a temporary
    sibling directory and renamed into place at the end, so an interrupted run never
    leaves a half-written corpus at `root`.

    Args:
      root: corpus directory; must not exist or be empty, unless `overwrite`.
      num_train, num_dev, num_test: recordings per split.
      seconds: duration of each recording.
      seed: the whole corpus is a function of it.
      image_size: video frame side in pixels (even, >= 48; >= 96 for face detection).
      overwrite: replace an existing corpus at `root`. Only a directory this function
        wrote (it holds `synthetic_corpus.json`) or one holding nothing but the layout's
        folders is replaced, never an unrelated directory.

    Returns:
      recording ids, e.g. `['train_1', 'train_2', 'dev_1', 'dev_2', 'test_1']`.
    """
    root = Path(root)
    counts = {"train": num_train, "dev": num_dev, "test": num_test}
    for split, count in counts.items():
        if not isinstance(count, int | np.integer) or count < 0:
            raise ValueError(f"num_{split} must be an int >= 0, got {count!r}")
    if sum(counts.values()) == 0:
        raise ValueError("the corpus needs at least one recording")
    if not seconds > 0:
        raise ValueError(f"seconds must be positive, got {seconds!r}")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root}: exists and is not a directory")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{root}: directory is not empty; pass overwrite=True to replace a "
                "synthetic corpus written earlier"
            )
        names = {entry.name for entry in root.iterdir()}
        if MARKER_FILE not in names and not names <= _LAYOUT_NAMES:
            raise FileExistsError(
                f"{root}: not a synthetic corpus (no {MARKER_FILE}; holds "
                f"{sorted(names)[:5]}); refusing to delete it even with overwrite=True"
            )
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    try:
        ids = _write_layout(staging, counts, seconds, seed, image_size)
        _replace_directory(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ids


def _write_layout(staging: Path, counts, seconds, seed, image_size) -> list[str]:
    audio_dir = staging / "recordings_audio"
    video_dir = staging / "recordings_video"
    audio_dir.mkdir()
    video_dir.mkdir()
    for dimension in _DIMENSIONS:
        (staging / "ratings_gold_standard" / dimension).mkdir(parents=True)
    ids = []
    for split_index, split in enumerate(_SPLITS):
        for number in range(1, counts[split] + 1):
            recording_id = f"{split}_{number}"
            labels = write_synthetic_recording(
                recording_id,
                seconds=seconds,
                seed=int(np.random.SeedSequence([seed, split_index, number]).generate_state(1)[0]),
                audio_path=audio_dir / f"{recording_id}.wav",
                video_path=video_dir / f"{recording_id}.mp4",
                image_size=image_size,
            )
            if split in _LABELLED_SPLITS:
                for column, dimension in enumerate(_DIMENSIONS):
                    write_arff(
                        staging / "ratings_gold_standard" / dimension / f"{recording_id}.arff",
                        recording_id,
                        labels[:, column],
                    )
            ids.append(recording_id)
    marker = {
        "generator": "tfrecords_tools.synthetic.write_synthetic_corpus",
        "seed": seed,
        "seconds": seconds,
        "num_label_frames": round(seconds / media.FRAME_SECONDS),
        "image_size": image_size,
        "sample_rate": media.SAMPLE_RATE,
        "fps": 25,
        "recordings": ids,
    }
    (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return ids


def _replace_directory(staging: Path, root: Path) -> None:
    """Moves `staging` to `root`, replacing what is there with as short a gap as possible."""
    if not root.exists():
        os.replace(staging, root)
        return
    if not any(root.iterdir()):
        root.rmdir()
        os.replace(staging, root)
        return
    trash = Path(tempfile.mkdtemp(prefix=f".{root.name}.old-", dir=root.parent))
    os.replace(root, trash / root.name)
    os.replace(staging, root)
    shutil.rmtree(trash, ignore_errors=True)
