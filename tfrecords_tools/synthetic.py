"""A small synthetic corpus in the AVEC 2016 layout: the project's built-in default data.

RECOLA / AVEC 2016 (used by Tzirakis et al., IEEE JSTSP 2017) is licensed and not
available everywhere, so this module writes look-alike recordings whose labels can be
learned from the signals, but not trivially: as in real data, every recording has its own
speaker, face, room and microphone, the cues are informative but noisy, and the gold
standard lags them.

- emotion (`synthetic_emotion`): per dimension a smooth random curve in (-1, 1) with a
  per-recording mean and depth, slow drifts (periods 10-40 s) and swings (6-15 s). The
  voice and face express this curve; the gold standard (`synthetic_labels`, the ARFF
  files) is the curve as raters report it: late by a per-recording lag of 0.2-0.6 s (one
  per dimension), averaged over 1 s, plus a little slow disagreement (sd 0.06), clipped
  to [-1, 1] and rounded to six decimals. It changes by less than 0.05 per 40 ms.
- speech (16 kHz WAV): phrases of 3-12 syllables separated by pauses, and now and then a
  longer silence while the speaker listens. A harmonic voice with formant-like
  resonances that change from syllable to syllable, noise bursts for consonants,
  accents, declination and pitch jitter, over a background noise floor. Per recording:
  base pitch (90-260 Hz) and pitch range (3-6 semitones per arousal unit), spectral tilt
  and vocal-tract size (timbre), speaking rate (3.2-5 syllables/s), recording gain (-10 to
  +6 dB), noise floor 18-35 dB below the speech with its own colour, sometimes mains hum.
  Within a recording arousal raises loudness (10-16 dB per unit), pitch, speaking rate
  and vocal effort (a flatter spectrum) and shortens the pauses, so it is learnable from
  prosody relative to the speaker, while absolute loudness or pitch say little across
  recordings. Valence is not in the audio.
- face video (25 fps MP4): a drawn face whose skin tone (light to dark), head size (46-56
  % of the frame wide) and shape, position, hair, room (wall colour and objects),
  lighting (brightness, colour, side light), sensor noise and focus differ per recording;
  the camera's auto-exposure brings faces of every tone to a similar brightness, and it
  and the white balance drift slowly during the recording. The head moves, nods and
  rolls a few degrees and the eyes blink. Valence shows in the expression (mouth corners
  and width, parted lips and teeth, raised cheeks and smile lines, narrowed eyes for a
  smile; pressed lips and lowered inner brows for a frown) with a per-person
  expressivity and bias and momentary expressions the raters do not follow. Arousal
  shows weakly: the mouth opens with the syllables of the speech, wider at high arousal,
  the eyes open wider and the brows rise, the head moves more. Lighting does not follow
  the labels. The OpenCV Haar frontal-face cascade finds the face in nearly every frame
  at 96 pixels and above (3000 frames of 60 faces at 96 pixels: 99.97 %; 2000 frames of 40
  faces at 160 pixels: 100 %); at 64 pixels it mostly fails, use mode="centre".

`conditions="hard"` (`write_synthetic_corpus`) records every recording the way real
recordings differ, each with its own `RecordingConditions` drawn from its seed, and a
speaker and a face no other recording of the corpus has: WAV at 16, 22.05, 44.1 or 48 kHz,
mono or stereo, the voice reverberated by a room (RT60 0.1-0.5 s), coloured noise at
12-30 dB SNR and in one recording of three mains hum (50 or 60 Hz and harmonics), a gain
of -14 to +4 dB; MP4 at 25 or 30 fps, 320x240 to 640x360, H.264 or MPEG-4, the head 45-150
pixels high and wandering over the frame, skin from very light to very dark, sometimes
mirrored, the lighting drifting in brightness and colour; and a gold standard that is the
expressed emotion 0.4-1.2 s late plus smooth rater noise (sd 0.05-0.1). The truth (the
conditions, the speakers' and faces' parameters, the head's box in every frame) is in
`conditions.json`.

Layout written by `write_synthetic_corpus` (N starts at 1):

    recordings_audio/{train,dev,test}_N.wav
    recordings_video/{train,dev,test}_N.mp4
    ratings_gold_standard/{arousal,valence}/{train,dev}_N.arff   (no test labels, as AVEC)
    test_labels/{arousal,valence}/test_N.arff                    (withheld, see below)
    synthetic_corpus.json                                        (parameters, ids)
    conditions.json                                 (hard conditions only, see above)

The test gold standard is written apart, in `test_labels/`, which the AVEC 2016 reader
never looks at: the test split stays unlabelled for conversion, training and every choice
made on dev, and the withheld labels give a final test score only.

Everything is a function of `seed`: the WAV and ARFF files are byte-identical across
runs, and so are the MP4 files (single-threaded libx264).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import av
import cv2
import numpy as np

from tfrecords_tools import media, media_writers, schema
from tfrecords_tools.labels import write_arff
from tfrecords_tools.output_paths import remove_dead_staging, staging_name

__all__ = [
    "CONDITIONS",
    "CONDITIONS_FILE",
    "MARKER_FILE",
    "TEST_LABELS_DIR",
    "RecordedAudio",
    "RecordingConditions",
    "SyntheticEmotion",
    "draw_hard_conditions",
    "iter_synthetic_frames",
    "recorded_audio",
    "synthetic_audio",
    "synthetic_emotion",
    "synthetic_frames",
    "synthetic_labels",
    "write_synthetic_corpus",
    "write_synthetic_recording",
]

MARKER_FILE = "synthetic_corpus.json"
"""Written at the corpus root; `overwrite=True` only replaces directories holding it."""

TEST_LABELS_DIR = "test_labels"
"""Corpus subdirectory with the withheld test gold standard (`{dimension}/test_N.arff`)."""

CONDITIONS = ("default", "hard")
"""Values of `conditions`: the default corpus, or recordings made the way real ones differ."""

CONDITIONS_FILE = "conditions.json"
"""Written at the root of a hard-conditions corpus: what each recording was drawn with."""

_SPLITS = ("train", "dev", "test")
_LABELLED_SPLITS = ("train", "dev")
_LAYOUT_NAMES = {
    "recordings_audio",
    "recordings_video",
    "ratings_gold_standard",
    TEST_LABELS_DIR,
    MARKER_FILE,
    CONDITIONS_FILE,
}


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """An independent generator per (seed, purpose, ...) so parts never share draws."""
    return np.random.default_rng([int(seed), *stream])


def _recording_seed(seed: int, split: str, number: int) -> int:
    """Seed of recording `{split}_{number}` of the corpus written with `seed`."""
    state = np.random.SeedSequence([int(seed), _SPLITS.index(split), int(number)])
    return int(state.generate_state(1)[0])


class _Wave:
    """A smooth random function of time: sinusoids with random periods, RMS about 1.

    Defined for any time (negative too), so curves sampled at different rates or with
    a delay come from the same function.
    """

    def __init__(self, rng: np.random.Generator, shortest: float, longest: float, count=8):
        periods = np.exp(rng.uniform(np.log(shortest), np.log(longest), count))
        self.frequency = 1.0 / periods
        self.phase = rng.uniform(0.0, 2 * np.pi, count)
        amplitude = rng.uniform(0.5, 1.0, count)
        self.amplitude = amplitude / np.sqrt(np.sum(amplitude**2) / 2)

    def __call__(self, times) -> np.ndarray:
        times = np.asarray(times, dtype=np.float64)
        out = np.zeros(times.shape)
        for frequency, phase, amplitude in zip(
            self.frequency, self.phase, self.amplitude, strict=True
        ):
            out += amplitude * np.sin(2 * np.pi * frequency * times + phase)
        return out


def _at_times(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Label curve (value k at k * 0.04 s) linearly interpolated at `times` (seconds)."""
    values = np.asarray(values, dtype=np.float64)
    if not len(values):
        return np.zeros(np.shape(times))
    return np.interp(times, np.arange(len(values)) * media.FRAME_SECONDS, values)


# ---------------------------------------------------------------------------- labels


class SyntheticEmotion(NamedTuple):
    """The emotion of one synthetic recording (see `synthetic_emotion`).

    Attributes:
      expressed: float64 `[num_frames, 2]` (arousal, valence) at k * 0.04 s: what the
        voice and face show.
      gold: float32 `[num_frames, 2]`: the rated gold standard (the ARFF values),
        `expressed` delayed by `lag_seconds` plus rater noise, in [-1, 1].
      lag_seconds: (arousal, valence) rater lags, each in [0.2, 0.6], or the lag asked
        for (both the same).
    """

    expressed: np.ndarray
    gold: np.ndarray
    lag_seconds: tuple[float, float]


