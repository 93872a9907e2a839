"""Training-time audio conditions: rooms, noise, band limits, on a window's waveform.

Real corpora differ from each other in the room (reverberation), the background (fans,
traffic, babble, mains hum), the microphone chain (an 8 kHz telephone band, a 16 kHz
headset, a 48 kHz studio) and the gain. A model trained on one set of conditions learns
them with the speaker's emotion; drawing them at random per training window makes them
noise to the model. Every function here works on the flat waveform of one window
``[n]`` float32 at 16 kHz with stateless random ops (``seed``: ``[2]`` int tensor), so the
pipeline stays reproducible at any parallelism. None of this runs at inference: the
model itself stays causal and unchanged.
"""

from __future__ import annotations

import math

import tensorflow as tf

from tfrecords_tools.schema import SAMPLE_RATE

# Reverberation times drawn for the generated rooms (seconds: a treated booth to a
# reverberant meeting room), and the longest impulse response generated.
RT60_RANGE = (0.1, 0.8)
# Energy of the reverberant tail against the direct sound, in dB: a close microphone
# (direct sound dominating) to a distant one.
REVERB_RATIO_DB = (-12.0, 3.0)
# Signal-to-noise ratios of the added background, dB.
SNR_RANGE_DB = (5.0, 30.0)
# Spectral slopes of the coloured noise: power falls as f^-slope (0 white, 1 pink, 2 brown).
NOISE_SLOPE_RANGE = (0.0, 2.0)
# Share of noisy windows whose background also holds mains hum (50 or 60 Hz, harmonics).
HUM_SHARE = 0.3
# Upper band edges drawn for band-limited windows, Hz: sources recorded at 8 kHz (a 4 kHz
# band) up to the 8 kHz band of the 16 kHz pipeline.
BAND_EDGE_RANGE = (3400.0, 7600.0)


def _uniform(seed, low, high):
    return tf.random.stateless_uniform([], seed, low, high)


def _fft_length(count):
    return 2 ** math.ceil(math.log2(max(count, 2)))


def _rms(x):
    return tf.sqrt(tf.reduce_mean(tf.square(x)) + 1e-12)


def room_impulse_response(seed, rt60, ratio_db, sample_rate=SAMPLE_RATE):
    """``[L]`` impulse response of a generated room: the direct sound (1 at time 0) and a
    Gaussian tail decaying by 60 dB in ``rt60`` seconds, whose energy is ``ratio_db`` dB
    against the direct sound. ``L`` covers the longest reverberation time drawn."""
    length = int(RT60_RANGE[1] * sample_rate)
    times = tf.range(1, length, dtype=tf.float32) / sample_rate
    envelope = tf.exp(-3.0 * math.log(10.0) * times / rt60)  # amplitude: 60 dB at rt60
    tail = tf.random.stateless_normal([length - 1], seed) * envelope
    energy = tf.reduce_sum(tf.square(tail)) + 1e-12
    tail *= tf.sqrt(tf.pow(10.0, ratio_db / 10.0) / energy)
    return tf.concat([[1.0], tail], axis=0)


