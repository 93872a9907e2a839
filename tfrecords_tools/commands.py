"""What the ``bin/`` scripts of tfrecords_tools do, one function each.

The scripts only parse absl flags and call one of these, so every command can be used
(and tested) from Python too. Errors meant for the user are ``UserError``s (or the
readers' ``CorpusError``, ``LabelError``, ``MediaError``, ...): one line naming the file,
record or flag at fault; ``user_errors`` lists them so scripts can print them without a
traceback.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np

from tfrecords_tools import corpora, inspect_records, labels, media, schema, synthetic, writer

CORPUS_KINDS = ("avec2016", "recola", "manifest")


class UserError(ValueError):
    """A bad flag or input, explained in one line."""


# Exceptions a script reports as `error: <message>` without a traceback.
user_errors = (
    UserError,
    corpora.CorpusError,
    labels.LabelError,
    media.MediaError,
    writer.ConversionError,
    inspect_records.InspectError,
    FileExistsError,
    FileNotFoundError,
)


def read_corpus(
    kind,
    input_path,
    splits=("train", "dev", "test"),
    modalities=("audio", "video"),
    recola_splits=None,
    recola_annotator=None,
    recola_label_dir="Ratings_affective_behaviour_CCC_centred",
    recola_video_dir="Video_recordings_MP4",
    recola_audio_dir=None,
    dropped=None,
):
    """Lists a corpus's recordings with the reader of its layout.

    Args:
        kind: ``"avec2016"``, ``"recola"`` or ``"manifest"``.
        input_path: the corpus root (or the manifest CSV).
        splits, modalities: for ``avec2016`` (and to drop a modality elsewhere).
        recola_splits: ``{split: [subject, ...]}`` for ``recola``.
        dropped: for ``avec2016``: None (a recording missing a requested modality's file
            is an error) or a dict receiving the recordings left out for it.
    """
    if kind not in CORPUS_KINDS:
        raise UserError(f"--corpus={kind!r}: expected one of {', '.join(CORPUS_KINDS)}")
    if not input_path:
        raise UserError("--input is required (corpus root, or manifest CSV)")
    unknown = sorted(set(modalities) - set(schema.STREAMS))
    if unknown or not modalities:
        raise UserError(f"--modalities={','.join(modalities)}: choose from audio, video")
    if kind == "avec2016":
        recordings = corpora.read_avec2016(
            input_path, splits=splits, modalities=modalities, dropped=dropped
        )
    elif kind == "recola":
        if not recola_splits or not any(recola_splits.values()):
            raise UserError(
                "--corpus=recola needs subjects per split: --recola_train=P16,P17 "
                "--recola_dev=P19 (and --recola_test=...)"
            )
        recordings = corpora.read_recola(
            input_path,
            {split: subjects for split, subjects in recola_splits.items() if subjects},
            label_dir=recola_label_dir,
            video_dir=recola_video_dir,
            audio_dir=recola_audio_dir,
            annotator=recola_annotator,
        )
    else:
        recordings = corpora.read_manifest(input_path)
    return [_keep_modalities(r, modalities) for r in recordings]


def _keep_modalities(recording, modalities):
    audio = recording.audio_path if "audio" in modalities else None
    video = recording.video_path if "video" in modalities else None
    if audio is None and video is None:
        raise UserError(
            f"recording {recording.id!r} has none of the requested modalities "
            f"({','.join(modalities)})"
        )
    if (audio, video) == (recording.audio_path, recording.video_path):
        return recording
    return corpora.Recording(recording.id, recording.split, audio, video, recording.labels)


def make_tfrecords(
    corpus_kind,
    input_path,
    output_dir,
    options,
    overwrite=False,
    progress=True,
    tool_arguments=None,
    runner="local",
    beam_args=(),
    **reader_kwargs,
):
    """Reads a corpus and converts it to shards (``runner``: ``local`` or ``beam``, see
    ``writer.convert_corpus``); returns the metadata dict."""
    if not output_dir:
        raise UserError("--output_dir is required")
    # With --on_error=skip a recording missing a media file is left out and listed in
    # metadata.json's "skipped", as a recording that fails to convert is.
    dropped = {} if options is not None and options.on_error == "skip" else None
    recordings = read_corpus(corpus_kind, input_path, dropped=dropped, **reader_kwargs)
    if dropped and progress:
        for reason in dropped.values():
            sys.stderr.write(f"skipped: {reason}\n")
    return writer.convert_corpus(
        recordings,
        output_dir,
        options,
        overwrite=overwrite,
        progress=progress,
        tool_arguments=tool_arguments,
        skipped=dropped,
        runner=runner,
        beam_args=beam_args,
    )


def inspect(directory, contact_sheet_png=None, plot_png=None, recording_id=None):
    """Validates a record directory; optionally draws the contact sheet and a plot.

    Returns ``(report, text)``: the report dict and its readable table.
    """
    report = inspect_records.inspect_directory(directory)
    text = inspect_records.format_report(report)
    metadata = report["metadata"]
    if contact_sheet_png:
        count = inspect_records.contact_sheet(directory, contact_sheet_png, metadata=metadata)
        text += f"\ncontact sheet of {count} face crops: {contact_sheet_png}"
    if plot_png:
        if recording_id is None:
            recording_id = next(iter(metadata["recordings"]))
        frames = inspect_records.plot_recording(directory, recording_id, plot_png, metadata)
        text += f"\nplot of {recording_id} ({frames} frames): {plot_png}"
    return report, text


def benchmark_conversion(
    seconds=300.0,
    image_size=480,
    face_mode=schema.DEFAULT_FACE_MODE,
    work_dir=None,
    detect_every=1,
    face_tracking=True,
    fps=25.0,
):
    """Times the conversion of one synthetic recording (audio + video + faces), its video
    ``image_size`` pixels a side at ``fps`` frames per second.

    Returns a dict of figures: seconds per stage, total seconds, frames/s. Without a
    ``work_dir`` the recording and its records go to a temporary directory, removed after.
    """
    from tfrecords_tools import faces

    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="e2e_emotion_benchmark_") as temporary:
            return benchmark_conversion(
                seconds,
                image_size,
                face_mode,
                work_dir=temporary,
                detect_every=detect_every,
                face_tracking=face_tracking,
                fps=fps,
            )
    audio_path = os.path.join(work_dir, "bench_1.wav")
    video_path = os.path.join(work_dir, "bench_1.mp4")
    started = time.perf_counter()
    values = synthetic.write_synthetic_recording(
        "bench_1",
        seconds,
        seed=0,
        audio_path=audio_path,
        video_path=video_path,
        image_size=image_size,
        fps=fps,
    )
    corpus_seconds = time.perf_counter() - started
    tracks = {
        name: labels.LabelTrack(
            times=np.arange(len(values)) * 0.04, values=values[:, d], source="benchmark"
        )
        for d, name in enumerate(schema.LABEL_NAMES)
    }
    recording = corpora.Recording("bench_1", "train", audio_path, video_path, tracks)
    figures = {
        "recording_seconds": seconds,
        "frames": len(values),
        "image_size": image_size,
        "fps": fps,
        "face_mode": face_mode,
        "detect_every": detect_every,
        "face_tracking": face_tracking,
        "video_fps": round(media.probe(video_path).video_fps, 3),
    }

    started = time.perf_counter()
    media.read_audio(audio_path)
    figures["decode_audio_s"] = time.perf_counter() - started
    started = time.perf_counter()
    decoded = sum(1 for _ in media.iter_video_frames(video_path))
    figures["decode_video_s"] = time.perf_counter() - started
    cropper = faces.FaceCropper(mode=face_mode, detect_every=detect_every, track=face_tracking)
    started = time.perf_counter()
    for _, frame in media.iter_video_frames(video_path):
        faces.encode_image(cropper.crop(frame))
    figures["decode_crop_encode_s"] = time.perf_counter() - started
    figures["face_missed_fraction"] = cropper.missed_fraction

    options = writer.ConversionOptions(
        name="bench",
        face_mode=face_mode,
        detect_every=detect_every,
        face_tracking=face_tracking,
        processes=1,
    )
    output = os.path.join(work_dir, "records")
    started = time.perf_counter()
    writer.convert_corpus([recording], output, options, overwrite=True, progress=False)
    total = time.perf_counter() - started
    figures.update(
        video_steps=decoded,
        synthesis_s=corpus_seconds,
        convert_total_s=total,
        frames_per_second=len(values) / total,
        realtime_factor=seconds / total,
        shard_mb=sum(os.path.getsize(os.path.join(output, f)) for f in os.listdir(output)) / 2**20,
    )
    return {
        key: round(value, 3) if isinstance(value, float) else value
        for key, value in figures.items()
    }


def write_json(path, data):
    with open(path, "w") as stream:
        json.dump(data, stream, indent=2)
