"""Arousal and valence every 40 ms for one WAV or MP4 file, from any exported model.

``predict_file`` reads the media with the reader that writes the TFRecords
(``tfrecords_tools.recording_frames``: 16 kHz mono from a WAV or an MP4's audio track,
one 96x96 face crop per 40 ms), runs a
model and writes ``frame,time,arousal,valence`` (one row per 40 ms frame) plus a PNG plot.

Models (``model_path``):

* a trained model directory (``best/model.keras``, else ``final/model.keras``) or a
  ``.keras`` file;
* a SavedModel directory (holds ``saved_model.pb``; or an ``EXPORT_BASE/NAME`` directory,
  whose highest numbered version is taken) with a ``serving_default`` signature taking
  ``audio`` / ``video`` ``[batch, time, ...]`` and returning ``arousal`` and ``valence``
  ``[batch, time]``;
* a ``.tflite`` written by ``e2e_emotion.export.tflite`` (kind, modality and window
  length are read from its signature).

Windows: the recording is cut into windows of ``sequence_length`` frames, each starting
from a zero LSTM state, the last one zero-padded (as ``--eval_context=window`` evaluation
does); ``None`` runs the whole recording as one sequence (as the default evaluation does;
a Keras model with frame-local feature networks computes them ``FEATURE_CHUNK`` frames at
a time, so memory stays bounded, and runs its LSTM head once over them all). A
fixed-length ``.tflite`` always uses its own window length; a streaming ``.tflite`` runs
frame by frame and resets its state every ``sequence_length`` frames (never if ``None``),
so every kind of model gives the same numbers for the same window length.
"""

from __future__ import annotations

import contextlib
import itertools
import os

import numpy as np

from e2e_emotion.export.tflite import TFLiteExportError
from e2e_emotion.files import atomic_path
from e2e_emotion.runtime import ModelError, Predictor, open_model
from tfrecords_tools import storage
from tfrecords_tools.media import MediaError
from tfrecords_tools.records import FACE_WARNING_FRACTION
from tfrecords_tools.schema import DEFAULT_FACE_MODE, FACE_MODES, FRAME_SECONDS

CSV_HEADER = "frame,time,arousal,valence"

__all__ = [
    "CSV_HEADER",
    "PredictError",
    "load_predictor",
    "predict_file",
    "iter_inputs",
    "checked_media",
    "media_sources",
    "read_inputs",
    "user_errors",
]


# A model, or what is given to it, cannot be used; the message names the file.
PredictError = ModelError


def load_predictor(model_path, sequence_length=150):
    """A model of any supported format, ready to predict a whole recording.

    Args:
        model_path: model directory, ``.keras``, SavedModel directory or ``.tflite``.
        sequence_length: frames per window (None: the whole recording at once).

    Returns:
        A ``runtime.Predictor``: ``kind``, ``modality``, ``image_size``, ``window``,
        ``needs`` (``("audio",)``, ...) and ``predict(inputs) -> [n, 2]``.

    Raises:
        PredictError: missing or unreadable model.
    """
    return open_model(model_path).predictor(sequence_length)


# ---------------------------------------------------------------------------- media


def read_inputs(
    media_path,
    needs=("audio", "video"),
    face_mode=DEFAULT_FACE_MODE,
    image_size=96,
    max_frames=None,
):
    """One recording as model inputs, aligned by time and trimmed to the shorter stream.

    Args:
        media_path: a WAV, MP4 or any file FFmpeg reads.
        needs: the streams to read, ``"audio"`` and/or ``"video"``.
        face_mode: one of ``FACE_MODES`` (``tfrecords_tools.faces.FaceCropper``).
        image_size: side of the face crops.
        max_frames: only the first frames (None: all).

    Returns:
        ``(inputs, info)``: ``{"audio": float32 [n, 640], "video": uint8 [n, S, S, 3]}``
        and ``info`` as :func:`iter_inputs` fills it.

    Raises:
        As :func:`iter_inputs`.
    """
    info = {}
    parts = iter_inputs(media_path, needs, face_mode, image_size, None, info, max_frames=max_frames)
    parts = list(parts)
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}, info


