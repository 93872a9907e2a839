"""Writing the small WAV and MP4 files of the synthetic corpus and the tests, with PyAV.

Reading is ``tfrecords_tools.media``; these writers are what makes recordings for it to
read (any rate, channel count, frame rate, codec and display rotation).
"""

from __future__ import annotations

import math
import os
import wave
from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np

from tfrecords_tools.schema import SAMPLE_RATE

__all__ = ["VIDEO_CODECS", "write_video", "write_wav"]


def write_wav(path, samples: np.ndarray, sample_rate: int, channels: int = 1) -> None:
    """Writes a 16-bit PCM WAV file.

    Args:
      path: output file (overwritten).
      samples: float array in [-1, 1] (values beyond are clipped), `[num_samples]` for
        mono or `[num_samples, channels]`; int16 arrays are written unchanged.
      sample_rate: in Hz.
      channels: channel count; must match the array.
    """
    path = os.fspath(path)
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[1] != channels:
        raise ValueError(
            f"{path}: samples of shape {samples.shape} do not match channels={channels}; "
            "expected [num_samples] (mono) or [num_samples, channels]"
        )
    if sample_rate <= 0:
        raise ValueError(f"{path}: sample_rate must be positive, got {sample_rate!r}")
    if samples.dtype == np.int16:
        pcm = samples
    else:
        if not np.all(np.isfinite(samples)):
            raise ValueError(f"{path}: samples contain NaN or infinity")
        pcm = np.round(np.clip(samples.astype(np.float64), -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(path, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.astype("<i2").tobytes())


def _x264_cpu_option() -> dict[str, str]:
    """x264's instruction sets without AVX-512 on a CPU that has it, else x264's own choice.

    x264's AVX-512 kernels made the same frames encode to different files (2 to 24
    distinct MP4s, with different decoded pictures, in 40 single-threaded encodings on an
    AMD EPYC with AVX-512); with AVX2 and older the output is the same every time, at the
    same speed. Every CPU with AVX-512 has the sets listed (x264 does not intersect this
    list with what the CPU has, so it is only given where AVX-512 is reported).
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            has_avx512 = " avx512f" in info.read()
    except OSError:  # not Linux: no such file, x264 detects the CPU itself
        return {}
    if not has_avx512:
        return {}
    sets = "MMX2,SSE,SSE2,SSE2Fast,SSE3,SSSE3,SSE4.1,SSE4.2,AVX,FMA3,LZCNT,BMI1,BMI2,AVX2"
    return {"x264-params": f"asm={sets}"}


_X264_CPU = _x264_cpu_option()


VIDEO_CODECS = ("libx264", "mpeg4")
"""Encoders `write_video` can be asked for: H.264 (x264) and MPEG-4 part 2."""


def _video_codec() -> str:
    return "libx264" if "libx264" in av.codecs_available else "mpeg4"


def write_video(
    path,
    frames_rgb_uint8: Iterable[np.ndarray],
    fps: float | Fraction = 25,
    audio: np.ndarray | None = None,
    audio_rate: int = SAMPLE_RATE,
    codec: str | None = None,
    rotation: int = 0,
) -> int:
    """Writes an MP4: H.264 (`libx264`, else MPEG-4 part 2), yuv420p, optional AAC audio.

    Frames are streamed to the encoder, so a generator of frames needs no memory for
    the whole video. Frame i has presentation time i / fps seconds. The moov header is
    written at the front of the file (`faststart`).

    Args:
      path: output `.mp4` file (overwritten).
      frames_rgb_uint8: iterable of uint8 `[height, width, 3]` RGB frames, all the same
        size, width and height even (yuv420p needs them even).
      fps: frame rate in frames per second; fractions such as `Fraction(30000, 1001)`
        (29.97) are kept exact.
      audio: optional mono float samples `[num_samples]` in [-1, 1] for an AAC track.
      audio_rate: sample rate of `audio` in Hz.
      codec: `"libx264"` or `"mpeg4"` (one of `VIDEO_CODECS`); None takes `libx264` if
        this PyAV has it, else `mpeg4`. A requested codec is encoded single-threaded, so
        the file does not depend on the machine's core count.
      rotation: display rotation in degrees counter-clockwise (0, 90, 180, -90), stored
        in the container's display matrix as a phone does: the frames are stored as
        given and a player (and `iter_video_frames`) shows them turned.

    Returns:
      the number of video frames written.
    """
    path = os.fspath(path)
    if codec is not None:
        if codec not in VIDEO_CODECS:
            raise ValueError(f"{path}: codec must be one of {VIDEO_CODECS}, got {codec!r}")
        if codec not in av.codecs_available:
            raise ValueError(f"{path}: codec {codec!r} is not available in this PyAV build")
    if rotation not in (0, 90, 180, -90, 270, -180):
        raise ValueError(f"{path}: rotation must be a multiple of 90 degrees, got {rotation!r}")
    rate = Fraction(fps).limit_denominator(1_000_000)
    if rate <= 0:
        raise ValueError(f"{path}: fps must be positive, got {fps!r}")
    if audio is not None:
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"{path}: audio must be mono [num_samples], got {audio.shape}")
    frames = iter(frames_rgb_uint8)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frames given, cannot write an empty video")
    first = _check_frame(path, first, 0, None)
    height, width = first.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"{path}: width and height must be even for yuv420p, got {width}x{height}")
    try:
        with av.open(path, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            requested = codec is not None
            codec = codec or _video_codec()
            video = out.add_stream(codec, rate=rate)
            video.width, video.height, video.pix_fmt = width, height, "yuv420p"
            if rotation:
                video.set_display_rotation(rotation)
            # The muxer changes the stream's time base when it writes the header, so the
            # frames keep their own: pts counts frames.
            frame_time_base = 1 / rate
            video.time_base = frame_time_base
            if codec == "libx264":
                # One thread and fixed options: byte-identical output for a given input.
                video.codec_context.options = {"crf": "18", "preset": "veryfast", **_X264_CPU}
                video.thread_count = 1
            else:
                video.bit_rate = 4_000_000
                if requested:
                    # MPEG-4 splits frames into one slice per thread: one thread makes the
                    # bytes the same on every machine.
                    video.thread_count = 1
            sound = None
            if audio is not None:
                sound = _AudioTrack(out, audio, audio_rate)
            count = 0
            frame = first
            while frame is not None:
                picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
                picture.pts = count
                picture.time_base = frame_time_base
                out.mux(video.encode(picture))
                count += 1
                if sound is not None:  # keep the two tracks interleaved in the file
                    sound.write_until(float(count / rate))
                frame = next(frames, None)
                if frame is not None:
                    frame = _check_frame(path, frame, count, (height, width))
            out.mux(video.encode(None))
            if sound is not None:
                sound.write_until(math.inf)
                sound.flush()
    except BaseException:
        if os.path.exists(path):
            os.remove(path)  # never leave a half-written video behind
        raise
    return count


def _check_frame(path, frame, index: int, size: tuple[int, int] | None) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"{path}: frame {index} must be uint8 [height, width, 3], got "
            f"{frame.dtype} {frame.shape}"
        )
    if size is not None and frame.shape[:2] != size:
        raise ValueError(
            f"{path}: frame {index} is {frame.shape[1]}x{frame.shape[0]}, earlier frames "
            f"are {size[1]}x{size[0]}"
        )
    return np.ascontiguousarray(frame)


class _AudioTrack:
    """Feeds mono float samples to an AAC stream of an output container, in blocks."""

    _BLOCK = 1024  # samples per AAC frame

    def __init__(self, container, samples: np.ndarray, rate: int):
        self.container = container
        self.samples = np.clip(samples, -1.0, 1.0).astype(np.float32)
        self.rate = int(rate)
        self.stream = container.add_stream("aac", rate=self.rate, layout="mono")
        self.position = 0

    def write_until(self, seconds: float) -> None:
        """Encodes the samples before `seconds` (whole blocks) not yet written."""
        end = len(self.samples) if math.isinf(seconds) else int(seconds * self.rate)
        end = min(end, len(self.samples))
        while self.position < end and (
            end - self.position >= self._BLOCK or end == len(self.samples)
        ):
            block = self.samples[self.position : self.position + self._BLOCK][None, :]
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            frame.sample_rate = self.rate
            frame.pts = self.position
            frame.time_base = Fraction(1, self.rate)
            self.container.mux(self.stream.encode(frame))
            self.position += block.shape[1]

    def flush(self) -> None:
        self.container.mux(self.stream.encode(None))
