"""Tests for tfrecords_tools.media: decoding, timestamp resampling, writers, errors."""

import math
import os
import threading
from fractions import Fraction

import av
import numpy as np
import pytest

from tfrecords_tools import media, media_writers, synthetic
from tfrecords_tools.media import MediaError


def _sine(seconds, rate, frequency, amplitude):
    times = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * frequency * times)


def _peak_frequency(samples, rate):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)]


def _level(index):
    """Grey level that encodes a frame index; neighbours differ by 9 levels."""
    return 16 + (9 * index) % 220


def _indexed_frames(count, height=48, width=64):
    for index in range(count):
        yield np.full((height, width, 3), _level(index), np.uint8)


def _shown_index(step, fps):
    """Index of the frame on screen at step * 0.04 s (exact rational arithmetic)."""
    time = Fraction(step, 25) + Fraction(media._TIMESTAMP_SLACK_SECONDS)
    return math.floor(time * Fraction(fps))


def test_constants():
    assert media.SAMPLE_RATE == 16000
    assert media.FRAME_SECONDS == 0.04
    assert media.FRAME_LENGTH == 640 == round(media.SAMPLE_RATE * media.FRAME_SECONDS)
    assert issubclass(MediaError, ValueError)


def test_read_audio_resamples_stereo_44k_to_16k_mono(tmp_path):
    path = tmp_path / "stereo.wav"
    left = _sine(1.5, 44100, 440.0, 0.6)
    right = _sine(1.5, 44100, 440.0, 0.2)
    media_writers.write_wav(path, np.stack([left, right], axis=1), 44100, channels=2)
    samples = media.read_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 24000) <= 1
    assert _peak_frequency(samples, 16000) == pytest.approx(440.0, abs=1.0)
    middle = samples[1000:-1000]
    # Channels are averaged: (0.6 + 0.2) / 2 = 0.4 peak, RMS 0.4 / sqrt(2).
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.4 / np.sqrt(2), rel=0.01)
    assert np.max(np.abs(samples)) <= 1.0


def test_read_audio_16k_mono_is_exact(tmp_path):
    path = tmp_path / "mono.wav"
    wave = _sine(0.5, 16000, 1000.0, 0.5).astype(np.float32)
    media_writers.write_wav(path, wave, 16000)
    samples = media.read_audio(path)
    assert samples.shape == (8000,)
    np.testing.assert_allclose(samples, wave, atol=1.0 / 32767)


def test_read_audio_of_other_rate(tmp_path):
    path = tmp_path / "mono.wav"
    media_writers.write_wav(path, _sine(1.0, 16000, 250.0, 0.3), 16000)
    samples = media.read_audio(path, sample_rate=8000)
    assert abs(len(samples) - 8000) <= 1
    assert _peak_frequency(samples, 8000) == pytest.approx(250.0, abs=1.0)


