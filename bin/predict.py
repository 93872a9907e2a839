#!/usr/bin/env python
"""Predicts arousal and valence every 40 ms for one WAV or MP4 file; writes CSV and PNG.

    python bin/predict.py --media=a.mp4 --model=runs/audio --output_csv=a.csv --output_png=a.png
    python bin/predict.py --audio_media=a.wav --video_media=a.mp4 --model=runs/multimodal ...
    python bin/predict.py --input_manifest=list.txt --output_dir=out --model=runs/audio \
        --runner=beam --beam_pipeline_options="--direct_num_workers=2"

`--model` is a trained model directory or `.keras` file, a SavedModel directory or a
`.tflite` from bin/convert_tflite.py. Audio is read at 16 kHz mono (from the WAV or the
MP4's audio track), faces are cropped as in bin/make_tfrecords.py (`--face_mode=detect`,
or `centre` when the face fills the picture). The CSV has the columns
`frame,time,arousal,valence`, one row per 40 ms of media (audio and video trimmed to the
shorter). Windows of `--sequence_length` frames start from a zero LSTM state, as in
evaluation (0: the whole file as one sequence).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet

import json
import shlex
import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks
from tfrecords_tools.schema import DEFAULT_FACE_MODE, FACE_MODES

FLAGS = flags.FLAGS
flags.DEFINE_string("media", None, "WAV or MP4 file (audio and video in one).")
flags.DEFINE_string("audio_media", None, "Audio recorded apart (a WAV), instead of --media.")
flags.DEFINE_string("video_media", None, "Video recorded apart (an MP4), instead of --media.")
flags.DEFINE_float(
    "video_offset", 0.0, "With separate files: seconds the video starts after the audio."
)
flags.DEFINE_string("model", None, "Model directory, .keras, SavedModel directory or .tflite.")
flags.DEFINE_string("output_csv", None, "CSV to write (frame,time,arousal,valence).")
flags.DEFINE_string("output_png", None, "Optional plot of the two curves.")
flags.DEFINE_enum("face_mode", DEFAULT_FACE_MODE, list(FACE_MODES), "Face crop mode.")
flags.DEFINE_integer("sequence_length", 150, "Frames per window; 0: whole file.", lower_bound=0)
flags.DEFINE_string(
    "input_manifest",
    None,
    "Many recordings instead of --media: one media path per line, or 'audio,video'; each "
    "gives OUTPUT_DIR/<stem>.csv, a done one is skipped, a bad one listed in failures.csv.",
)
flags.DEFINE_string("output_dir", None, "With --input_manifest: where the CSVs go.")
flags.DEFINE_enum(
    "runner",
    "local",
    ["local", "beam"],
    "With --input_manifest: one file after the other (local) or an Apache Beam pipeline.",
)
flags.DEFINE_string(
    "beam_pipeline_options",
    "",
    "Beam's own options, e.g. '--direct_running_mode=multi_processing --direct_num_workers=2'.",
)
flags.mark_flags_as_required(["model"])
register_output_checks(flags, files=["output_csv", "output_png"], directories=["output_dir"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion import predict

    if FLAGS.input_manifest:
        return _predict_manifest(predict)
    if not FLAGS.output_csv:
        sys.exit("error: --output_csv is required (or --input_manifest with --output_dir)")
    try:
        sources = predict.media_sources(FLAGS.media, FLAGS.audio_media, FLAGS.video_media)
        summary = predict.predict_file(
            sources,
            FLAGS.model,
            FLAGS.output_csv,
            output_png=FLAGS.output_png,
            face_mode=FLAGS.face_mode,
            sequence_length=FLAGS.sequence_length or None,
            video_offset=FLAGS.video_offset,
        )
    except predict.user_errors as error:
        sys.exit(f"error: {error}")
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(json.dumps(summary, indent=2))


def _predict_manifest(predict):
    from e2e_emotion import batch

    if not FLAGS.output_dir:
        sys.exit("error: --input_manifest needs --output_dir")
    given = [
        name for name in ("media", "audio_media", "video_media", "output_csv") if FLAGS[name].value
    ]
    if given:
        sys.exit(f"error: --input_manifest replaces --{', --'.join(given)}")
    try:
        summary = batch.predict_manifest(
            FLAGS.input_manifest,
            FLAGS.model,
            FLAGS.output_dir,
            runner=FLAGS.runner,
            beam_args=shlex.split(FLAGS.beam_pipeline_options),
            face_mode=FLAGS.face_mode,
            sequence_length=FLAGS.sequence_length or None,
            video_offset=FLAGS.video_offset,
        )
    except (batch.BatchError, *predict.user_errors) as error:
        sys.exit(f"error: {error}")
    print(json.dumps(summary, indent=2))
    if summary["failed"]:
        print(
            f"warning: {summary['failed']} file(s) failed: {summary['failures']}", file=sys.stderr
        )


if __name__ == "__main__":
    app.run(main)
