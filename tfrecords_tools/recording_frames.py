"""One recording's media on the 40 ms grid: audio frames and face crops.

The converter (``tfrecords_tools.conversion``) and whole-file prediction
(``e2e_emotion.predict``, and through it batch prediction and the serving client) read a
recording through this one reader, so a model is given at run time the frames it was
trained on: the same resampling to 16 kHz mono, the same video frame for each 40 ms step,
the same face detector and tracker. Live sources, read as they arrive, use the same
pieces (``media.MonoResampler``, ``media.VideoSteps``, ``faces.FaceCropper``).
"""

from __future__ import annotations

import math
import os

from tfrecords_tools import faces, media
from tfrecords_tools.schema import FRAME_LENGTH, FRAME_SECONDS

__all__ = ["MissingStreamError", "RecordingFrames"]


class MissingStreamError(media.MediaError):
    """A file lacks a stream the reader was asked for.

    Attributes:
      stream: ``"audio"`` or ``"video"``.
    """

    def __init__(self, path, stream):
        super().__init__(f"{os.fspath(path)}: no {stream} stream", path)
        self.stream = stream


class RecordingFrames:
    """The streams ``needs`` of one recording, checked and ready to read.

    Args:
      sources: ``{"audio": path, "video": path}`` (one path may serve both).
      needs: the streams to read, ``"audio"`` and/or ``"video"``.
      silent_threshold_db: ``silent`` is True when the audio's RMS is below this level.
      **cropper_options: ``faces.FaceCropper``'s arguments (``size``, ``mode``,
        ``detect_every``, ``track``, ``blank_missing``...).

    Attributes:
      paths: ``{stream: path}`` of the streams read.
      audio: float32 ``[frames, 640]``, the complete 40 ms frames of 16 kHz mono audio
        (None without audio); ``silent`` whether that audio is below the threshold.
      video_steps: 40 ms steps the video's header promises (None without video; the
        decoded video may end sooner, which ``crops`` shows).
      cropper: the ``faces.FaceCropper`` of the video (None without video): after each
        crop its ``found`` tells whether that frame had a face, and at the end its
        fractions and counts describe the whole video.

    Raises:
      MissingStreamError: a file has no stream of a kind in ``needs``.
      media.MediaError: a file cannot be read.
      ValueError: bad cropper options.
    """

    def __init__(self, sources, needs, silent_threshold_db=-60.0, **cropper_options):
        self.paths = {need: os.fspath(sources[need]) for need in needs}
        self.audio = None
        self.silent = False
        self.video_steps = None
        self.cropper = None
        for need, path in self.paths.items():
            info = media.probe(path)
            if not (info.has_audio if need == "audio" else info.has_video):
                raise MissingStreamError(path, need)
            if need == "video":
                duration = info.video_duration or 0.0
                self.video_steps = math.ceil(round(duration / FRAME_SECONDS, 6))
        if "audio" in self.paths:
            samples = media.read_audio(self.paths["audio"], media.SAMPLE_RATE)
            self.silent = media.audio_is_silent(samples, silent_threshold_db)
            count = len(samples) // FRAME_LENGTH
            self.audio = samples[: count * FRAME_LENGTH].reshape(count, FRAME_LENGTH)
        if "video" in self.paths:
            self.cropper = faces.FaceCropper(**cropper_options)

    def crops(self, max_steps=None):
        """Yields the video's face crops, one per 40 ms step from its start (at most
        ``max_steps``), decoded a few frames ahead in a thread while the faces are found;
        ``cropper.found`` belongs to the crop just yielded."""
        frames = media.iter_video_frames(self.paths["video"], FRAME_SECONDS, max_steps=max_steps)
        for _, frame in media.prefetched(frames):
            yield self.cropper.crop(frame)

    def face_summary(self, detected=True):
        """The video's face figures for a report: ``face_missed_fraction`` always, and
        when ``detected`` (a detector, not the centre crop) ``face_found_fraction`` and
        ``face_frames``."""
        summary = {"face_missed_fraction": round(self.cropper.missed_fraction, 4)}
        if detected:
            summary["face_found_fraction"] = round(self.cropper.found_fraction, 4)
            summary["face_frames"] = self.cropper.face_frames
        return summary