def reverberate(x, seed):
    """``x`` ``[n]`` in a random room (``RT60_RANGE``, ``REVERB_RATIO_DB``), causally (the
    first ``n`` samples of the convolution), at the level it had."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    rt60 = _uniform(seeds[0], *RT60_RANGE)
    ratio = _uniform(seeds[1], *REVERB_RATIO_DB)
    response = room_impulse_response(seeds[2], rt60, ratio)
    count = x.shape[0]
    size = _fft_length(count + response.shape[0] - 1)
    wet = tf.signal.irfft(tf.signal.rfft(x, [size]) * tf.signal.rfft(response, [size]), [size])[
        :count
    ]
    return wet * (_rms(x) / _rms(wet))


def band_limit(x, seed, sample_rate=SAMPLE_RATE):
    """``x`` ``[n]`` low-passed at a random edge in ``BAND_EDGE_RANGE`` (a smooth 300 Hz
    roll-off), as a source recorded at a lower rate and resampled to 16 kHz sounds."""
    edge = _uniform(seed, *BAND_EDGE_RANGE)
    count = x.shape[0]
    size = _fft_length(count)
    spectrum = tf.signal.rfft(x, [size])
    frequencies = tf.range(size // 2 + 1, dtype=tf.float32) * (sample_rate / size)
    gain = tf.sigmoid((edge - frequencies) / 75.0)
    return tf.signal.irfft(spectrum * tf.cast(gain, spectrum.dtype), [size])[:count]


def background(count, seed, sample_rate=SAMPLE_RATE):
    """``[count]`` background of unit RMS: coloured noise (``NOISE_SLOPE_RANGE``), and in
    ``HUM_SHARE`` of the draws mains hum (50 or 60 Hz and three harmonics) mixed in."""
    seeds = tf.random.experimental.stateless_split(seed, 6)
    size = _fft_length(count)
    white = tf.random.stateless_normal([size], seeds[0])
    slope = _uniform(seeds[1], *NOISE_SLOPE_RANGE)
    frequencies = tf.maximum(tf.range(size // 2 + 1, dtype=tf.float32) * (sample_rate / size), 20.0)
    shape = tf.pow(frequencies, -slope / 2.0)
    spectrum = tf.signal.rfft(white) * tf.cast(shape, tf.complex64)
    noise = tf.signal.irfft(spectrum, [size])[:count]
    noise /= _rms(noise)
    mains = tf.where(_uniform(seeds[2], 0.0, 1.0) < 0.5, 50.0, 60.0)
    times = tf.range(count, dtype=tf.float32) / sample_rate
    phases = tf.random.stateless_uniform([4], seeds[3], 0.0, 2.0 * math.pi)
    harmonics = tf.range(1, 5, dtype=tf.float32)
    hum = tf.reduce_sum(
        tf.sin(2.0 * math.pi * mains * harmonics[:, None] * times[None] + phases[:, None])
        / harmonics[:, None],
        axis=0,
    )
    hum /= _rms(hum)
    with_hum = _uniform(seeds[4], 0.0, 1.0) < HUM_SHARE
    share = tf.where(with_hum, _uniform(seeds[5], 0.3, 1.0), 0.0)
    mixed = (1.0 - share) * noise + share * hum
    return mixed / _rms(mixed)


def add_background(x, seed):
    """``x`` ``[n]`` with a background (:func:`background`) at a random SNR in
    ``SNR_RANGE_DB`` against the window's RMS."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    snr = _uniform(seeds[0], *SNR_RANGE_DB)
    noise = background(x.shape[0], seeds[1])
    return x + noise * (_rms(x) * tf.pow(10.0, -snr / 20.0))


def apply_conditions(audio, seed, reverb_prob=0.0, band_limit_prob=0.0, noise_prob=0.0):
    """A training window's audio ``[S, 640]`` in random recording conditions: each of a
    room, a band limit and a background is applied with its probability, in the order
    sound travels (room, microphone chain, background)."""
    shape = tf.shape(audio)
    x = tf.reshape(audio, [-1])
    if x.shape[0] is None:
        raise ValueError("the audio window needs a static length for its conditions")
    seeds = tf.random.experimental.stateless_split(seed, 6)
    draws = tf.random.stateless_uniform([3], seeds[0])
    steps = (
        (reverb_prob, reverberate, seeds[1]),
        (band_limit_prob, band_limit, seeds[2]),
        (noise_prob, add_background, seeds[3]),
    )
    for index, (probability, condition, step_seed) in enumerate(steps):
        if probability > 0:
            x = tf.cond(
                draws[index] < probability,
                lambda x=x, condition=condition, step_seed=step_seed: condition(x, step_seed),
                lambda x=x: x,
            )
    return tf.reshape(x, shape)