_LABEL_MEAN = (0.0, 0.15)  # per-recording means: valence in RECOLA leans positive
_LABEL_SPREAD = (0.12, 0.15)
_DEPTH = (0.7, 1.1)
_SLOW = (10.0, 40.0)
_FAST = (6.0, 15.0)
_RATER_WINDOW = 1.0


def synthetic_emotion(
    num_frames: int,
    seed: int = 0,
    lag_seconds: float | None = None,
    rater_noise_sd: float = 0.06,
) -> SyntheticEmotion:
    """The expressed emotion of a recording and its lagging gold standard.

    Per dimension, the expressed curve is `tanh(offset + depth * (0.75 * slow(t) + 0.4 *
    fast(t)))` with a per-recording offset (normal; mean 0, sd 0.12 for arousal; mean
    0.15, sd 0.15 for valence) and depth (0.7-1.1), slow(t) with periods of 10-40 s and
    fast(t) with periods of 6-15 s (smooth random curves of RMS 1). The gold standard at
    time t is the mean of the expressed curve over [t - lag - 0.5 s, t - lag + 0.5 s]
    (lag uniform in [0.2, 0.6] s, per dimension) plus 0.06 times a slow rater-noise curve
    (periods 2-10 s), clipped to [-1, 1] and rounded to six decimals, exactly what the
    ARFF files hold. Both curves are defined for any time, so the gold standard of the
    first frames follows expression from before the recording started.

    With `lag_seconds` (the hard conditions), the gold standard of both dimensions is the
    expressed curve delayed by exactly that, `gold(t) = expressed(t - lag_seconds)`, not
    averaged, plus `rater_noise_sd` times the rater-noise curve; the expressed curves are
    the same as without it.

    Args:
      num_frames: number of label frames (`round(seconds / 0.04)`).
      seed: the two dimensions are independent and a function of `seed` only.
      lag_seconds: None (a lag of 0.2-0.6 s per dimension drawn from `seed`, and the 1 s
        mean), or the raters' lag in seconds (>= 0) for both dimensions.
      rater_noise_sd: standard deviation of the rater noise (label units) with
        `lag_seconds`; without it the noise is 0.06.

    Returns:
      a `SyntheticEmotion` (expressed, gold, lag_seconds).
    """
    if num_frames < 0:
        raise ValueError(f"num_frames must be >= 0, got {num_frames!r}")
    if lag_seconds is not None and not 0 <= lag_seconds < np.inf:
        raise ValueError(f"lag_seconds must be None or >= 0 seconds, got {lag_seconds!r}")
    if not 0 <= rater_noise_sd < np.inf:
        raise ValueError(f"rater_noise_sd must be >= 0, got {rater_noise_sd!r}")
    times = np.arange(num_frames) * media.FRAME_SECONDS
    expressed, gold, lags = [], [], []
    for dimension in range(2):
        rng = _rng(seed, 1, dimension)
        offset = rng.normal(_LABEL_MEAN[dimension], _LABEL_SPREAD[dimension])
        depth = rng.uniform(*_DEPTH)
        slow = _Wave(rng, *_SLOW)
        fast = _Wave(rng, *_FAST)
        lag = float(rng.uniform(0.2, 0.6))
        rater = _Wave(rng, 2.0, 10.0)

        def latent(t, offset=offset, depth=depth, slow=slow, fast=fast):
            return np.tanh(offset + depth * (0.75 * slow(t) + 0.4 * fast(t)))

        expressed.append(latent(times))
        if lag_seconds is None:
            # The raters follow the expression `lag` seconds late and smooth it (a mean
            # over 0.8 s), and disagree a little with it.
            window = np.linspace(-_RATER_WINDOW / 2, _RATER_WINDOW / 2, 9)
            followed = np.mean([latent(times - lag + shift) for shift in window], axis=0)
            rated = np.clip(followed + 0.06 * rater(times), -1.0, 1.0)
        else:
            lag = float(lag_seconds)
            rated = np.clip(latent(times - lag) + rater_noise_sd * rater(times), -1.0, 1.0)
        gold.append(np.round(rated, 6))
        lags.append(lag)
    return SyntheticEmotion(
        np.stack(expressed, axis=1).reshape(num_frames, 2),
        np.stack(gold, axis=1).astype(np.float32).reshape(num_frames, 2),
        (lags[0], lags[1]),
    )


def synthetic_labels(num_frames: int, seed: int = 0) -> np.ndarray:
    """The gold standard of a recording: arousal and valence, one value per 40 ms.

    `synthetic_emotion(num_frames, seed).gold`: smooth curves in [-1, 1] lagging what the
    recording's voice and face express by 0.2-0.6 s, rounded to six decimals.

    Returns:
      float32 `[num_frames, 2]`, columns (arousal, valence).
    """
    return synthetic_emotion(num_frames, seed).gold


# ---------------------------------------------------------------------------- speech plan


class _SpeechPlan(NamedTuple):
    """Syllables of a recording, shared by the audio and the mouth of the face."""

    onset: np.ndarray  # seconds
    duration: np.ndarray  # seconds (voiced part)
    level_db: np.ndarray  # relative loudness (accents, declination, jitter)
    pitch: np.ndarray  # semitones (accents, declination, jitter)
    vowel: np.ndarray  # [m, 2] first and second formant factors
    burst: np.ndarray  # bool: a consonant (noise burst) before the vowel


def _speech_plan(arousal: np.ndarray, seed: int) -> _SpeechPlan:
    """Phrases of 3-12 syllables and pauses, timed by the (expressed) arousal curve.

    Higher arousal: faster syllables and shorter pauses. Some pauses are long silences
    (the speaker listens to the partner, as in the RECOLA dyadic conversations).
    """
    arousal = np.clip(np.asarray(arousal, dtype=np.float64).reshape(-1), -1.0, 1.0)
    seconds = len(arousal) * media.FRAME_SECONDS
    rng = _rng(seed, 5)
    rate = rng.uniform(3.2, 5.0)  # syllables per second at arousal 0
    rate_slope = rng.uniform(0.4, 0.7)  # octaves per arousal unit
    pause_mean = rng.uniform(0.25, 0.5)  # seconds at arousal 0
    pause_slope = rng.uniform(1.2, 2.0)  # octaves (shorter) per arousal unit
    listening = rng.uniform(0.03, 0.12)  # chance that a pause is a listening turn

    def level(time):
        return float(_at_times(arousal, np.array([time]))[0])

    rows = []
    time = rng.uniform(0.0, 0.6)
    while time < seconds:
        count = int(rng.integers(3, 13))
        for index in range(count):
            period = np.exp(rng.normal(0.0, 0.2)) / (rate * 2 ** (rate_slope * level(time)))
            accent = rng.random() < 0.25
            rows.append(
                (
                    time,
                    period * rng.uniform(0.6, 0.9),
                    rng.normal(0.0, 2.0) + 3.0 * accent - 4.0 * index / count,
                    rng.normal(0.0, 0.7) + 2.5 * accent - 2.0 * index / count,
                    *rng.uniform(0.8, 1.25, 2),
                    rng.random() < 0.4,
                )
            )
            time += period
        pause = 0.08 + rng.exponential(pause_mean * 2 ** (-pause_slope * level(time)))
        if rng.random() < listening:
            pause += rng.uniform(1.0, 3.5)
        time += pause
    table = np.array(rows, dtype=np.float64).reshape(-1, 7)
    return _SpeechPlan(
        table[:, 0], table[:, 1], table[:, 2], table[:, 3], table[:, 4:6], table[:, 6] > 0
    )


def _syllable_window(plan: _SpeechPlan, index: int, times: np.ndarray) -> np.ndarray:
    """Envelope of syllable `index` at `times` (0 outside it, 1 at its middle)."""
    position = (times - plan.onset[index]) / plan.duration[index]
    inside = (position > 0) & (position < 1)
    return np.where(inside, np.sin(np.pi * np.clip(position, 0, 1)) ** 0.6, 0.0)


def _speech_activity(plan: _SpeechPlan, times: np.ndarray) -> np.ndarray:
    """How open the voice (and the mouth) is at `times`: 0 in pauses, up to 1."""
    times = np.asarray(times, dtype=np.float64)
    activity = np.zeros(times.shape)
    if not len(times):
        return activity
    step = times[1] - times[0] if len(times) > 1 else 1.0
    for index in range(len(plan.onset)):
        start = np.searchsorted(times, plan.onset[index] - step)
        stop = np.searchsorted(times, plan.onset[index] + plan.duration[index] + step)
        if stop > start:
            part = _syllable_window(plan, index, times[start:stop])
            activity[start:stop] = np.maximum(activity[start:stop], part)
    return activity


# ---------------------------------------------------------------------------- audio


