"""Decoding and writing of speech and face-video recordings, with PyAV only.

The model (Tzirakis et al., IEEE JSTSP 2017) consumes one label frame every 40 ms:
640 samples of 16 kHz mono speech and one RGB video frame per frame. This module turns
recordings of any sample rate, channel count, frame rate and container into those
arrays. (Writing WAV and MP4 files, for the synthetic corpus and the tests, is
``tfrecords_tools.media_writers``.)

Every problem with a file (missing, unreadable, no such stream, nothing decoded,
truncated) raises `MediaError`, whose message starts with the path at fault.
"""

from __future__ import annotations

import dataclasses
import math
import os
import queue
import threading
from collections.abc import Iterator

import av
import numpy as np

from tfrecords_tools import storage

# Speech sample rate of the model input (Hz), one label frame (s) and its samples.
from tfrecords_tools.schema import FRAME_LENGTH, FRAME_SECONDS, SAMPLE_RATE

__all__ = [
    "FRAME_LENGTH",
    "FRAME_SECONDS",
    "SAMPLE_RATE",
    "MediaError",
    "MediaInfo",
    "audio_is_silent",
    "iter_video_frames",
    "prefetched",
    "probe",
    "read_audio",
    "read_video_frames",
]


# A decoded frame is taken for label time t if its timestamp is <= t + this slack, so
# that a frame meant for exactly t (25 fps) is not lost to floating-point rounding.
_TIMESTAMP_SLACK_SECONDS = 1e-4


class MediaError(ValueError):
    """A recording cannot be used; the message starts with the path of the file.

    Attributes:
      path: the file at fault (`str`), or None if not known.
    """

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        super().__init__(message)
        self.path = None if path is None else os.fspath(path)


def _error(path, reason: str) -> MediaError:
    return MediaError(f"{os.fspath(path)}: {reason}", path=path)


def _streams_found(container) -> str:
    kinds = [stream.type for stream in container.streams]
    return "streams found: " + (", ".join(kinds) if kinds else "none (empty or zero-length file?)")


def _open_input(path) -> av.container.InputContainer:
    """Opens `path` for reading; MediaError if missing or not a media container."""
    path = os.fspath(path)
    if storage.is_url(path):
        return _open_url(path)
    if not os.path.exists(path):
        raise _error(path, "file not found")
    if os.path.isdir(path):
        raise _error(path, "is a directory, expected a media file")
    if os.path.getsize(path) == 0:
        raise _error(path, "file is empty (0 bytes)")
    try:
        return av.open(path, mode="r")
    except av.FFmpegError as exc:
        raise _error(path, f"unreadable or corrupt media file ({exc})") from exc


def _open_url(path) -> av.container.InputContainer:
    """Opens a media file on an object store (``storage``) as a stream: FFmpeg reads and
    seeks through TensorFlow's file system, nothing is downloaded first."""
    problem = storage.url_problem(path)
    if problem:
        raise _error(path, problem.split(": ", 1)[-1])
    if not storage.exists(path):
        raise _error(path, "file not found")
    if storage.isdir(path):
        raise _error(path, "is a directory, expected a media file")
    if storage.size(path) == 0:
        raise _error(path, "file is empty (0 bytes)")
    stream = storage.open_file(path, "rb")
    try:
        return av.open(stream, mode="r")
    except av.FFmpegError as exc:
        stream.close()
        raise _error(path, f"unreadable or corrupt media file ({exc})") from exc


# ---------------------------------------------------------------------------- probe


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    """What a recording holds, read from its container headers (nothing decoded).

    Durations are in seconds and None when the container does not state them.
    `video_fps` is the stream's average frame rate in frames per second;
    `video_frames` the frame count if the container states it, else None.
    """

    path: str
    has_audio: bool
    has_video: bool
    audio_duration: float | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    video_duration: float | None = None
    video_fps: float | None = None
    width: int | None = None
    height: int | None = None
    video_frames: int | None = None


