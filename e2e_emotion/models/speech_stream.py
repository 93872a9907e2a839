"""The ``paper`` speech preset computed incrementally, frame by frame, for live streams.

The preset's convolutions run over the continuous waveform with SAME padding, so frame
k's features depend on samples after it: with the paper's kernels (1x80 at 16 kHz, then
max-pooling by 2 and 1x4000 at 8 kHz) on 4040 samples past the frame's end, 7 frames
(280 ms) of look-ahead. :class:`IncrementalSpeech` keeps the waveform and the pooled first
convolution's outputs it still needs, computes each new sample's share of the first
convolution once, and frame k's 320 outputs of the second convolution as soon as the
look-ahead has arrived: one FFT correlation of a 4319-sample segment with the kernel,
whose spectrum is computed once. Nothing is recomputed for later frames. At the stream's
end the missing future is zero, as the SAME padding of the whole recording has it, so the
features equal :class:`SpeechNetwork` on the whole recording (to float32 rounding).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from numpy.lib.stride_tricks import sliding_window_view

from e2e_emotion.models.long_conv import block_fft_length


class IncrementalSpeech:
    """Frame-by-frame features of a ``SpeechNetwork`` with the ``paper`` preset.

    ``push(samples)`` takes one frame of ``frame_length`` samples and returns the features
    ``[num_features]`` of every frame whose look-ahead is now complete (oldest first);
    ``finish()`` returns the rest at the end of the stream. Attribute ``lookahead``: frames
    a frame's features wait for.
    """

    def __init__(self, speech):
        if speech.preset != "paper":
            raise ValueError(
                f"incremental features are for the 'paper' preset, not {speech.preset!r}"
            )
        conv1 = speech.get_layer("speech_conv1")
        conv2 = speech.get_layer("speech_conv2")
        self.frame_length = speech.frame_length
        self.pool = speech.pool1_size
        self.groups = speech.channel_pool_size
        self.per_frame = self.frame_length // self.pool  # pooled positions per frame
        self.kernel1 = np.asarray(conv1.kernel)[:, 0, :].astype(np.float32)  # [K1, C]
        self.bias1 = np.asarray(conv1.bias, np.float32)
        k1 = self.kernel1.shape[0]
        self.before1, self.after1 = (k1 - 1) // 2, k1 // 2  # TensorFlow's SAME rule
        kernel2 = np.asarray(conv2.kernel, np.float32)  # [K2, Cin, Cout]
        k2 = kernel2.shape[0]
        self.before2, self.after2 = (k2 - 1) // 2, k2 - 1 - (k2 - 1) // 2
        self.bias2 = tf.constant(np.asarray(conv2.bias, np.float32))
        self.segment = self.per_frame + k2 - 1
        self.fft = block_fft_length(k2)
        spectrum = tf.signal.rfft(tf.transpose(kernel2, [2, 1, 0]), fft_length=[self.fft])
        self.kernel_spectrum = tf.transpose(spectrum, [2, 0, 1])  # [F, Cout, Cin]
        # The last raw sample frame k's features read, counted from the frame's end.
        reach = self.pool * (self.per_frame - 1 + self.after2) + self.pool - 1 + self.after1
        self.lookahead = -(-(reach - (self.frame_length - 1)) // self.frame_length)
        self.num_features = self.per_frame * (kernel2.shape[2] // self.groups)
        self._conv2 = tf.function(
            self._conv2_segment,
            input_signature=[tf.TensorSpec([self.segment, kernel2.shape[1]], tf.float32)],
        )
        self.reset()

    def reset(self):
        """Forgets the stream (the start of a new one)."""
        self._samples = np.zeros(0, np.float32)
        self._samples_start = 0  # stream index of _samples[0]
        self._received = 0  # samples received
        self._pooled = np.zeros((0, self.kernel1.shape[1]), np.float32)
        self._pooled_start = 0  # pooled index of _pooled[0]
        self._pooled_done = 0  # pooled outputs computed
        self._next = 0  # the next frame to return
        self._ended = False

    def push(self, samples):
        samples = np.asarray(samples, np.float32).reshape(-1)
        if samples.shape != (self.frame_length,):
            raise ValueError(f"expected {self.frame_length} samples, got {samples.shape}")
        self._samples = np.concatenate([self._samples, samples])
        self._received += self.frame_length
        return self._advance()

    def finish(self):
        self._ended = True
        return self._advance()

    # -- internals ---------------------------------------------------------------------

    def _advance(self):
        self._pool_ready()
        out = []
        frames = self._received // self.frame_length
        while self._next < frames:
            last_needed = self.per_frame * (self._next + 1) - 1 + self.after2
            if not self._ended and self._pooled_done <= last_needed:
                break
            out.append(self._features(self._next))
            self._next += 1
        self._trim()
        return out

    def _pool_ready(self):
        """First convolution + pooling for every pooled position whose inputs are in."""
        total_pooled = self._received // self.pool
        if self._ended:
            stop = total_pooled
        else:  # pooled j reads raw samples up to pool * j + pool - 1 + after1
            stop = max(0, (self._received - 1 - self.after1 - (self.pool - 1)) // self.pool + 1)
            stop = min(stop, total_pooled)
        start = self._pooled_done
        if stop <= start:
            return
        first, last = self.pool * start - self.before1, self.pool * stop + self.after1
        raw = self._raw(first, last)
        windows = sliding_window_view(raw, self.kernel1.shape[0])  # [positions, K1]
        conv = np.maximum(windows @ self.kernel1 + self.bias1, 0.0)
        pooled = conv.reshape(stop - start, self.pool, -1).max(axis=1)
        self._pooled = np.concatenate([self._pooled, pooled.astype(np.float32)])
        self._pooled_done = stop

    def _raw(self, first, last):
        """Samples ``[first, last)`` of the stream, zeros before its start and after its end."""
        out = np.zeros(last - first, np.float32)
        lo = max(first, self._samples_start)
        hi = min(last, self._samples_start + len(self._samples))
        if hi > lo:
            out[lo - first : hi - first] = self._samples[
                lo - self._samples_start : hi - self._samples_start
            ]
        return out

    def _features(self, frame):
        first = self.per_frame * frame - self.before2
        segment = np.zeros((self.segment, self._pooled.shape[1]), np.float32)
        lo = max(first, self._pooled_start)
        hi = min(first + self.segment, self._pooled_done)
        segment[lo - first : hi - first] = self._pooled[
            lo - self._pooled_start : hi - self._pooled_start
        ]
        return self._conv2(tf.constant(segment)).numpy()

    def _conv2_segment(self, segment):
        """VALID correlation of ``[segment, Cin]`` with the kernel: ``per_frame`` outputs,
        bias, ReLU, the channel max-pool and the frame's flattening."""
        spectrum = tf.signal.rfft(tf.transpose(segment), fft_length=[self.fft])  # [Cin, F]
        product = tf.matmul(
            tf.transpose(spectrum)[:, None, :], self.kernel_spectrum, adjoint_b=True
        )
        outputs = tf.signal.irfft(tf.transpose(product[:, 0, :]), fft_length=[self.fft])
        outputs = tf.nn.relu(tf.transpose(outputs[:, : self.per_frame]) + self.bias2)
        channels = outputs.shape[-1]
        pooled = tf.reduce_max(
            tf.reshape(outputs, [self.per_frame, channels // self.groups, self.groups]), axis=-1
        )
        return tf.reshape(pooled, [-1])

    def _trim(self):
        """Drops the samples and pooled outputs no later frame reads."""
        keep_pooled = self.per_frame * self._next - self.before2
        drop = max(0, keep_pooled - self._pooled_start)
        if drop:
            self._pooled = self._pooled[drop:]
            self._pooled_start += drop
        keep_raw = self.pool * self._pooled_done - self.before1
        drop = max(0, keep_raw - self._samples_start)
        if drop:
            self._samples = self._samples[drop:]
            self._samples_start += drop