def _coloured_noise(rng: np.random.Generator, count: int, slope: float) -> np.ndarray:
    """Unit-RMS noise whose power falls by `slope` x 3 dB per octave (0: white)."""
    if count == 0:
        return np.zeros(0)
    spectrum = np.fft.rfft(rng.standard_normal(count))
    frequency = np.arange(len(spectrum)) / max(count, 1)  # cycles per sample
    spectrum *= (1.0 + frequency / 0.005) ** (-slope / 2)
    noise = np.fft.irfft(spectrum, count)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


class _Voice(NamedTuple):
    """One speaker and microphone: what `synthetic_audio` draws from `_rng(seed, 2)`."""

    f0_base: float  # Hz at arousal 0
    semitones: float  # pitch rise per arousal unit
    tilt: float  # harmonic h has amplitude h ** -tilt
    effort: float  # tilt decrease per arousal unit
    tract: float  # formant scale
    gain_db: float
    loudness: float  # dB per arousal unit
    snr_db: float
    noise_slope: float
    hum: bool
    hum_frequency: float
    jitter: _Wave
    drift: _Wave
    phases: np.ndarray  # [200] harmonic phases


def _voice(seed: int) -> _Voice:
    voice = _rng(seed, 2)
    f0_base = np.exp(voice.uniform(np.log(90.0), np.log(260.0)))
    semitones = voice.uniform(3.0, 6.0)
    tilt = voice.uniform(0.95, 1.25)
    effort = voice.uniform(0.4, 0.7)
    tract = voice.uniform(0.88, 1.12) * (f0_base / 150.0) ** 0.2
    gain_db = voice.uniform(-10.0, 6.0)
    loudness = voice.uniform(10.0, 16.0)
    snr_db = voice.uniform(18.0, 35.0)
    noise_slope = voice.uniform(0.4, 0.9)
    hum = voice.random() < 0.15
    hum_frequency = 50.0 if voice.random() < 0.5 else 60.0
    jitter = _Wave(voice, 0.15, 1.0)
    drift = _Wave(voice, 2.0, 8.0)
    phases = voice.uniform(0.0, 2 * np.pi, 200)
    return _Voice(
        f0_base, semitones, tilt, effort, tract, gain_db, loudness, snr_db, noise_slope,
        hum, hum_frequency, jitter, drift, phases,
    )  # fmt: skip


def _speech(
    arousal: np.ndarray, sample_rate: int, voice: _Voice, gain_db: float, seed: int
) -> np.ndarray:
    """The dry voice of `synthetic_audio` (no noise, no room), float64 `[num_samples]`.

    Its level is `-30 + gain_db` dBFS (RMS while voiced) at arousal 0, plus
    `voice.loudness` dB per arousal unit and a slow drift of about 1.5 dB.
    """
    f0_base, semitones, tilt, effort = voice.f0_base, voice.semitones, voice.tilt, voice.effort
    tract, loudness, jitter, drift = voice.tract, voice.loudness, voice.jitter, voice.drift
    phases = voice.phases
    plan = _speech_plan(arousal, seed)
    num_samples = round(len(arousal) * media.FRAME_SECONDS * sample_rate)
    times = np.arange(num_samples) / sample_rate
    level = np.clip(_at_times(arousal, times), -1.0, 1.0)

    # Pitch: arousal, syllable accents and declination, and a little jitter.
    centres = plan.onset + plan.duration / 2
    intonation = np.interp(times, centres, plan.pitch) if len(centres) else np.zeros(num_samples)
    f0 = f0_base * 2 ** ((semitones * level + intonation + 0.5 * jitter(times)) / 12)
    pitch_phase = 2 * np.pi * np.cumsum(f0) / sample_rate

    # Harmonic amplitudes on a 10 ms grid: tilt (less at high arousal) and formants.
    control = np.arange(0.0, num_samples / sample_rate + 0.02, 0.01)
    f0_control = np.interp(control, times, f0) if num_samples else np.full(len(control), f0_base)
    tilt_control = tilt - effort * np.clip(_at_times(arousal, control), -1.0, 1.0)
    if len(centres):
        vowel = np.stack([np.interp(control, centres, plan.vowel[:, k]) for k in range(2)])
    else:
        vowel = np.ones((2, len(control)))
    formants = tract * np.stack([650.0 * vowel[0], 1500.0 * vowel[1], np.full_like(control, 2600)])
    widths, heights = (90.0, 120.0, 180.0), (1.0, 0.7, 0.4)
    top = min(5000.0, 0.45 * sample_rate)
    count = min(len(phases), int(top / (f0_base * 2 ** (-(semitones + 4.0) / 12))))
    amplitudes = np.zeros((count, len(control)))
    for harmonic in range(1, count + 1):
        frequency = harmonic * f0_control
        resonance = 0.3 + sum(
            height / (1.0 + ((frequency - formant) / width) ** 2)
            for formant, width, height in zip(formants, widths, heights, strict=True)
        )
        taper = np.clip((top - frequency) / 300.0, 0.0, 1.0)
        amplitudes[harmonic - 1] = harmonic**-tilt_control * resonance * taper
    amplitudes /= np.sqrt(np.sum(amplitudes**2, axis=0) / 2) + 1e-12  # RMS 1 when voiced
    voiced = np.zeros(num_samples)
    for harmonic in range(1, count + 1):
        weight = np.interp(times, control, amplitudes[harmonic - 1])
        voiced += weight * np.sin(harmonic * pitch_phase + phases[harmonic - 1])

    # Syllable envelopes and consonant bursts.
    sounds = _rng(seed, 7)
    envelope = np.zeros(num_samples)
    bursts = np.zeros(num_samples)
    for index in range(len(plan.onset)):
        start = max(0, int(plan.onset[index] * sample_rate))
        stop = min(num_samples, int((plan.onset[index] + plan.duration[index]) * sample_rate) + 1)
        if stop <= start:
            continue
        part = _syllable_window(plan, index, times[start:stop])
        gain = 10 ** (plan.level_db[index] / 20)
        envelope[start:stop] = np.maximum(envelope[start:stop], gain * part)
        if plan.burst[index]:
            length = int(sounds.uniform(0.03, 0.08) * sample_rate)
            first = max(0, start - length)
            noise = np.diff(sounds.standard_normal(start - first + 1))  # high-pass
            bursts[first:start] += 0.3 * gain * np.hanning(start - first) * noise
    speech_db = -30.0 + gain_db + loudness * level + 1.5 * drift(times)
    return 10 ** (speech_db / 20) * (envelope * voiced + bursts)


def synthetic_audio(
    arousal: np.ndarray, sample_rate: int = media.SAMPLE_RATE, channels: int = 1, seed: int = 0
) -> np.ndarray:
    """Speech-like sound of one speaker whose prosody follows `arousal`.

    The speaker, microphone and room are drawn from `seed` (see the module docstring):
    base pitch 90-260 Hz, 3-6 semitones per arousal unit, spectral tilt, formant scale,
    speaking rate, gain -10 to +6 dB around -30 dBFS, noise floor 18-35 dB below the
    speech. Along the recording, arousal raises loudness (10-16 dB per unit), pitch,
    speaking rate and vocal effort (flatter spectrum) and shortens pauses; syllables have
    their own loudness and pitch jitter, accents and declination, and the distance to the
    microphone drifts (about 1.5 dB). Extra channels are scaled copies with their own
    noise, so a downmix keeps the relation.

    Args:
      arousal: `[num_frames]` expressed arousal, one value per 40 ms (frame k at
        k * 0.04 s).
      sample_rate: Hz.
      channels: channel count.
      seed: the speaker, the recording conditions, the syllables and the noise.

    Returns:
      float32 `[num_samples]` (mono) or `[num_samples, channels]`, in [-1, 1], where
      `num_samples = round(num_frames * 0.04 * sample_rate)`.
    """
    arousal = np.asarray(arousal, dtype=np.float64).reshape(-1)
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels!r}")
    if sample_rate < 4000:
        raise ValueError(f"sample_rate must be >= 4000 Hz, got {sample_rate!r}")
    voice = _voice(seed)
    speech = _speech(arousal, sample_rate, voice, voice.gain_db, seed)
    num_samples = len(speech)
    times = np.arange(num_samples) / sample_rate
    gain_db, snr_db = voice.gain_db, voice.snr_db
    noise_slope, hum, hum_frequency = voice.noise_slope, voice.hum, voice.hum_frequency

    noise_rms = 10 ** ((-30.0 + gain_db - snr_db) / 20)
    background = _rng(seed, 8)
    out = np.empty((num_samples, channels), np.float64)
    for channel in range(channels):
        floor = noise_rms * _coloured_noise(background, num_samples, noise_slope)
        if hum:
            floor += noise_rms * 0.7 * np.sin(2 * np.pi * hum_frequency * times + channel)
        out[:, channel] = (1.0 - 0.1 * channel) * speech + floor
    # A soft limiter above 0.7 instead of hard clipping at the loudest moments.
    magnitude = np.abs(out)
    limited = 0.7 + 0.3 * np.tanh((magnitude - 0.7) / 0.3)
    out = np.where(magnitude > 0.7, np.sign(out) * limited, out)
    out = np.clip(out, -1.0, 1.0).astype(np.float32)
    return out[:, 0] if channels == 1 else out


