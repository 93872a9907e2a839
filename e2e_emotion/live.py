"""Live arousal and valence from a media stream, one 40 ms frame at a time (``bin/live.py``).

A source (a media file, a V4L2/ALSA device or an RTSP/HTTP URL, all opened with PyAV) is
demultiplexed as it arrives: the audio is resampled to 16 kHz mono and cut into 40 ms
frames, each video frame on screen at a frame's time is face-cropped with the tracker of
``tfrecords_tools.faces``, and a stream model (the ``stream`` ``.tflite`` of
``bin/convert_tflite.py``, or a Keras model run by the same one-frame step) carries its
LSTM state from the first frame to the last. The samples, frames and crops are those of
``tfrecords_tools.media`` (``MonoResampler``, ``VideoSteps``) and ``FaceCropper``, so a
stream gives what ``bin/predict.py --sequence_length=0`` gives on the same file.

``realtime=True`` paces a file at its own rate, as a live source would deliver it. When
the model falls behind by more than ``max_lag`` seconds, video frames are dropped (the last
face crop is reused; audio is never dropped) and counted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import numpy as np

from e2e_emotion.runtime import ModelError, StreamModel, one_line, open_model
from tfrecords_tools.schema import (
    DEFAULT_FACE_MODE,
    FACE_MODES,
    FRAME_LENGTH,
    FRAME_SECONDS,
    SAMPLE_RATE,
)


class LiveError(Exception):
    """A source or model the live loop cannot use; the message names it."""


def open_stream_model(path, num_threads=None):
    """The model at ``path`` (any format of ``runtime.open_model``) as a ``StreamModel``,
    one 40 ms frame per step.

    Raises:
        LiveError: the model cannot be opened or streamed, naming it.
    """
    try:
        return open_model(path, num_threads=num_threads).stream_model()
    except ModelError as error:
        raise LiveError(str(error)) from None


# ---------------------------------------------------------------------------- the source


@dataclasses.dataclass
class Frame:
    """One 40 ms step of the stream: its index and time, its inputs, what it cost."""

    index: int
    time: float
    audio: np.ndarray | None  # float32 [640]
    video: np.ndarray | None  # uint8 [S, S, 3] face crop
    face: bool | None  # a face was detected in this frame (None: no video, or not run)
    dropped: bool  # the video frame was dropped (the last crop reused)
    ready: float  # monotonic time at which the source had delivered the frame


def _open_source(source, timeout):
    import av

    options = {}
    kwargs = {}
    if timeout:
        kwargs["timeout"] = (float(timeout), float(timeout))
    fmt = None
    if source.startswith("/dev/video"):
        fmt = "v4l2"
    elif source.startswith("alsa:"):
        fmt, source = "alsa", source[len("alsa:") :]
    elif source.startswith("lavfi:"):  # an FFmpeg filter graph: generated test signals
        fmt, source = "lavfi", source[len("lavfi:") :]
    elif not os.path.exists(source) and "://" not in source:
        raise LiveError(f"{source}: no such file (nor a device or a URL)")
    try:
        return av.open(source, format=fmt, options=options, **kwargs)
    except av.FFmpegError as error:
        raise LiveError(f"{source}: cannot open ({one_line(error)})") from None
    except OSError as error:
        raise LiveError(f"{source}: cannot open ({one_line(error)})") from None


def iter_frames(
    source,
    needs=("audio", "video"),
    face_mode=DEFAULT_FACE_MODE,
    image_size=96,
    realtime=False,
    max_lag=0.2,
    timeout=10.0,
    max_frames=None,
    clock=time.monotonic,
    sleep=time.sleep,
):
    """The stream as :class:`Frame` s, as soon as each one's audio and video have arrived.

    Args:
        source: a media file, ``/dev/videoN`` (V4L2), ``alsa:DEVICE``, a URL, or
            ``lavfi:GRAPH`` (an FFmpeg filter graph, e.g. ``lavfi:anoisesrc=d=60``).
        needs: the streams the model reads; a missing one is an error naming it.
        face_mode: one of ``FACE_MODES`` (``tfrecords_tools.faces.FaceCropper``).
        realtime: deliver a frame no earlier than its time after the start (a file then
            behaves as a live source).
        max_lag: seconds behind the source after which video frames are dropped (the
            last crop reused, audio kept).
        timeout: seconds a network or device source may stall before an error.
        max_frames: stop after this many frames (None: the end of the stream).
        clock, sleep: the monotonic clock and the wait (tests may replace them).
    """
    from tfrecords_tools import media

    if face_mode not in FACE_MODES:
        raise LiveError(f"face_mode must be one of {FACE_MODES}, got {face_mode!r}")
    if isinstance(source, dict):
        missing = [need for need in needs if not source.get(need)]
        if missing:
            raise LiveError(
                f"the model needs {missing[0]}: give --{missing[0]}_source (or --source)"
            )
        sources = {need: os.fspath(source[need]) for need in needs}
        if len(set(sources.values())) > 1:
            yield from _iter_frames_apart(
                sources,
                face_mode,
                image_size,
                (realtime, max_lag, max_frames, clock, sleep),
                timeout,
            )
            return
        source = next(iter(sources.values()))
    container = _open_source(source, timeout)
    try:
        audio_stream = container.streams.audio[0] if container.streams.audio else None
        video_stream = container.streams.video[0] if container.streams.video else None
        for need, stream in (("audio", audio_stream), ("video", video_stream)):
            if need in needs and stream is None:
                raise LiveError(f"{source}: the model needs {need} but the source has no {need}")
        streams = []
        resampler = steps = cropper = None
        if "audio" in needs:
            streams.append(audio_stream)
            resampler = media.MonoResampler(SAMPLE_RATE)
        if "video" in needs:
            streams.append(video_stream)
            steps, cropper = _video_reader(video_stream, face_mode, image_size)
        pacing = _Pacing(realtime, max_lag, max_frames, clock, sleep)
        yield from _frames(container, streams, (resampler, steps, cropper), pacing, source)
    finally:
        container.close()


def _video_reader(stream, face_mode, image_size):
    """``(steps, cropper)`` of a video ``stream``: its frames on the 40 ms grid from its own
    start, and the face cropper."""
    from tfrecords_tools import faces, media

    stream.thread_type = "AUTO"
    rate = stream.average_rate or stream.guessed_rate
    start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
    steps = media.VideoSteps(FRAME_SECONDS, start, float(1 / rate) if rate else None)
    return steps, faces.FaceCropper(size=image_size, mode=face_mode, blank_missing=True)


def _iter_frames_apart(sources, face_mode, image_size, pacing, timeout):
    """``iter_frames`` for an audio source and a video source recorded apart."""
    from tfrecords_tools import media

    readers = {}
    try:
        for need, source in sources.items():
            container = _open_source(source, timeout)
            streams = container.streams.audio if need == "audio" else container.streams.video
            readers[need] = (source, container, streams[0] if streams else None)
            if not streams:
                raise LiveError(f"{source}: the model needs {need} but the source has no {need}")
        resampler = steps = cropper = None
        if "audio" in readers:
            resampler = media.MonoResampler(SAMPLE_RATE)
        if "video" in readers:
            steps, cropper = _video_reader(readers["video"][2], face_mode, image_size)
        yield from _frames_apart(readers, (resampler, steps, cropper), _Pacing(*pacing))
    finally:
        for _, container, _ in readers.values():
            container.close()


@dataclasses.dataclass(frozen=True)
class _Pacing:
    """How frames are delivered (``iter_frames``' arguments of the same names)."""

    realtime: bool
    max_lag: float
    max_frames: int | None
    clock: object
    sleep: object


class _Emitter:
    """Cuts the decoded audio into 40 ms frames and pairs them with the video steps;
    ``emit()`` yields every frame whose audio and video have both arrived."""

    def __init__(self, parts, pacing):
        self.resampler, self.steps, self.cropper = parts
        self.pacing = pacing
        self.samples = np.zeros(0, np.float32)  # audio not yet cut into frames
        self.pending = []  # (step, rgb) video steps not yet emitted
        self.index = 0  # the next frame to emit
        self.last_crop = None
        self.started = pacing.clock()

    def add_audio(self, decoded=None):
        """A decoded audio frame, or None at the end of the audio (the resampler's tail)."""
        tail = self.resampler.flush() if decoded is None else self.resampler.push(decoded)
        self.samples = np.concatenate([self.samples, tail])

    def add_video(self, decoded=None):
        """A decoded video frame, or None at the end of the video (the last frame's steps)."""
        self.pending.extend(self.steps.finish() if decoded is None else self.steps.push(decoded))

    @property
    def done(self):
        return self.pacing.max_frames is not None and self.index >= self.pacing.max_frames

    def needs_audio(self):
        return self.resampler is not None and len(self.samples) < FRAME_LENGTH

    def needs_video(self):
        return self.steps is not None and not self.pending

    def emit(self):
        pacing, cropper = self.pacing, self.cropper
        while not (self.needs_audio() or self.needs_video() or self.done):
            due = self.started + (self.index + 1) * FRAME_SECONDS  # a live source has it all
            now = pacing.clock()
            if pacing.realtime and now < due:
                pacing.sleep(due - now)
                now = pacing.clock()
            audio = video = face = None
            dropped = False
            if self.resampler is not None:
                audio, self.samples = self.samples[:FRAME_LENGTH], self.samples[FRAME_LENGTH:]
            if self.steps is not None:
                _, rgb = self.pending.pop(0)
                late = now - due > pacing.max_lag
                if pacing.realtime and self.last_crop is not None and late:
                    video, dropped = self.last_crop, True  # behind: keep the last face crop
                else:
                    detections, missed = cropper.detections_run, cropper.missed
                    video = self.last_crop = cropper.crop(rgb)
                    if cropper.detections_run > detections:
                        face = cropper.missed == missed
            ready = due if pacing.realtime else now  # latency counts from the delivery
            yield Frame(self.index, self.index * FRAME_SECONDS, audio, video, face, dropped, ready)
            self.index += 1


def _frames(container, streams, parts, pacing, source):
    """Demultiplexes ``streams`` of one container and yields each frame once its audio
    and video are in."""
    import av

    frames = _Emitter(parts, pacing)
    try:
        for packet in container.demux(*streams):
            for decoded in packet.decode():
                if isinstance(decoded, av.AudioFrame):
                    frames.add_audio(decoded)
                else:
                    frames.add_video(decoded)
            yield from frames.emit()
            if frames.done:
                return
        if frames.resampler is not None:
            frames.add_audio()
        if frames.steps is not None:
            frames.add_video()
        yield from frames.emit()
    except av.FFmpegError as error:
        raise LiveError(
            f"{source}: reading failed after frame {frames.index} ({one_line(error)})"
        ) from None


def _frames_apart(readers, parts, pacing):
    """Yields each frame once its audio and video are in, the two read from separate
    sources (``readers``: ``{"audio": (source, container, stream), "video": ...}``), each
    on its own clock from its start: the one the next frame waits for is read."""
    import av

    frames = _Emitter(parts, pacing)
    decoders = {
        name: (source, container.decode(stream))
        for name, (source, container, stream) in readers.items()
    }
    ended = set()

    def read(name):
        source, decoder = decoders[name]
        add = frames.add_audio if name == "audio" else frames.add_video
        try:
            decoded = next(decoder, None)
        except av.FFmpegError as error:
            raise LiveError(
                f"{source}: reading failed after frame {frames.index} ({one_line(error)})"
            ) from None
        if decoded is None:
            ended.add(name)
        add(decoded)

    while not frames.done:
        if frames.needs_audio() and "audio" not in ended:
            read("audio")
        elif frames.needs_video() and "video" not in ended:
            read("video")
        elif frames.needs_audio() or frames.needs_video():
            return  # a stream ended
        yield from frames.emit()


# ---------------------------------------------------------------------------- the loop


def run(
    source,
    model,
    realtime=False,
    face_mode=DEFAULT_FACE_MODE,
    max_lag=0.2,
    timeout=10.0,
    max_frames=None,
    num_threads=None,
    on_frame=None,
    page=None,
    clock=time.monotonic,
    sleep=time.sleep,
):
    """Predicts every 40 ms frame of ``source``; returns a summary dict.

    ``page``: a started :class:`e2e_emotion.live_page.LivePage` that receives every row
    and face crop, and the summary at the end.

    ``on_frame(row)`` receives one dict per frame: ``frame``, ``time`` (s), ``arousal``,
    ``valence``, ``face`` (a face found in this frame; None without video or when the
    frame was dropped), ``dropped`` and ``latency_ms`` (from the moment the source had
    delivered the last frame the prediction needed: for the ``paper`` preset, the frame
    ``lookahead`` frames later). The summary: ``frames``, ``dropped``, ``lookahead_ms``,
    ``latency_ms`` (median, p99, max; beyond the look-ahead), ``seconds`` and
    ``realtime_factor``.
    """
    if not isinstance(model, StreamModel):
        model = open_stream_model(model, num_threads=num_threads)
    latencies = []
    dropped = 0
    started = clock()
    count = 0
    interrupted = False
    frames = iter_frames(
        source,
        model.needs,
        face_mode=face_mode,
        image_size=model.image_size,
        realtime=realtime,
        max_lag=max_lag,
        timeout=timeout,
        max_frames=max_frames,
        clock=clock,
        sleep=sleep,
    )
    waiting = {}  # frames whose prediction waits for look-ahead
    shown = " + ".join(source.values()) if isinstance(source, dict) else os.fspath(source)
    if page is not None:
        page.set_source(shown)

    def report(results, ready):
        for index, arousal, valence in results:
            frame = waiting.pop(index)
            row = _row(frame, arousal, valence, 1000.0 * (clock() - ready))
            latencies.append(row["latency_ms"])
            if on_frame is not None:
                on_frame(row)
            if page is not None:
                page.publish(row, frame.video)

    try:
        for frame in frames:
            count += 1
            dropped += frame.dropped
            waiting[frame.index] = frame
            inputs = {"audio": frame.audio, "video": frame.video}
            report(model.push(frame.index, inputs, frame.dropped), frame.ready)
        report(model.finish(), clock())
    except KeyboardInterrupt:  # Ctrl-C: stop, keep what was predicted
        interrupted = True
    finally:
        frames.close()
    if count == 0 and not interrupted:
        raise LiveError(f"{shown}: the stream ended before one 40 ms frame")
    seconds = clock() - started
    values = np.asarray(latencies) if latencies else np.zeros(1)
    summary = {
        "source": shown,
        "model": model.path,
        "modality": model.modality,
        "frames": len(latencies),
        "dropped": int(dropped),
        "interrupted": interrupted,
        "lookahead_ms": round(model.lookahead * FRAME_SECONDS * 1000),
        "latency_ms": {
            "median": round(float(np.median(values)), 3),
            "p99": round(float(np.percentile(values, 99)), 3),
            "max": round(float(values.max()), 3),
        },
        "seconds": round(seconds, 3),
        "realtime_factor": (
            round(len(latencies) * FRAME_SECONDS / seconds, 3) if seconds > 0 else None
        ),
    }
    if page is not None:
        page.end(summary)
    return summary


def _row(frame, arousal, valence, latency_ms):
    return {
        "frame": frame.index,
        "time": round(frame.time, 3),
        "arousal": arousal,
        "valence": valence,
        "face": frame.face,
        "dropped": frame.dropped,
        "latency_ms": round(latency_ms, 3),
    }


def json_line(row):
    """One frame as a JSON line (``bin/live.py`` writes them to stdout)."""
    return json.dumps(row, separators=(",", ":"))