def media_sources(media=None, audio=None, video=None):
    """The media of ``--media`` (one muxed file: its path) or of ``--audio_media`` /
    ``--video_media`` (files recorded apart: ``{"audio": path, "video": path}``, either
    may be missing when the model does not need it)."""
    if media is not None and (audio is not None or video is not None):
        raise PredictError("give --media (one file) or --audio_media / --video_media, not both")
    if media is not None:
        return os.fspath(media)
    if audio is None and video is None:
        raise PredictError("give --media, or --audio_media and/or --video_media")
    return {name: os.fspath(path) for name, path in (("audio", audio), ("video", video)) if path}


def iter_inputs(
    media_path, needs, face_mode, image_size, chunk, info, video_offset=0.0, max_frames=None
):
    """Yields one recording's model inputs ``chunk`` frames at a time (all at once when
    None), aligned by time and ending with the shorter stream; the video is decoded and
    its faces cropped as the chunks are taken, so a long file needs the memory of one
    chunk of crops, not of the whole recording.

    ``media_path``: one file holding the streams the model needs, or a dict ``{"audio":
    path, "video": path}`` (:func:`media_sources`) when they are recorded apart (a WAV
    and a silent MP4, as the AVEC 2016 and RECOLA layouts keep them). Each stream is
    read on its own clock from its start; ``video_offset`` (seconds, rounded to whole
    40 ms frames) is a known delay of the video's start after the audio's: that much of
    the audio is skipped (a negative offset skips video frames instead). ``max_frames``:
    only the first frames are read (None: all).

    ``info`` (a dict) is filled as the streams are read and complete at the end:
    ``frames`` (frames of each stream), ``face_missed_fraction`` and
    ``face_found_fraction`` (video), ``warnings`` (lines naming the file: silent audio,
    few faces found).

    Raises:
        tfrecords_tools.media.MediaError: unreadable file.
        PredictError: a needed stream is missing, nothing as long as one frame, or (in
            ``detect`` mode) no face found in any frame (raised at the end).
    """
    from tfrecords_tools.recording_frames import MissingStreamError, RecordingFrames

    if isinstance(media_path, dict):
        sources = {name: os.fspath(path) for name, path in media_path.items()}
    else:
        sources = {name: os.fspath(media_path) for name in ("audio", "video")}
    if face_mode not in FACE_MODES:
        raise PredictError(f"face_mode must be one of {FACE_MODES}, got {face_mode!r}")
    shift = int(round(float(video_offset) / FRAME_SECONDS))
    for need in needs:
        if need not in sources:
            raise PredictError(f"the model needs {need}: give --{need}_media (or --media)")
    try:
        streams = RecordingFrames(
            sources, needs, size=image_size, mode=face_mode, blank_missing=True
        )
    except MissingStreamError as error:
        raise PredictError(
            f"{error.path}: the model needs {error.stream} but the file has no {error.stream}"
        ) from None
    info.update(frames={}, warnings=[])
    audio = streams.audio
    if audio is not None:
        path = streams.paths["audio"]
        if len(audio) == 0:
            raise PredictError(f"{path}: audio shorter than one 40 ms frame")
        info["frames"]["audio"] = len(audio)
        if streams.silent:
            # As the converter's check (which refuses such a recording for training).
            info["warnings"].append(
                f"{path}: the audio is silent (RMS below -60 dBFS): the predictions "
                "carry nothing of the voice"
            )
        if "video" in needs and shift > 0:
            audio = audio[shift:]
            if len(audio) == 0:
                raise PredictError(f"--video_offset={video_offset}: longer than {path}")
    crops, cropper, skipped = None, streams.cropper, 0
    if cropper is not None:
        path = streams.paths["video"]
        crops = streams.crops()
        if "audio" in needs and shift < 0:
            # Frames before the audio starts: decoded (the tracker follows them), unused.
            skipped = sum(1 for _ in itertools.islice(crops, -shift))
            if skipped < -shift:
                raise PredictError(f"--video_offset={video_offset}: longer than {path}")
    limit = audio.shape[0] if audio is not None else None
    if max_frames is not None:
        limit = max_frames if limit is None else min(limit, max_frames)
    start = 0
    while limit is None or start < limit:
        size = chunk or (limit - start if limit is not None else None)
        if limit is not None:
            size = min(size, limit - start)
        part = {}
        if crops is not None:
            taken = list(itertools.islice(crops, size))
            if not taken:
                break
            part["video"] = np.stack(taken)
            size = len(taken)
        if audio is not None:
            part["audio"] = audio[start : start + size]
        start += size
        yield part
        if crops is not None and chunk is not None and size < chunk:
            break  # the video ended
    if cropper is not None:
        rest = 0 if max_frames is not None else sum(1 for _ in crops)  # the rest, counted
        video_frames = skipped + start + rest
        info["frames"]["video"] = video_frames
        if (
            face_mode != "centre"
            and cropper.detections_run
            and not (cropper.detections_run - cropper.missed)
        ):
            raise PredictError(
                f"{sources['video']}: no face detected in any of its {video_frames} frames; "
                "use --face_mode=centre (face_mode='centre') if the face fills the picture"
            )
        info["face_missed_fraction"] = round(cropper.missed_fraction, 4)
        if face_mode != "centre":
            # Frames without a face reach the model as black crops (as in training).
            info["face_found_fraction"] = round(cropper.found_fraction, 4)
            if cropper.found_fraction < FACE_WARNING_FRACTION:
                info["warnings"].append(
                    f"{sources['video']}: a face was found in {cropper.found_fraction:.0%} of the "
                    "frames; the others reach the model as black crops (no face)"
                )