def test_audio_track_of_mp4_is_read(tmp_path):
    path = tmp_path / "with_audio.mp4"
    sound = _sine(3.0, 16000, 300.0, 0.5)
    written = media_writers.write_video(path, _indexed_frames(75), fps=25, audio=sound)
    assert written == 75
    info = media.probe(path)
    assert info.has_audio and info.has_video
    assert info.audio_sample_rate == 16000 and info.audio_channels == 1
    assert info.audio_duration == pytest.approx(3.0, abs=0.01)
    samples = media.read_audio(path)
    assert len(samples) == 48000  # AAC end padding trimmed to the stated duration
    assert _peak_frequency(samples, 16000) == pytest.approx(300.0, abs=1.0)
    assert np.sqrt(np.mean(samples[2000:-2000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    # The video track of the same file is still 75 steps.
    assert media.read_video_frames(path).shape == (75, 48, 64, 3)


@pytest.mark.parametrize("fps", [25, 30, Fraction(30000, 1001), 50, 12])
def test_read_video_frames_samples_by_timestamp(tmp_path, fps):
    path = tmp_path / "indexed.mp4"
    count = round(3 * float(fps))
    media_writers.write_video(path, _indexed_frames(count), fps=fps)
    frames = media.read_video_frames(path)
    end = Fraction(count) / Fraction(fps)
    slack = Fraction(media._TIMESTAMP_SLACK_SECONDS)
    expected_steps = sum(1 for k in range(200) if Fraction(k, 25) + slack < end)
    assert frames.shape == (expected_steps, 48, 64, 3)
    assert frames.dtype == np.uint8
    assert 75 <= expected_steps <= 76
    levels = frames.reshape(len(frames), -1).mean(axis=1)
    expected = np.array([_level(_shown_index(k, fps)) for k in range(len(frames))])
    np.testing.assert_allclose(levels, expected, atol=2.5)


def test_iter_video_frames_streams_and_stops(tmp_path):
    path = tmp_path / "indexed.mp4"
    media_writers.write_video(path, _indexed_frames(60), fps=30)  # 2 s -> 50 steps
    steps = list(media.iter_video_frames(path, max_steps=7))
    assert [index for index, _ in steps] == list(range(7))
    # 30 fps: step 5 (0.2 s) shows frame 6, step 6 (0.24 s) frame 7.
    assert steps[5][1].mean() == pytest.approx(_level(6), abs=2.5)
    assert steps[6][1].mean() == pytest.approx(_level(7), abs=2.5)
    all_steps = list(media.iter_video_frames(path))
    assert len(all_steps) == 50
    # Frame rate lower than 25 fps: a frame repeats, each step gets its own array.
    media_writers.write_video(path, _indexed_frames(10), fps=10)
    repeated = list(media.iter_video_frames(path))
    assert len(repeated) == 25
    assert repeated[0][1].mean() == pytest.approx(repeated[1][1].mean())
    assert repeated[0][1] is not repeated[1][1]


def test_prefetched_frames_keep_order_errors_and_close_their_source(tmp_path):
    path = tmp_path / "indexed.mp4"
    media_writers.write_video(path, _indexed_frames(60), fps=30)
    ahead = list(media.prefetched(media.iter_video_frames(path), depth=2))
    direct = list(media.iter_video_frames(path))
    assert [i for i, _ in ahead] == list(range(50))
    for (_, a), (_, b) in zip(ahead, direct, strict=True):
        np.testing.assert_array_equal(a, b)

    closed, produced, threads = [], [], set()

    def source(fail_at=None):
        try:
            for index in range(100):
                threads.add(threading.current_thread())
                if index == fail_at:
                    raise MediaError(f"broken at {index}")
                produced.append(index)
                yield index
        finally:
            closed.append(True)

    # An error is raised where it happened, after the items before it.
    seen = []
    with pytest.raises(MediaError, match="broken at 5"):
        for item in media.prefetched(source(fail_at=5), depth=3):
            seen.append(item)
    assert seen == [0, 1, 2, 3, 4] and closed == [True]
    # A caller that stops early stops the producer, which closes its source.
    produced.clear()
    items = media.prefetched(source(), depth=3)
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    items.close()
    assert closed == [True, True]
    # Produced in a thread of its own, at most `depth` ahead of the caller (plus the one
    # item the producer holds while it waits for room).
    assert threading.current_thread() not in threads and len(threads) == 2  # one a call
    assert len(produced) <= 4 + 3 + 1
    with pytest.raises(ValueError, match="depth must be >= 1"):
        next(media.prefetched([1], depth=0))


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_a_rotated_video_is_read_upright(tmp_path, rotation):
    """A phone stores a portrait video as a landscape picture and a display rotation:
    the frames come out as a player shows them (turned), a face upright."""
    picture = np.zeros((64, 96, 3), np.uint8)
    picture[:32, :48] = (250, 20, 20)  # a red quarter at the top left, a green strip
    picture[:, 80:] = (20, 250, 20)
    path = tmp_path / "phone.mp4"
    media_writers.write_video(path, [picture] * 3, fps=25, rotation=rotation)
    frames = [frame for _, frame in media.iter_video_frames(path)]
    expected = np.rot90(picture, rotation // 90)
    assert len(frames) == 3 and frames[0].shape == expected.shape
    assert np.abs(frames[0].astype(int) - expected).mean() < 4
    plain = tmp_path / "plain.mp4"
    media_writers.write_video(plain, [picture] * 3, fps=25)
    assert next(media.iter_video_frames(plain))[1].shape == picture.shape
    with pytest.raises(ValueError, match="rotation must be a multiple of 90 degrees, got 45"):
        media_writers.write_video(tmp_path / "x.mp4", [picture], rotation=45)


def test_read_video_frames_num_frames_and_padding(tmp_path):
    path = tmp_path / "short.mp4"
    media_writers.write_video(path, _indexed_frames(20), fps=25)
    assert media.read_video_frames(path, num_frames=5).shape == (5, 48, 64, 3)
    padded = media.read_video_frames(path, num_frames=21, max_pad_frames=1)
    assert padded.shape[0] == 21
    np.testing.assert_array_equal(padded[20], padded[19])
    with pytest.raises(MediaError, match="short.mp4.*covers 20 steps.*22"):
        media.read_video_frames(path, num_frames=22, max_pad_frames=1)
    assert media.read_video_frames(path, num_frames=0).shape == (0, 48, 64, 3)


def test_probe(tmp_path):
    video = tmp_path / "v.mp4"
    media_writers.write_video(video, _indexed_frames(30), fps=30)
    info = media.probe(video)
    assert info.has_video and not info.has_audio
    assert (info.width, info.height) == (64, 48)
    assert info.video_fps == pytest.approx(30.0)
    assert info.video_duration == pytest.approx(1.0, abs=0.01)
    assert info.video_frames == 30
    sound = tmp_path / "a.wav"
    media_writers.write_wav(sound, np.zeros((22050, 2)), 44100, channels=2)
    info = media.probe(sound)
    assert info.has_audio and not info.has_video
    assert (info.audio_sample_rate, info.audio_channels) == (44100, 2)
    assert info.audio_duration == pytest.approx(0.5)


def test_audio_is_silent():
    assert media.audio_is_silent(np.zeros(100))
    assert media.audio_is_silent(np.array([]))
    assert media.audio_is_silent(np.full(100, 1e-4))  # -80 dBFS
    assert not media.audio_is_silent(np.full(100, 1e-2))  # -40 dBFS
    assert not media.audio_is_silent(np.full(100, 1e-2), threshold_db=-60)
    assert media.audio_is_silent(np.full(100, 1e-2), threshold_db=-30)


def test_write_video_is_deterministic(tmp_path):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    media_writers.write_video(first, _indexed_frames(10), audio=_sine(0.4, 16000, 200, 0.3))
    media_writers.write_video(second, _indexed_frames(10), audio=_sine(0.4, 16000, 200, 0.3))
    assert first.read_bytes() == second.read_bytes()
    # The synthetic face at 160x160: x264's AVX-512 kernels gave different files for it
    # (2 to 24 distinct files in 40 encodings); every encoding must now be the same.
    labels = synthetic.synthetic_labels(50, seed=0)
    frames = list(synthetic.iter_synthetic_frames(labels[:, 1], labels[:, 0], 25.0, 160, 0))
    encoded = set()
    for index in range(40):
        path = tmp_path / f"face_{index}.mp4"
        media_writers.write_video(path, frames)
        encoded.add(path.read_bytes())
    assert len(encoded) == 1


@pytest.mark.parametrize("codec", media_writers.VIDEO_CODECS)
def test_write_video_with_a_requested_codec(tmp_path, codec):
    path = tmp_path / f"{codec}.mp4"
    assert media_writers.write_video(path, _indexed_frames(30, 240, 320), fps=30, codec=codec) == 30
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == {"libx264": "h264"}.get(
            codec, codec
        )
    info = media.probe(path)
    assert (info.width, info.height, info.video_fps) == (320, 240, 30.0)
    steps = media.read_video_frames(path)  # 1 s at 30 fps: 25 steps of 40 ms
    assert steps.shape == (25, 240, 320, 3)
    expected = [_level(_shown_index(step, 30)) for step in range(25)]
    np.testing.assert_allclose(steps.mean(axis=(1, 2, 3)), expected, atol=2.0)
    again = tmp_path / "again.mp4"
    media_writers.write_video(again, _indexed_frames(30, 240, 320), fps=30, codec=codec)
    assert again.read_bytes() == path.read_bytes()


def test_writer_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="even"):
        media_writers.write_video(tmp_path / "odd.mp4", [np.zeros((15, 16, 3), np.uint8)])
    assert not (tmp_path / "odd.mp4").exists()
    with pytest.raises(ValueError, match="frame 1 is 18x16"):
        media_writers.write_video(
            tmp_path / "mixed.mp4",
            [np.zeros((16, 16, 3), np.uint8), np.zeros((16, 18, 3), np.uint8)],
        )
    assert not (tmp_path / "mixed.mp4").exists()
    with pytest.raises(ValueError, match="no frames"):
        media_writers.write_video(tmp_path / "none.mp4", [])
    with pytest.raises(ValueError, match="codec must be one of.*'vp9'"):
        media_writers.write_video(tmp_path / "vp9.mp4", _indexed_frames(2), codec="vp9")
    assert not (tmp_path / "vp9.mp4").exists()
    with pytest.raises(ValueError, match="channels=1"):
        media_writers.write_wav(tmp_path / "x.wav", np.zeros((10, 2)), 16000)


# ---------------------------------------------------------------------------- errors


def test_missing_file(tmp_path):
    path = tmp_path / "absent.wav"
    for reader in (media.read_audio, media.read_video_frames, media.probe):
        with pytest.raises(MediaError, match="absent.wav: file not found") as caught:
            reader(path)
        assert caught.value.path == os.fspath(path)


def test_text_file_renamed_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\n" * 20)
    for reader in (media.read_audio, media.read_video_frames, media.probe):
        with pytest.raises(MediaError, match="notes.wav: unreadable or corrupt"):
            reader(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match="empty.mp4: file is empty"):
        media.read_video_frames(path)


def test_truncated_mp4(tmp_path):
    path = tmp_path / "full.mp4"
    noise = np.random.default_rng(0)
    frames = [noise.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(50)]
    media_writers.write_video(path, frames, audio=_sine(2.0, 16000, 200, 0.3))
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # header at the front (faststart): data cut
    with pytest.raises(MediaError, match=r"cut.mp4: video ends at t=\d.\d\d s.*truncated"):
        media.read_video_frames(cut)
    with pytest.raises(MediaError, match=r"cut.mp4: audio ends at t=\d.\d\d s.*truncated"):
        media.read_audio(cut)
    # A file written with its header at the end is unreadable once cut.
    tail = tmp_path / "tail.mp4"
    with av.open(os.fspath(tail), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))
    tail.write_bytes(tail.read_bytes()[: tail.stat().st_size // 2])
    with pytest.raises(MediaError, match="tail.mp4: unreadable or corrupt"):
        media.read_video_frames(tail)


def test_mp4_without_audio_passed_to_read_audio(tmp_path):
    path = tmp_path / "silent_movie.mp4"
    media_writers.write_video(path, _indexed_frames(5))
    with pytest.raises(MediaError, match="silent_movie.mp4: no audio stream.*video"):
        media.read_audio(path)


def test_wav_passed_to_read_video_frames(tmp_path):
    path = tmp_path / "speech.wav"
    media_writers.write_wav(path, np.zeros(1600), 16000)
    with pytest.raises(MediaError, match="speech.wav: no video stream.*audio"):
        media.read_video_frames(path)


def test_zero_sample_wav(tmp_path):
    path = tmp_path / "nothing.wav"
    media_writers.write_wav(path, np.zeros(0), 16000)
    with pytest.raises(MediaError, match="nothing.wav: no audio samples decoded"):
        media.read_audio(path)


def test_zero_frame_videos(tmp_path):
    # An AVI keeps a video stream with no frames.
    avi = tmp_path / "zero.avi"
    with av.open(os.fspath(avi), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    with pytest.raises(MediaError, match="zero.avi: no video frames decoded"):
        media.read_video_frames(avi)
    # The MP4 muxer drops a stream without frames.
    mp4 = tmp_path / "zero.mp4"
    with av.open(os.fspath(mp4), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    with pytest.raises(MediaError, match="zero.mp4: no video stream.*none"):
        media.read_video_frames(mp4)