# ---------------------------------------------------------------------------- video


_SKIN_LIGHT = np.array([236.0, 200.0, 172.0])
_SKIN_DARK = np.array([110.0, 72.0, 52.0])
_LUMA = np.array([0.299, 0.587, 0.114])
_HAIR_HUES = np.array([[1.0, 0.9, 0.85], [1.2, 0.95, 0.75], [1.3, 0.9, 0.6], [1.0, 1.0, 1.0]])


# Exponent of the hard conditions' exposure correction: 1 would bring every face to the
# same brightness, the cameras of real recordings leave darker skin darker.
_HARD_METERING = 0.6
# Hard conditions: skin colours from very light to very dark (sRGB, 0 to 1 along them).
_HARD_SKIN = np.array(
    [
        [247.0, 228.0, 214.0],
        [236.0, 200.0, 172.0],
        [212.0, 165.0, 130.0],
        [176.0, 124.0, 90.0],
        [136.0, 90.0, 62.0],
        [96.0, 62.0, 44.0],
        [62.0, 42.0, 33.0],
    ]
)


class _FacePose(NamedTuple):
    dx: float  # head offset, fraction of the frame
    dy: float
    scale: float  # head size factor
    roll: float  # radians
    smile: float  # expression: > 0 smile, < 0 frown
    mouth: float  # mouth opening, 0..1
    eyes: float  # eye opening, 0 (closed) .. 1
    alert: float  # arousal shown by the eyes and brows, -1 .. 1
    light: np.ndarray  # [3] lighting per channel (auto-exposure and white balance drift)


class _Framing(NamedTuple):
    """A camera and person other than the default ones (hard conditions)."""

    width: int  # frame, pixels
    height: int
    face_height: float  # pixels: the head's height at rest (pose scale 1)
    skin: np.ndarray  # [3] RGB skin colour before the per-person jitter


class _FacePainter:
    """Draws one person's face in one room on `size` x `size` RGB canvases.

    Colours of the eyes, brows, hair and room are set relative to the skin, so that every
    skin tone has the contrasts the Haar cascade relies on (an eye band darker than the
    cheeks, dark brows, a darker mouth); the camera's auto-exposure brings the face to a
    similar brightness whatever the tone (the tone still shows in its colour).

    With a `framing`, the canvas is `framing.width` x `framing.height`, the head is
    `framing.face_height` pixels high instead of a share of the frame, the skin colour is
    `framing.skin` (the drawn tone is not used), the exposure compensates the skin only
    partly (a camera meters the whole scene, so dark skin stays darker) and the centre is
    the frame's middle (poses move the head from it).
    """

    _SHIFT = 4  # fixed-point bits for sub-pixel cv2 drawing

    def __init__(self, size: int | None, seed: int, framing: _Framing | None = None):
        if framing is None:
            if size < 48 or size % 2:
                raise ValueError(f"image size must be an even number >= 48, got {size!r}")
            self.width = self.height = self.unit = size
        else:
            self.width, self.height = framing.width, framing.height
        rng = _rng(seed, 3)
        tone = rng.uniform(0.0, 1.0)
        base = (1 - tone) * _SKIN_LIGHT + tone * _SKIN_DARK if framing is None else framing.skin
        self.skin = base * rng.uniform(0.95, 1.05, 3)
        skin_luma = float(self.skin @ _LUMA)
        self.lips = self.skin * np.array([0.72, 0.48, 0.5])
        self.socket = self.skin * 0.6
        self.sclera = np.minimum(self.skin * 1.15, 245.0)
        self.iris = self.skin * 0.15
        self.teeth = np.minimum(self.skin * 0.9, 235.0)
        hair = _HAIR_HUES[int(rng.integers(len(_HAIR_HUES)))] * rng.uniform(0.92, 1.08, 3)
        self.hair = hair / float(hair @ _LUMA) * skin_luma * rng.uniform(0.15, 0.45)
        self.brows = np.minimum(self.hair, self.skin * 0.4)
        # Geometry (head-relative units: half-widths across, half-heights down).
        self.hairline = rng.uniform(-0.565, -0.535)
        self.half_width = rng.uniform(0.23, 0.28)  # of the frame: the head is 46-56 % wide
        self.aspect = rng.uniform(1.2, 1.36)
        if framing is not None:  # pixels per frame fraction that make the head that high
            self.unit = framing.face_height / (2 * self.half_width * self.aspect)
        reach_x = 1.1 * self.half_width
        reach_y = 1.05 * self.half_width * self.aspect
        self.centre = (  # of the frame
            float(np.clip(rng.uniform(0.445, 0.555), reach_x + 0.04, 0.96 - reach_x)),
            float(np.clip(rng.uniform(0.5, 0.56), reach_y + 0.03, 0.97 - reach_y)),
        )
        self.eye_x = rng.uniform(0.372, 0.388)
        self.eye_y = rng.uniform(-0.128, -0.112)
        self.eye_size = rng.uniform(0.97, 1.03)
        self.mouth_y = rng.uniform(0.44, 0.46)
        self.mouth_width = rng.uniform(0.32, 0.34)
        self.lip_thickness = rng.uniform(0.0236, 0.0264)
        # Light: auto-exposure on the face, then the lamp's brightness and colour, a
        # light from one side, the camera's noise and focus.
        exposure = 150.0 / skin_luma
        if framing is not None:
            exposure **= _HARD_METERING
        self.light = exposure * rng.uniform(0.75, 1.2) * rng.uniform(0.93, 1.07, 3)
        self.side_light = rng.uniform(-0.25, 0.25)
        self.noise_sigma = rng.uniform(1.0, 3.0)
        self.blur = rng.uniform(0.7, 1.3)
        if framing is not None:
            self.centre = (0.5, 0.5)
        self.background = self._room(rng, skin_luma * rng.uniform(0.515, 0.735))
        self.noise_rng = _rng(seed, 4)
        self.grid_y, self.grid_x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)

    def _room(self, rng: np.random.Generator, luma: float) -> np.ndarray:
        """A static background of brightness `luma`: a wall with a gradient, a few objects."""
        frame = np.array([self.width, self.height])
        wall = luma * rng.uniform(0.92, 1.08, 3)
        rows = np.linspace(-0.5, 0.5, self.height)[:, None, None]
        shape = (self.height, self.width, 3)
        room = wall * (1.0 + rng.uniform(-0.12, 0.12) * rows) * np.ones(shape)
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = rng.uniform(-0.2, 0.9, 2) * frame
            width, height = rng.uniform(0.1, 0.5, 2) * frame
            colour = luma * rng.uniform(0.76, 1.24) * rng.uniform(0.88, 1.12, 3)
            room[
                int(max(y0, 0)) : int(max(y0 + height, 0)),
                int(max(x0, 0)) : int(max(x0 + width, 0)),
            ] = colour
        return cv2.GaussianBlur(room.astype(np.float32), (0, 0), 1.5)

    def draw(self, pose: _FacePose) -> np.ndarray:
        """uint8 `[height, width, 3]` RGB frame of the face in `pose`."""
        centre_x = self.width * (self.centre[0] + pose.dx)
        centre_y = self.height * (self.centre[1] + pose.dy)
        half_w = self.unit * self.half_width * pose.scale
        half_h = half_w * self.aspect
        cos, sin = np.cos(pose.roll), np.sin(pose.roll)
        # Only pixels within `reach` of the centre can show the head (|u| < 1.08 and
        # -1.15 < v < 1 with the hair); the rest of the frame is the room, so the head is
        # computed in that window only (a small face in a large frame costs little).
        reach = np.hypot(1.08 * half_w, 1.15 * half_h) + 2
        x0, x1 = max(0, int(centre_x - reach)), min(self.width, int(centre_x + reach) + 2)
        y0, y1 = max(0, int(centre_y - reach)), min(self.height, int(centre_y + reach) + 2)
        x0, y0 = min(x0, x1), min(y0, y1)
        # Head-relative coordinates of every pixel (u across, v down, 1 at the rim).
        dx = self.grid_x[y0:y1, x0:x1] - centre_x
        dy = self.grid_y[y0:y1, x0:x1] - centre_y
        u = (cos * dx + sin * dy) / half_w
        v = (-sin * dx + cos * dy) / half_h
        radius = u**2 + v**2
        inside = np.clip((1.0 - radius) * half_w / 2, 0.0, 1.0)[..., None]
        shade = (1.0 - 0.25 * np.clip(radius, 0.0, 1.0)) * (1.0 + self.side_light * u)
        face = self.skin.astype(np.float32) * shade[..., None]
        room = self.background[y0:y1, x0:x1]
        head = room * (1.0 - inside) + face * inside
        hair_radius = (u / 1.08) ** 2 + ((v + 0.35) / 0.8) ** 2
        hair = ((hair_radius < 1.0) & (v < self.hairline))[..., None]
        head = np.where(hair, self.hair.astype(np.float32), head)
        image = self.background.astype(head.dtype)  # a copy, as the window's precision
        image[y0:y1, x0:x1] = head
        image = np.clip(image, 0, 255).astype(np.uint8)
        scale = 1 << self._SHIFT

        def point(x, y):  # head-relative coordinates -> fixed-point pixels
            px = centre_x + cos * x * half_w - sin * y * half_h
            py = centre_y + sin * x * half_w + cos * y * half_h
            return round(px * scale), round(py * scale)

        def polygon(points):
            return np.array([point(x, y) for x, y in points], np.int32)

        def colour(values):
            return tuple(float(c) for c in values)

        def ellipse(x, y, axis_x, axis_y, fill):
            cv2.ellipse(
                image, point(x, y), (round(axis_x * scale), round(max(axis_y, 0.3) * scale)),
                float(np.degrees(pose.roll)), 0, 360, colour(fill), -1, cv2.LINE_AA, self._SHIFT,
            )  # fmt: skip

        def line(points, fill, thickness):
            cv2.polylines(image, [polygon(points)], False, colour(fill), thickness,
                          cv2.LINE_AA, self._SHIFT)  # fmt: skip

        def fill(points, fill):
            cv2.fillPoly(image, [polygon(points)], colour(fill), cv2.LINE_AA, self._SHIFT)

        smile, frown = min(max(pose.smile, 0.0), 1.0), min(max(-pose.smile, 0.0), 1.0)
        # Eyes: narrower when smiling (cheeks raised) and when blinking.
        opening = max(pose.eyes * (0.75 + 0.25 * pose.alert) * (1.0 - 0.35 * smile), 0.08)
        eye_w = half_w * 0.16 * self.eye_size
        eye_h = half_h * 0.05 * self.eye_size * opening
        iris = half_w * 0.08 * self.eye_size
        for side in (-1, 1):
            x = side * self.eye_x
            ellipse(x, self.eye_y, eye_w * 1.8, half_h * 0.108 * self.eye_size, self.socket)
            ellipse(x, self.eye_y, eye_w, eye_h, self.sclera)
            ellipse(x, self.eye_y, iris, min(iris, eye_h * 1.1), self.iris)
            # Brows: lowered at the inner end for a frown, raised a little for a smile.
            raised = 0.02 * smile + 0.035 * pose.alert
            inner = self.eye_y - 0.13 + 0.07 * frown - raised
            outer = self.eye_y - 0.16 - raised
            brow = [(side * (self.eye_x - 0.2), inner), (x, outer - 0.02),
                    (side * (self.eye_x + 0.22), outer)]  # fmt: skip
            line(brow, self.brows, max(1, round(self.unit / 45)))
        line([(0, self.eye_y + 0.02), (-0.1, 0.2), (0.1, 0.2)], self.skin * 0.82, 1)  # nose
        ellipse(0, 0.2, half_w * 0.14, half_h * 0.04, self.skin * 0.8)
        if smile > 0:  # raised cheeks and smile lines
            for side in (-1, 1):
                ellipse(side * 0.45, 0.16, half_w * 0.2, half_h * 0.1,
                        np.minimum(self.skin * (1 + 0.2 * smile), 255))  # fmt: skip
                if smile > 0.1:
                    fold = [(side * 0.16, 0.14),
                            (side * (self.mouth_width + 0.02), self.mouth_y - 0.1),
                            (side * (self.mouth_width + 0.06), self.mouth_y + 0.04)]  # fmt: skip
                    line(fold, self.skin * (1 - 0.25 * smile), max(1, round(self.unit / 80)))
        # Mouth: corners up and middle down for a smile, the reverse for a frown; wider
        # and parted (teeth showing) when smiling, pressed lips when frowning; it opens
        # with the syllables of the speech.
        across = np.linspace(-1.0, 1.0, 21)
        shape = 1.0 - across**2
        xs = self.mouth_width * (1.0 + 0.25 * smile) * across
        middle = self.mouth_y + 0.22 * float(np.clip(pose.smile, -1.2, 1.2)) * (shape - 0.5)
        gap = (0.004 + 0.07 * pose.mouth + 0.03 * smile) * np.sqrt(shape)
        lip = self.lip_thickness * (0.4 + 0.6 * np.sqrt(shape)) * (1 - 0.4 * frown)

        def band(top, bottom, width=1.0):
            return list(zip(width * xs, top, strict=True)) + list(
                zip(width * xs[::-1], bottom[::-1], strict=True)
            )

        fill(band(middle - gap - lip, middle + gap + lip), self.lips)
        if gap.max() > 0.01:
            fill(band(middle - gap, middle + gap), (60, 22, 28))
            teeth = float(np.clip((smile - 0.1) * 1.2, 0.0, 0.45))
            if teeth > 0:
                fill(band(middle - gap, middle - gap + 2 * gap * teeth, 0.85), self.teeth)
        image = cv2.GaussianBlur(image, (0, 0), self.blur)
        lit = image.astype(np.float32) * (self.light * np.asarray(pose.light)).astype(np.float32)
        shape = (self.height, self.width, 1)
        noise = self.noise_sigma * self.noise_rng.standard_normal(shape, np.float32)
        return np.clip(lit + noise, 0, 255).astype(np.uint8)