# ---------------------------------------------------------------------------- outputs


def checked_media(media):
    """``media`` (a path, or the dict of :func:`media_sources`) with its paths as strings,
    each checked by :func:`check_media_path` under the flag that gave it."""
    if isinstance(media, dict):
        media = {name: os.fspath(path) for name, path in media.items()}
        for name, path in media.items():
            check_media_path(path, f"--{name}_media")
        return media
    media = os.fspath(media)
    check_media_path(media)
    return media


def check_media_path(path, flag="--media"):
    """Raises PredictError unless ``path`` is a readable media file, local or on an object
    store TensorFlow reads (a directory, another URL or a missing file each named as
    such)."""
    if storage.is_url(path):
        if path.split("://", 1)[0].lower() in ("http", "https", "ftp"):
            raise PredictError(
                f"{flag}={path}: URLs are not read; download the file first (object stores "
                "TensorFlow reads, such as gs://, are)"
            )
        problem = storage.url_problem(path)
        if problem:
            raise PredictError(f"{flag}={problem}")
        if storage.isdir(path):
            raise PredictError(f"{flag}={path} is a directory; give one WAV or MP4 file")
        if not storage.exists(path):
            raise PredictError(f"{flag}={path}: no such file")
        return
    if os.path.isdir(path):
        raise PredictError(f"{flag}={path} is a directory; give one WAV or MP4 file")
    if not os.path.isfile(path):
        raise PredictError(f"{flag}={path}: no such file")
    if not os.access(path, os.R_OK):
        raise PredictError(f"{flag}={path}: not readable (permission denied)")


def _write_csv(path, predictions):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(CSV_HEADER + "\n")
        for frame, (arousal, valence) in enumerate(predictions):
            handle.write(f"{frame},{frame * FRAME_SECONDS:.2f},{arousal:.6f},{valence:.6f}\n")


