#!/usr/bin/env python
"""Predicts arousal and valence every 40 ms for one WAV or MP4 file; writes CSV and PNG.

    python bin/predict.py --media=a.mp4 --model=runs/audio --output_csv=a.csv --output_png=a.png
    python bin/predict.py --audio_media=a.wav --video_media=a.mp4 --model=runs/multimodal ...

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
flags.mark_flags_as_required(["model", "output_csv"])
register_output_checks(flags, files=["output_csv", "output_png"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion import predict

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


if __name__ == "__main__":
    app.run(main)