def _face_poses(valence, arousal, times, seed) -> list[_FacePose]:
    """Head motion, expression, mouth, blinks and light of every frame at `times`."""
    rng = _rng(seed, 6)
    expressivity = rng.uniform(0.9, 1.3)
    bias = rng.normal(0.0, 0.04)  # some people look happier than others
    mood = _Wave(rng, 0.8, 6.0)  # momentary expressions the raters do not follow
    moves = [_Wave(rng, 2.0, 12.0) for _ in range(4)]  # x, y, scale, roll
    nod = _Wave(rng, 0.3, 1.2)
    flicker = _Wave(rng, 1.0, 10.0)
    balance = [_Wave(rng, 2.0, 12.0) for _ in range(3)]  # auto white balance, per channel
    shift = rng.uniform(0.01, 0.035)
    roll = rng.uniform(0.02, 0.08)
    blinks = np.cumsum(rng.uniform(2.0, 6.0, int(times[-1] / 2.0) + 2)) if len(times) else []

    level = np.clip(_at_times(arousal, times), -1.0, 1.0)
    smile = expressivity * _at_times(valence, times) + bias + 0.06 * mood(times)
    # The mouth opens with the syllables of the speech, wider at high arousal.
    mouth = _speech_activity(_speech_plan(arousal, seed), times) * (0.55 + 0.45 * level)
    motion = 1.0 + 0.6 * level  # livelier heads at high arousal
    white_balance = np.stack([wave(times) for wave in balance], axis=1)
    eyes = np.ones(len(times))
    for blink in blinks:
        eyes = np.minimum(eyes, np.clip(np.abs(times - blink) / 0.08, 0.0, 1.0))
    return [
        _FacePose(*values)
        for values in zip(
            shift * moves[0](times) * motion,
            0.6 * shift * moves[1](times) + 0.008 * nod(times) * motion,
            1.0 + 0.03 * moves[2](times),
            roll * moves[3](times),
            smile,
            mouth,
            eyes,
            level,
            1.0 + 0.15 * flicker(times)[:, None] + 0.06 * white_balance,
            strict=True,
        )
    ]