def _write_outputs(csv_path, png_path, predictions, title):
    """Writes the CSV (and the PNG) to temporary files and renames them into place only
    when both are complete: a failure (an unwritable path, a full disk) leaves neither,
    and any older outputs as they were."""
    from e2e_emotion.evaluation.plots import plot_predictions

    outputs = [("--output_csv", csv_path, ".csv")]
    if png_path:
        outputs.append(("--output_png", png_path, ".png"))
    try:
        with contextlib.ExitStack() as stack:
            for _, path, suffix in outputs:
                temporary = stack.enter_context(atomic_path(path, suffix=suffix))
                if suffix == ".csv":
                    _write_csv(temporary, predictions)
                else:
                    plot_predictions(temporary, None, predictions, title=title)
    except OSError as error:
        # The output at fault: the destination of a failed rename, else the one being
        # written (the last entered).
        names = [o for o in outputs if error.filename2 == o[1]] or [
            o for o in outputs if o[1] == path
        ]
        flag, path = names[0][:2]
        reason = error.strerror or str(error)
        raise PredictError(f"{flag}={path}: cannot be written ({reason})") from None


def predict_file(
    media_path,
    model_path,
    output_csv,
    output_png=None,
    face_mode=DEFAULT_FACE_MODE,
    sequence_length=150,
    video_offset=0.0,
):
    """Predicts arousal and valence every 40 ms for one recording; writes CSV (and PNG).

    Args:
        media_path: WAV or MP4 (audio from the MP4's own track), or ``{"audio": path,
            "video": path}`` for streams recorded apart (:func:`media_sources`).
        model_path: model directory, ``.keras``, SavedModel directory or ``.tflite``, or a
            ``runtime.Predictor`` already opened (``sequence_length`` is then its own).
        output_csv: ``frame,time,arousal,valence``, one row per 40 ms frame; ``time`` is
            the start of the frame in seconds.
        output_png: optional plot of both curves over time.
        face_mode: one of ``FACE_MODES`` (as ``bin/make_tfrecords.py``).
        sequence_length: frames per window, each from a zero LSTM state (150 = 6 s, the
            training length); None for the whole recording as one sequence. See the
            module docstring for ``.tflite`` files.
        video_offset: seconds by which the video starts after the audio (separate
            files; see :func:`iter_inputs`).

    Returns:
        A summary dict: ``media`` (the path, or the dict of paths), ``model``,
        ``model_kind``, ``modality``, ``frames``, ``seconds``, ``window``,
        ``stream_frames`` (frames of each stream before trimming),
        ``face_missed_fraction`` (video only), ``warnings``, ``csv``, ``png``.

    Raises:
        PredictError, tfrecords_tools.media.MediaError: see ``user_errors``.
    """
    output_csv = os.fspath(output_csv)
    media_path = checked_media(media_path)
    paths = media_path.values() if isinstance(media_path, dict) else [media_path]
    shown = " + ".join(os.path.basename(path) for path in paths)
    if isinstance(model_path, Predictor):  # opened once for many files (e2e_emotion.batch)
        predictor = model_path
    else:
        predictor = load_predictor(model_path, sequence_length)
    info = {}
    parts = iter_inputs(
        media_path,
        predictor.needs,
        face_mode,
        predictor.image_size,
        predictor.chunk,
        info,
        video_offset,
    )
    predictions = np.asarray(predictor.predict_parts(parts), np.float32)
    if not np.all(np.isfinite(predictions)):
        first = int(np.flatnonzero(~np.isfinite(predictions).all(axis=1))[0])
        raise PredictError(f"{predictor.describe()}: non-finite prediction at frame {first}")
    title = f"{shown}: {predictor.describe()}"
    _write_outputs(output_csv, output_png and os.fspath(output_png), predictions, title)
    summary = {
        "media": media_path,
        "model": predictor.path,
        "model_kind": predictor.kind,
        "modality": predictor.modality,
        "frames": int(len(predictions)),
        "seconds": round(len(predictions) * FRAME_SECONDS, 2),
        "window": predictor.window,
        "stream_frames": info["frames"],
        "csv": output_csv,
        "png": os.fspath(output_png) if output_png else None,
    }
    for key in ("face_missed_fraction", "face_found_fraction"):
        if key in info:
            summary[key] = info[key]
    summary["warnings"] = info["warnings"]
    return summary


user_errors = (PredictError, MediaError, TFLiteExportError)
"""Exceptions that mean a bad file or argument (print one line, exit 1)."""