def _own_duration(stream) -> float | None:
    """The duration the stream itself states, in seconds, or None."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return None


def _stream_duration(stream, container) -> float | None:
    """Stream duration in seconds, else the container's, else None."""
    own = _own_duration(stream)
    if own is not None:
        return own
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def probe(path) -> MediaInfo:
    """Reads stream facts of `path` (first audio and first video stream).

    Raises:
      MediaError: the file is missing or is not a readable media container.
    """
    path = os.fspath(path)
    with _open_input(path) as container:
        info = {"path": path, "has_audio": False, "has_video": False}
        if container.streams.audio:
            stream = container.streams.audio[0]
            info.update(
                has_audio=True,
                audio_duration=_stream_duration(stream, container),
                audio_sample_rate=stream.codec_context.sample_rate or None,
                audio_channels=stream.codec_context.channels or None,
            )
        if container.streams.video:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            info.update(
                has_video=True,
                video_duration=_stream_duration(stream, container),
                video_fps=float(rate) if rate else None,
                width=stream.codec_context.width or None,
                height=stream.codec_context.height or None,
                video_frames=stream.frames or None,
            )
        return MediaInfo(**info)


# ---------------------------------------------------------------------------- audio


class MonoResampler:
    """Decoded audio frames -> mono float32 samples at `sample_rate`, chunk by chunk.

    Each channel is resampled with PyAV's `av.AudioResampler` (float, `sample_rate` Hz),
    then the channels are averaged and the result clipped to [-1, 1]. Chunks concatenated
    are exactly what one pass over the whole stream gives (`read_audio` and the live reader
    of `e2e_emotion.live` share it).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE):
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        self.sample_rate = int(sample_rate)
        self._resampler = None

    def push(self, frame) -> np.ndarray:
        """Samples of one decoded `av.AudioFrame` (may be empty: the resampler's delay)."""
        if self._resampler is None:
            self._resampler = av.AudioResampler(
                format="fltp", layout=frame.layout, rate=self.sample_rate
            )
        return self._mono(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """The samples still in the resampler's delay line (end of the stream)."""
        if self._resampler is None:
            return np.zeros(0, np.float32)
        return self._mono(self._resampler.resample(None))

    @staticmethod
    def _mono(frames) -> np.ndarray:
        parts = [out.to_ndarray() for out in frames]
        if not parts:
            return np.zeros(0, np.float32)
        mono = np.concatenate(parts, axis=1).mean(axis=0, dtype=np.float64)
        return np.clip(mono, -1.0, 1.0).astype(np.float32)


def read_audio(path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decodes the first audio stream of `path` to mono float samples at `sample_rate`.

    Any container FFmpeg reads works (WAV, FLAC, the audio track of an MP4, ...). Each
    channel is resampled with PyAV's `av.AudioResampler` (float, `sample_rate` Hz), then
    the channels are averaged. (FFmpeg's own stereo->mono downmix sums the channels with
    gain 1/sqrt(2), which makes identical channels 3 dB louder and can leave [-1, 1].)

    Args:
      path: the recording.
      sample_rate: output rate in Hz (16000 for the model).

    Returns:
      float32 array `[num_samples]`, values in [-1, 1]; `num_samples` is about
      `duration_seconds * sample_rate`.

    Raises:
      MediaError: missing or unreadable file, no audio stream, decoding error, no
        samples decoded, or fewer samples than the header states (truncated file).
    """
    path = os.fspath(path)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
    chunks: list[np.ndarray] = []
    with _open_input(path) as container:
        if not container.streams.audio:
            raise _error(path, f"no audio stream in file ({_streams_found(container)})")
        stream = container.streams.audio[0]
        stated = _own_duration(stream)  # not the container's: other streams may be longer
        resampler = MonoResampler(sample_rate)
        seconds = 0.0
        try:
            for frame in container.decode(stream):
                if frame.time is not None:
                    seconds = frame.time
                chunks.append(resampler.push(frame))
            chunks.append(resampler.flush())  # the resampler's delay line
        except av.FFmpegError as exc:
            raise _error(path, f"audio decoding failed near t={seconds:.2f} s ({exc})") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if len(samples) == 0:
        raise _error(path, "no audio samples decoded (empty audio stream)")
    if stated is not None and len(samples) < (stated - 0.25) * sample_rate:
        raise _error(
            path,
            f"audio ends at t={len(samples) / sample_rate:.2f} s but the file states "
            f"{stated:.2f} s: file truncated",
        )
    if stated is not None and stated > 0:
        # AAC and similar codecs pad their last frame (up to 1024 samples); the stream
        # header states the true length. A larger excess means the header is wrong: keep.
        excess = len(samples) - round(stated * sample_rate)
        if 0 < excess <= sample_rate // 4:
            samples = samples[:-excess]
    return samples


def audio_is_silent(samples: np.ndarray, threshold_db: float = -60.0) -> bool:
    """True if the RMS level of `samples` is below `threshold_db` dBFS.

    Args:
      samples: float array of any shape, full scale = 1.0. Empty counts as silent.
      threshold_db: level in dB relative to full scale (a full-scale sine is -3 dBFS).
    """
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size == 0:
        return True
    rms = math.sqrt(float(np.mean(np.square(samples))))
    if rms == 0.0:
        return True
    return 20.0 * math.log10(rms) < threshold_db


# ---------------------------------------------------------------------------- video


def upright_rgb(frame) -> np.ndarray:
    """The RGB pixels of a decoded `av.VideoFrame` as a player shows them: turned by the
    rotation of the container's display matrix (phones store a portrait video as a
    landscape picture plus this rotation), by a multiple of 90 degrees."""
    rgb = frame.to_ndarray(format="rgb24")
    try:
        rotation = frame.rotation  # counter-clockwise degrees, 0 without a display matrix
    except (AttributeError, ValueError):
        return rgb
    turns = int(round((rotation or 0) / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


class VideoSteps:
    """Decoded video frames -> the frame on screen at each label step, as they arrive.

    Label step k is at `t_k = k * frame_seconds`; it gets the latest frame whose
    presentation time is <= `t_k` (plus 0.1 ms of slack), steps before the first frame
    the first frame. `push(frame)` yields the steps that a newly decoded frame closes;
    `finish()` the steps up to the end of the last frame (its time plus its duration).
    Only the frame on screen is held, converted to RGB once, when a step needs it, and
    turned upright as the file's display matrix says (`upright_rgb`).
    `iter_video_frames` (a file) and the live reader of `e2e_emotion.live` share it.
    """

    def __init__(self, frame_seconds=FRAME_SECONDS, start=0.0, interval=None, max_steps=None):
        self.frame_seconds = float(frame_seconds)
        self.slack = min(_TIMESTAMP_SLACK_SECONDS, frame_seconds / 4)
        self.start = float(start)
        self.interval = float(interval) if interval else self.frame_seconds
        self.max_steps = max_steps
        self.step = 0  # the next step to emit
        self.held = None  # the decoded frame on screen, not yet converted
        self.held_time = 0.0
        self._held_rgb = None
        self.decoded = 0

    @property
    def done(self) -> bool:
        return self.max_steps is not None and self.step >= self.max_steps

    def _emit_until(self, limit: float):
        """Yields the held frame for every step whose time is before `limit`."""
        while self.step * self.frame_seconds + self.slack < limit and not self.done:
            if self._held_rgb is None:
                self._held_rgb = upright_rgb(self.held)
                yield self.step, self._held_rgb
            else:
                yield self.step, self._held_rgb.copy()
            self.step += 1

    def push(self, frame) -> Iterator[tuple[int, np.ndarray]]:
        """Takes one decoded `av.VideoFrame`; yields `(step, rgb)` for the steps it closes."""
        if frame.time is not None:
            time = float(frame.time)
        elif self.held is not None:
            time = self.held_time + self.interval
        else:
            time = self.start
        if self.held is not None:
            if time <= self.held_time:  # repeated or out-of-order timestamp: keep newest
                time = self.held_time + 1e-6
            yield from self._emit_until(time)
            if self.done:
                return
            self.interval = time - self.held_time
        self.held, self.held_time, self._held_rgb = frame, time, None
        self.decoded += 1

    def end(self) -> float:
        """End time of the last frame (its duration if the file gives one)."""
        frame = self.held
        if frame is not None and frame.duration and frame.time_base is not None:
            self.interval = float(frame.duration * frame.time_base)
        return self.held_time + self.interval

    def finish(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yields the remaining steps, up to the end of the last frame (end of stream)."""
        if self.held is not None:
            yield from self._emit_until(self.end())


def iter_video_frames(
    path, frame_seconds: float = FRAME_SECONDS, max_steps: int | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """Streams the video of `path` resampled by timestamp to one frame per label step.

    Label step k is at time `t_k = k * frame_seconds` (seconds, the timestamp scale of
    the file). It gets the frame on screen at `t_k`: the latest decoded frame whose
    presentation time is <= `t_k` (plus 0.1 ms of slack for rounding). Steps
    before the first frame get the first frame. Steps continue while `t_k` is before the
    end of the last frame (its timestamp plus its duration), so a 25 fps video gives one
    step per frame, and a 3 s video at 30 fps or 50 fps gives 75 steps.

    Only the current decoded frame is held: a 5-minute video streams in constant memory.

    Args:
      path: the recording.
      frame_seconds: label step in seconds (0.04 for AVEC 2016 / RECOLA).
      max_steps: stop after this many steps (and stop decoding); None for all.

    Yields:
      `(step_index, frame)` with `frame` uint8 `[height, width, 3]` RGB; a fresh array
      for each step.

    Raises:
      MediaError: missing or unreadable file, no video stream, no frame decoded, a
        decoding error, or a file that ends well before the duration its header states
        (truncated); the message names the file and the time reached.
    """
    path = os.fspath(path)
    if not frame_seconds > 0:
        raise ValueError(f"frame_seconds must be positive, got {frame_seconds!r}")
    if max_steps is not None and max_steps < 0:
        raise ValueError(f"max_steps must be >= 0 or None, got {max_steps!r}")
    if max_steps == 0:
        return
    with _open_input(path) as container:
        if not container.streams.video:
            raise _error(path, f"no video stream in file ({_streams_found(container)})")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        nominal_interval = float(1 / rate) if rate else frame_seconds
        declared = _own_duration(stream)
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0

        steps = VideoSteps(frame_seconds, start, nominal_interval, max_steps)
        try:
            for frame in container.decode(stream):
                yield from steps.push(frame)
                if steps.done:
                    return
        except av.FFmpegError as exc:
            raise _error(
                path,
                f"video decoding failed near t={steps.held_time:.2f} s, file truncated or "
                f"corrupt ({exc})",
            ) from exc
        if steps.held is None:
            raise _error(path, "no video frames decoded (zero-length video)")
        end = steps.end()
        if max_steps is None and declared is not None:
            stated_end = start + declared
            if end < stated_end - max(0.25, 3 * nominal_interval):
                raise _error(
                    path,
                    f"video ends at t={end:.2f} s after {steps.decoded} frames but the file "
                    f"states {stated_end:.2f} s: file truncated",
                )
        yield from steps.finish()


def read_video_frames(
    path,
    num_frames: int | None = None,
    frame_seconds: float = FRAME_SECONDS,
    max_pad_frames: int = 0,
) -> np.ndarray:
    """Reads the video of `path` as one RGB frame per label step (see `iter_video_frames`).

    Args:
      path: the recording.
      num_frames: number of steps wanted; None for every step the video covers
        (`floor(duration / frame_seconds)` for a video of whole steps).
      frame_seconds: label step in seconds.
      max_pad_frames: if the video covers fewer than `num_frames` steps, repeat its last
        frame for at most this many steps (e.g. 1 for RECOLA's 7501 labels against 7500
        video frames); a larger shortfall raises.

    Returns:
      uint8 array `[num_frames, height, width, 3]`, RGB.

    Raises:
      MediaError: as `iter_video_frames`, or the video is too short for `num_frames`.
    """
    path = os.fspath(path)
    if num_frames is not None and num_frames < 0:
        raise ValueError(f"num_frames must be >= 0 or None, got {num_frames!r}")
    if num_frames is None:
        return np.stack([rgb for _, rgb in iter_video_frames(path, frame_seconds)])
    out = None
    count = 0
    for step, rgb in iter_video_frames(path, frame_seconds, max_steps=num_frames):
        if out is None:
            out = np.empty((num_frames, *rgb.shape), np.uint8)
        out[step] = rgb
        count = step + 1
    if num_frames == 0:
        probe_info = probe(path)
        return np.empty((0, probe_info.height or 0, probe_info.width or 0, 3), np.uint8)
    if count < num_frames:
        if num_frames - count > max_pad_frames:
            raise _error(
                path,
                f"video covers {count} steps of {frame_seconds} s but {num_frames} were "
                f"requested (padding allowed: {max_pad_frames})",
            )
        out[count:] = out[count - 1]
    return out


def prefetched(items, depth: int = 4):
    """Yields what the iterable `items` yields, produced ahead in a thread of its own.

    Decoding a video (PyAV releases the GIL while it decodes) then overlaps with what the
    caller does with each frame (face detection, cropping, encoding): a recording's
    conversion uses a second core even when it is the only recording converted. Order is
    kept; at most `depth` items wait. An exception of `items` is raised here, at the item
    where it happened. When the caller stops early (or fails), the producer is stopped
    and `items` closed before this generator returns, so no file is left open.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth!r}")
    queue_ = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(entry):
        while not stop.is_set():
            try:
                queue_.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        iterator = iter(items)
        try:
            for item in iterator:
                if not put((item, None)):
                    return
            put((done, None))
        except BaseException as error:  # handed to the consumer, raised there
            put((done, error))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = queue_.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        worker.join()