def iter_synthetic_frames(
    valence: np.ndarray,
    arousal: np.ndarray,
    fps: float = 25.0,
    size: int = 160,
    seed: int = 0,
) -> Iterator[np.ndarray]:
    """Streams the face video for the (expressed) emotion curves, frame by frame.

    Frame i is drawn at time `i / fps` seconds from the curves linearly interpolated at
    that time (value k at k * 0.04 s), so any frame rate follows them by timestamp.
    The person, room, lighting, head motion, blinks and expression noise come from `seed`;
    the mouth opens with the syllables of `synthetic_audio(arousal, seed=seed)`.

    Args:
      valence, arousal: `[num_frames]` values, one per 40 ms.
      fps: frames per second.
      size: frame side in pixels (even, >= 48).
      seed: the person, the room and everything random in the video.

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
    for pose in _face_poses(valence, arousal, times, seed):
        yield painter.draw(pose)


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


# ---------------------------------------------------------------------------- hard conditions


_HARD_SAMPLE_RATES = (16000, 22050, 44100, 48000)
_HARD_FRAME_SIZES = ((320, 240), (480, 360), (480, 270), (640, 360))  # width, height
_HARD_FPS = (25, 30)
# Bounds of the head's height at rest; the pose scale (clipped to +-5 %) keeps every
# frame's head within 45-150 pixels.
_HARD_FACE_HEIGHT = (47.5, 142.5)
_HARD_SCALE = (0.95, 1.05)
# Speech level at arousal 0 (RMS while voiced) before the recording gain, low enough that
# with the gain's +4 dB at most clipping stays rare, as in a recording set up by hand.
_HARD_SPEECH_DB = -32.0


@dataclasses.dataclass(frozen=True)
class RecordingConditions:
    """How one recording of a hard-conditions corpus is recorded (`draw_hard_conditions`).

    Attributes:
      sample_rate: WAV sample rate in Hz (16000, 22050, 44100 or 48000).
      channels: WAV channels (1 or 2); each channel has its own room response and noise.
      rt60: reverberation time in seconds (0.1-0.5): the room response decays by 60 dB.
      drr_db: direct-to-reverberant energy ratio of the room response in dB (0-10).
      snr_db: speech-to-noise ratio in dB (12-30), per channel, mean power over the
        recording of the reverberant speech against the noise (hum included).
      noise_slope: the noise's power falls by 3 dB times this per octave (0-1.5; 0 is
        white, 1 pink).
      hum_hz: mains hum fundamental, 50.0 or 60.0 Hz (with harmonics), or None.
      hum_db: hum power against the broadband noise in dB (-6 to 6), None without hum.
      gain_db: recording gain in dB (-14 to +4); the WAV is clipped to [-1, 1].
      fps: video frame rate (25 or 30).
      width, height: video frame size in pixels.
      codec: video codec, `"libx264"` or `"mpeg4"` (`"mpeg4"` if PyAV lacks libx264).
      face_height_px: height of the painted head's oval (chin to crown; the hair reaches
        a little higher) at rest, in pixels; every frame's head is 45-150 pixels high.
      mirrored: the video is flipped horizontally (a mirroring webcam).
      skin_tone: 0 very light to 1 very dark.
      light_drift: standard deviation of the slow drift of the log brightness; the
        colour cast drifts by half as much per channel.
      lag_seconds: the gold standard lags the media by this much (0.4-1.2 s), both
        dimensions.
      rater_noise_sd: standard deviation of the smooth rater noise added to the gold
        standard, in label units (0.05-0.1).
    """

    sample_rate: int
    channels: int
    rt60: float
    drr_db: float
    snr_db: float
    noise_slope: float
    hum_hz: float | None
    hum_db: float | None
    gain_db: float
    fps: int
    width: int
    height: int
    codec: str
    face_height_px: float
    mirrored: bool
    skin_tone: float
    light_drift: float
    lag_seconds: float
    rater_noise_sd: float

    def as_dict(self) -> dict:
        """The conditions as JSON-ready builtins (what `conditions.json` holds)."""
        return dataclasses.asdict(self)


def draw_hard_conditions(seed: int) -> RecordingConditions:
    """The recording conditions of the hard-conditions recording with seed `seed`.

    Independent uniform draws over the ranges of `RecordingConditions` (the face height
    log-uniform, hum in one recording of three, codec and frame size equally likely),
    from a stream of their own, so the same seed always gives the same conditions.
    """
    rng = _rng(seed, 40)
    sample_rate = int(rng.choice(_HARD_SAMPLE_RATES))
    channels = int(rng.integers(1, 3))
    rt60 = float(rng.uniform(0.1, 0.5))
    drr_db = float(rng.uniform(0.0, 10.0))
    snr_db = float(rng.uniform(12.0, 30.0))
    noise_slope = float(rng.uniform(0.0, 1.5))
    hum = rng.random() < 1 / 3
    hum_hz = float(rng.choice([50.0, 60.0]))
    hum_db = float(rng.uniform(-6.0, 6.0))
    gain_db = float(rng.uniform(-14.0, 4.0))
    fps = int(rng.choice(_HARD_FPS))
    width, height = _HARD_FRAME_SIZES[int(rng.integers(len(_HARD_FRAME_SIZES)))]
    codec = media_writers.VIDEO_CODECS[int(rng.integers(len(media_writers.VIDEO_CODECS)))]
    if codec not in av.codecs_available:
        codec = "mpeg4"
    face_height_px = float(np.exp(rng.uniform(*np.log(_HARD_FACE_HEIGHT))))
    mirrored = bool(rng.random() < 0.5)
    skin_tone = float(rng.uniform(0.0, 1.0))
    light_drift = float(rng.uniform(0.08, 0.2))
    lag_seconds = float(rng.uniform(0.4, 1.2))
    rater_noise_sd = float(rng.uniform(0.05, 0.1))
    if not hum:
        hum_hz = hum_db = None
    return RecordingConditions(
        sample_rate, channels, rt60, drr_db, snr_db, noise_slope, hum_hz, hum_db, gain_db,
        fps, width, height, codec, face_height_px, mirrored, skin_tone, light_drift,
        lag_seconds, rater_noise_sd,
    )  # fmt: skip


def _conditions_for(conditions, seed: int) -> RecordingConditions | None:
    """None for the default corpus, else the `RecordingConditions` to record with."""
    if isinstance(conditions, RecordingConditions):
        return conditions
    if isinstance(conditions, str) and conditions in CONDITIONS:
        return None if conditions == "default" else draw_hard_conditions(seed)
    raise ValueError(
        f"conditions must be one of {CONDITIONS} or a RecordingConditions, got {conditions!r}"
    )


def _skin_colour(tone: float) -> np.ndarray:
    """RGB `[3]` skin colour at `tone` (0 very light .. 1 very dark) along `_HARD_SKIN`."""
    stops = np.linspace(0.0, 1.0, len(_HARD_SKIN))
    return np.array([np.interp(tone, stops, _HARD_SKIN[:, k]) for k in range(3)])


def _room_response(rng: np.random.Generator, sample_rate: int, rt60: float, drr_db: float):
    """A room impulse response, float64 `[rt60 * sample_rate]`, unit energy.

    The direct sound (first sample), then exponentially decaying noise from 2-10 ms on
    (the first reflections), 60 dB down after `rt60` seconds, with `drr_db` dB less energy
    than the direct sound.
    """
    length = max(2, int(rt60 * sample_rate))
    times = np.arange(length) / sample_rate
    tail = rng.standard_normal(length) * np.exp(-3 * np.log(10) * times / rt60)
    tail[: max(1, int(rng.uniform(0.002, 0.01) * sample_rate))] = 0.0
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    tail[0] = 1.0
    return tail / np.sqrt(np.sum(tail**2))


def _convolve(signal: np.ndarray, response: np.ndarray) -> np.ndarray:
    """`signal` filtered by `response` (FFT convolution), as long as `signal`."""
    size = 1 << int(np.ceil(np.log2(len(signal) + len(response))))
    spectrum = np.fft.rfft(signal, size) * np.fft.rfft(response, size)
    return np.fft.irfft(spectrum, size)[: len(signal)]


class RecordedAudio(NamedTuple):
    """One recording's sound under hard conditions (see `recorded_audio`).

    Attributes:
      audio: float32 `[num_samples]` (mono) or `[num_samples, channels]`, what the WAV
        holds: `clip(10 ** (gain_db / 20) * (speech + noise), -1, 1)`.
      speech: float64 `[num_samples, channels]`: the voice in the room (reverberated),
        before the gain: the clean reference.
      noise: float64 `[num_samples, channels]`: the additive noise and hum, before the gain.
      clipped_fraction: share of the samples of `audio` at full scale.
    """

    audio: np.ndarray
    speech: np.ndarray
    noise: np.ndarray
    clipped_fraction: float


def recorded_audio(
    arousal: np.ndarray, conditions: RecordingConditions, seed: int = 0
) -> RecordedAudio:
    """The voice of `synthetic_audio` recorded in a room, with noise, at a gain.

    The speaker (`seed`) speaks as in `synthetic_audio` at -32 dBFS at arousal 0; per
    channel the voice is convolved with its own room response (`conditions.rt60`,
    `drr_db`), coloured noise (plus mains hum at `hum_hz` with 5 harmonics) is added at
    `snr_db` below that channel's reverberant speech, then everything is scaled by
    `gain_db` and clipped to [-1, 1].

    Args:
      arousal: `[num_frames]` expressed arousal, one value per 40 ms.
      conditions: the recording's conditions (`sample_rate`, `channels` and the rest).
      seed: the speaker, the room and the noise.

    Returns:
      a `RecordedAudio` of `num_samples = round(num_frames * 0.04 * sample_rate)` samples.
    """
    arousal = np.asarray(arousal, dtype=np.float64).reshape(-1)
    rate, channels = conditions.sample_rate, conditions.channels
    dry = _speech(arousal, rate, _voice(seed), _HARD_SPEECH_DB + 30.0, seed)
    count = len(dry)
    rng = _rng(seed, 42)
    hum = np.zeros(count)
    if conditions.hum_hz is not None:
        times = np.arange(count) / rate
        for harmonic in range(1, 6):
            weight = rng.uniform(0.3, 1.0) / harmonic
            phase = rng.uniform(0.0, 2 * np.pi)
            hum += weight * np.sin(2 * np.pi * harmonic * conditions.hum_hz * times + phase)
        hum /= np.sqrt(np.mean(hum**2)) + 1e-12
    hum_share = 10 ** (conditions.hum_db / 10) if conditions.hum_hz is not None else 0.0
    speech = np.empty((count, channels))
    noise = np.empty((count, channels))
    for channel in range(channels):
        response = _room_response(rng, rate, conditions.rt60, conditions.drr_db)
        speech[:, channel] = _convolve(dry, response)
        floor = _coloured_noise(rng, count, conditions.noise_slope) + np.sqrt(hum_share) * hum
        floor /= np.sqrt(np.mean(floor**2)) + 1e-12
        power = np.mean(speech[:, channel] ** 2) if count else 0.0
        noise[:, channel] = floor * np.sqrt(power / 10 ** (conditions.snr_db / 10))
    recorded = 10 ** (conditions.gain_db / 20) * (speech + noise)
    clipped = float(np.mean(np.abs(recorded) >= 1.0)) if recorded.size else 0.0
    audio = np.clip(recorded, -1.0, 1.0).astype(np.float32)
    return RecordedAudio(audio[:, 0] if channels == 1 else audio, speech, noise, clipped)


class _RecordedVideo(NamedTuple):
    painter: _FacePainter
    poses: list[_FacePose]
    head_boxes: np.ndarray  # [num_video_frames, 4] x, y, width, height in pixels


def _recorded_video(valence, arousal, conditions: RecordingConditions, seed) -> _RecordedVideo:
    """The person, the poses and the head's box in every video frame, hard conditions.

    The head wanders over the whole frame (periods 10-40 s) on top of the default head
    motion, scaled to the head's size, and always stays inside the frame (hair
    included); the lighting drifts slowly in brightness and colour.
    """
    framing = _Framing(
        conditions.width,
        conditions.height,
        conditions.face_height_px,
        _skin_colour(conditions.skin_tone),
    )
    painter = _FacePainter(None, seed, framing)
    count = round(len(valence) * media.FRAME_SECONDS * conditions.fps)
    times = np.arange(count) / conditions.fps
    poses = _face_poses(valence, arousal, times, seed)
    rng = _rng(seed, 43)
    wander = [_Wave(rng, 10.0, 40.0) for _ in range(2)]
    brightness = _Wave(rng, 6.0, 30.0)
    cast = [_Wave(rng, 6.0, 30.0) for _ in range(3)]
    if not poses:
        return _RecordedVideo(painter, [], np.zeros((0, 4)))
    dx, dy, scale, roll = (np.array([getattr(p, name) for p in poses]) for name in
                           ("dx", "dy", "scale", "roll"))  # fmt: skip
    scale = np.clip(scale, *_HARD_SCALE)
    half_w = painter.unit * painter.half_width * scale
    half_h = half_w * painter.aspect
    # Reach of the head with its hair from the centre, after the roll.
    cos, sin = np.abs(np.cos(roll)), np.abs(np.sin(roll))
    reach_x = cos * 1.1 * half_w + sin * 1.2 * half_h + 2
    reach_y = sin * 1.1 * half_w + cos * 1.2 * half_h + 2
    width, height = conditions.width, conditions.height
    free_x = max(width / 2 - reach_x.max(), 0.0)
    free_y = max(height / 2 - reach_y.max(), 0.0)
    centre_x = width / 2 + free_x * np.tanh(0.8 * wander[0](times)) + dx * painter.unit
    centre_y = height / 2 + free_y * np.tanh(0.8 * wander[1](times)) + dy * painter.unit
    centre_x = np.clip(centre_x, reach_x, width - reach_x)
    centre_y = np.clip(centre_y, reach_y, height - reach_y)
    light = np.exp(conditions.light_drift * brightness(times))[:, None] * (
        1.0 + 0.5 * conditions.light_drift * np.stack([wave(times) for wave in cast], axis=1)
    )
    poses = [
        pose._replace(
            dx=centre_x[i] / width - 0.5,
            dy=centre_y[i] / height - 0.5,
            scale=scale[i],
            light=pose.light * light[i],
        )
        for i, pose in enumerate(poses)
    ]
    # The head ellipse's bounding box, in the written (possibly mirrored) frame.
    extent_x = np.sqrt((cos * half_w) ** 2 + (sin * half_h) ** 2)
    extent_y = np.sqrt((sin * half_w) ** 2 + (cos * half_h) ** 2)
    left = centre_x - extent_x
    if conditions.mirrored:
        left = width - (centre_x + extent_x)
    boxes = np.stack([left, centre_y - extent_y, 2 * extent_x, 2 * extent_y], axis=1)
    return _RecordedVideo(painter, poses, boxes)


def _iter_recorded_frames(video: _RecordedVideo, mirrored: bool) -> Iterator[np.ndarray]:
    for pose in video.poses:
        frame = video.painter.draw(pose)
        yield np.ascontiguousarray(frame[:, ::-1]) if mirrored else frame


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
    conditions: str | RecordingConditions = "default",
) -> np.ndarray:
    """Writes one synthetic recording's WAV and/or MP4 and returns its gold standard.

    The voice and face express `synthetic_emotion(n, seed).expressed`; the returned
    labels are its `gold` standard, which lags them by 0.2-0.6 s.

    Args:
      recording_id: name used in messages (e.g. `train_1`).
      seconds: duration; the recording has `n = round(seconds / 0.04)` label frames.
      seed: the emotion, speaker, face and recording conditions are functions of it.
      audio_path: 16-bit PCM WAV to write, or None.
      video_path: MP4 to write, or None.
      sample_rate, audio_channels: of the WAV (e.g. 44100 and 2 for alignment tests).
      fps, image_size: of the MP4 (frames follow the emotion by timestamp).
      audio_in_video: also put the audio (mono, AAC, `sample_rate`) in the MP4, as in
        the full RECOLA release.
      conditions: `"default"`; `"hard"` (the conditions `draw_hard_conditions(seed)`), or a
        `RecordingConditions`. Hard conditions set the WAV's rate and channels and the
        MP4's rate, size and codec (`sample_rate`, `audio_channels`, `fps` and
        `image_size` are not used), record the sound with `recorded_audio`, frame the face
        as they say, and the gold standard lags the media by their `lag_seconds`.

    Returns:
      float32 `[n, 2]` gold-standard labels (arousal, valence), as in the ARFF files.
    """
    options = (sample_rate, audio_channels, fps, image_size, audio_in_video)
    gold, _ = _write_recording(recording_id, seconds, seed, audio_path, video_path, *options,
                               conditions)  # fmt: skip
    return gold


def _write_recording(
    recording_id, seconds, seed, audio_path, video_path, sample_rate, audio_channels, fps,
    image_size, audio_in_video, conditions,
) -> tuple[np.ndarray, dict]:  # fmt: skip
    """`write_synthetic_recording`, and what the hard conditions gave.

    Returns:
      the gold standard, and for hard conditions `{"clipped_fraction": float}` if audio
      was made and `{"head_boxes": [num_video_frames, 4]}` if video was written.
    """
    hard = _conditions_for(conditions, seed)
    if not seconds > 0:
        raise ValueError(f"{recording_id}: seconds must be positive, got {seconds!r}")
    num_frames = round(seconds / media.FRAME_SECONDS)
    if hard is None:
        emotion = synthetic_emotion(num_frames, seed)
    else:
        emotion = synthetic_emotion(num_frames, seed, hard.lag_seconds, hard.rater_noise_sd)
        sample_rate, audio_channels, fps = hard.sample_rate, hard.channels, hard.fps
    arousal, valence = emotion.expressed[:, 0], emotion.expressed[:, 1]
    facts = {}
    audio = None
    if audio_path is not None or audio_in_video:
        if hard is None:
            audio = synthetic_audio(arousal, sample_rate, audio_channels, seed)
        else:
            sound = recorded_audio(arousal, hard, seed)
            audio = sound.audio
            facts["clipped_fraction"] = sound.clipped_fraction
    if audio_path is not None:
        media_writers.write_wav(audio_path, audio, sample_rate, channels=audio_channels)
    if video_path is not None:
        track = None
        if audio_in_video:
            track = audio if audio.ndim == 1 else audio.mean(axis=1)
        codec = None
        if hard is None:
            frames = iter_synthetic_frames(valence, arousal, fps, image_size, seed)
        else:
            video = _recorded_video(valence, arousal, hard, seed)
            frames = _iter_recorded_frames(video, hard.mirrored)
            codec = hard.codec
            facts["head_boxes"] = video.head_boxes
        media_writers.write_video(
            video_path, frames, fps=fps, audio=track, audio_rate=sample_rate, codec=codec
        )
    return emotion.gold, facts


def write_synthetic_corpus(
    root: str | os.PathLike,
    num_train: int = 2,
    num_dev: int = 2,
    num_test: int = 1,
    seconds: float = 20.0,
    seed: int = 0,
    image_size: int = 160,
    overwrite: bool = False,
    conditions: str = "default",
) -> list[str]:
    """Writes a synthetic corpus in the AVEC 2016 layout (see the module docstring).

    Recordings are 16 kHz mono WAV and 25 fps `image_size`-square MP4; labels for train
    and dev in `ratings_gold_standard/`, `round(seconds / 0.04)` rows each, and the
    withheld test labels in `test_labels/`. Every recording has its own speaker, face and
    recording conditions. The corpus is built in a temporary sibling directory and renamed
    into place at the end, so an interrupted run never leaves a half-written corpus at
    `root`.

    Args:
      root: corpus directory; must not exist or be empty, unless `overwrite`.
      num_train, num_dev, num_test: recordings per split.
      seconds: duration of each recording.
      seed: the whole corpus is a function of it.
      image_size: video frame side in pixels (even, >= 48; >= 96 for face detection).
      overwrite: replace an existing corpus at `root`. Only a directory this function
        wrote (it holds `synthetic_corpus.json`) or one holding nothing but the layout's
        folders is replaced, never an unrelated directory.
      conditions: `"default"` (the corpus above), or `"hard"`: every recording is
        recorded under its own `draw_hard_conditions` (sample rate, channels, room, noise,
        gain, frame rate and size, codec, face size, mirroring, lighting drift, skin tone,
        rater lag and noise; `image_size` is not used), no two recordings share a speaker
        or a face, and `conditions.json` at the root holds, per recording id, its seed,
        split, conditions, `clipped_fraction` of its WAV, its speaker and face parameters
        and `head_boxes`: per video frame (frame i at i / fps s) the painted head's box
        `[x, y, width, height]` in pixels, always inside the frame.

    Returns:
      recording ids, e.g. `['train_1', 'train_2', 'dev_1', 'dev_2', 'test_1']`.
    """
    if not isinstance(conditions, str) or conditions not in CONDITIONS:
        raise ValueError(f"conditions must be one of {CONDITIONS}, got {conditions!r}")
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
    prefix = f".{root.name}.partial-"
    remove_dead_staging(root.parent, prefix)  # left by a killed run
    staging = Path(tempfile.mkdtemp(prefix=staging_name(prefix), dir=root.parent))
    try:
        ids = _write_layout(staging, counts, seconds, seed, image_size, conditions)
        _replace_directory(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ids


def _write_layout(staging: Path, counts, seconds, seed, image_size, conditions) -> list[str]:
    audio_dir = staging / "recordings_audio"
    video_dir = staging / "recordings_video"
    audio_dir.mkdir()
    video_dir.mkdir()
    for dimension in schema.LABEL_NAMES:
        (staging / "ratings_gold_standard" / dimension).mkdir(parents=True)
        if counts["test"]:
            (staging / TEST_LABELS_DIR / dimension).mkdir(parents=True)
    ids = []
    hard = {}  # recording id -> what conditions.json says of it
    identities = set()
    for split in _SPLITS:
        for number in range(1, counts[split] + 1):
            recording_id = f"{split}_{number}"
            paths = {
                "audio_path": audio_dir / f"{recording_id}.wav",
                "video_path": video_dir / f"{recording_id}.mp4",
            }
            if conditions == "default":
                labels = write_synthetic_recording(
                    recording_id,
                    seconds=seconds,
                    seed=_recording_seed(seed, split, number),
                    image_size=image_size,
                    **paths,
                )
            else:
                recording_seed, drawn, identity = _new_person(seed, split, number, identities)
                labels, facts = _write_recording(
                    recording_id, seconds, recording_seed, paths["audio_path"],
                    paths["video_path"], media.SAMPLE_RATE, 1, 25.0, image_size, False, drawn,
                )  # fmt: skip
                hard[recording_id] = {
                    "split": split,
                    "seed": recording_seed,
                    **drawn.as_dict(),
                    "clipped_fraction": facts["clipped_fraction"],
                    **identity,
                    "head_boxes": np.round(facts["head_boxes"], 1).tolist(),
                }
            folder = "ratings_gold_standard" if split in _LABELLED_SPLITS else TEST_LABELS_DIR
            for column, dimension in enumerate(schema.LABEL_NAMES):
                write_arff(
                    staging / folder / dimension / f"{recording_id}.arff",
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
        "test_labels": (
            f"{TEST_LABELS_DIR}/{{arousal,valence}}/test_N.arff: withheld gold standard of "
            "the test split, for a final score only (the AVEC 2016 reader ignores it)"
        ),
    }
    if conditions != "default":
        per_recording = "per recording, see " + CONDITIONS_FILE
        marker.update(
            image_size=per_recording, sample_rate=per_recording, fps=per_recording,
            conditions=conditions, conditions_file=CONDITIONS_FILE,
        )  # fmt: skip
        _write_conditions(staging / CONDITIONS_FILE, seed, seconds, hard)
    (staging / MARKER_FILE).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return ids


def _new_person(seed: int, split: str, number: int, identities: set):
    """Seed, conditions and identity of a hard-conditions recording, a new person.

    The speaker and the face are drawn from the recording's seed; in the unlikely case
    that their parameters (as `conditions.json` rounds them) equal an earlier
    recording's, the seed is drawn again, so that no two recordings, in any split, share
    a voice or a face. Adds the identity to `identities`.

    Returns:
      `(recording_seed, RecordingConditions, {"speaker": {...}, "face": {...}})`.
    """
    recording_seed = _recording_seed(seed, split, number)
    for attempt in range(1, 100):
        drawn = draw_hard_conditions(recording_seed)
        identity = _identity(recording_seed, drawn)
        keys = (json.dumps(identity["speaker"]), json.dumps(identity["face"]))
        if not any(key in identities for key in keys):
            identities.update(keys)
            return recording_seed, drawn, identity
        state = np.random.SeedSequence([int(seed), _SPLITS.index(split), int(number), attempt])
        recording_seed = int(state.generate_state(1)[0])
    raise RuntimeError(f"{split}_{number}: no new speaker and face in 100 draws")


def _identity(seed: int, conditions: RecordingConditions) -> dict:
    """The speaker's and the face's parameters of a hard-conditions recording (rounded)."""
    voice = _voice(seed)
    framing = _Framing(conditions.width, conditions.height, conditions.face_height_px,
                       _skin_colour(conditions.skin_tone))  # fmt: skip
    face = _FacePainter(None, seed, framing)

    def rounded(values, digits=4):
        return np.round(np.asarray(values, dtype=np.float64), digits).tolist()

    return {
        "speaker": {
            "f0_hz": rounded(voice.f0_base, 2),
            "semitones_per_arousal": rounded(voice.semitones),
            "spectral_tilt": rounded(voice.tilt),
            "formant_scale": rounded(voice.tract),
            "loudness_db_per_arousal": rounded(voice.loudness),
        },
        "face": {
            "skin_rgb": rounded(face.skin, 2),
            "hair_rgb": rounded(face.hair, 2),
            "head_width_to_height": rounded(1 / face.aspect),
            "eye_spacing": rounded(face.eye_x),
            "eye_height": rounded(face.eye_y),
            "mouth_width": rounded(face.mouth_width),
        },
    }


def _write_conditions(path: Path, seed: int, seconds: float, recordings: dict) -> None:
    """Writes `conditions.json`, one line per recording's head boxes (they are long)."""
    boxes = {}
    for recording_id, entry in recordings.items():
        boxes[recording_id] = json.dumps(entry["head_boxes"], separators=(",", ":"))
        entry["head_boxes"] = f"@boxes:{recording_id}@"
    document = {
        "generator": "tfrecords_tools.synthetic.write_synthetic_corpus",
        "conditions": "hard",
        "seed": seed,
        "seconds": seconds,
        "head_boxes": "per video frame (frame i at i / fps s): [x, y, width, height] in "
        "pixels of the painted head's oval (chin to crown, the hair reaches a little "
        "higher) in the written (mirrored if so) frame",
        "recordings": recordings,
    }
    text = json.dumps(document, indent=2)
    for recording_id, line in boxes.items():
        text = text.replace(json.dumps(f"@boxes:{recording_id}@"), line)
    path.write_text(text + "\n", encoding="utf-8")


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
