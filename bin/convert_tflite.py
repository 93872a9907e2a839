#!/usr/bin/env python
"""Converts a trained model to TFLite (builtin ops only): fixed-length and streaming models.

    python bin/convert_tflite.py --model=runs/audio --output_dir=runs/audio/tflite --check

Writes `{sequence,stream}_{float32,float16,int8}.tflite` and `tflite_export.json` in
`--output_dir`. `sequence`: windows of `--sequence_length` frames (`audio [1, T, 640]`,
`video [1, T, 96, 96, 3]` -> `predictions [1, T, 2]`). `stream`: one 40 ms frame plus the
LSTM states `h_k, c_k` in, `predictions [1, 2]` and `new_h_k, new_c_k` out, for streams of
any length (not for the `paper` speech preset, whose convolutions span frames).
`--check` compares every file with the Keras model on a synthetic held-out recording and
prints the largest absolute difference and the CCC difference; a float32 file off by more
than 1e-4 is an error.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet

import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Trained model directory (best/model.keras) or a .keras file.")
flags.DEFINE_string("output_dir", None, "Directory for the .tflite files and the JSON report.")
flags.DEFINE_list("kind", ["sequence", "stream"], "Models to write: sequence and/or stream.")
flags.DEFINE_list("variants", ["float32", "float16", "int8"], "float32, float16 and/or int8.")
flags.DEFINE_integer("sequence_length", 150, "Frames per window of the sequence model.", 1)
flags.DEFINE_boolean("check", False, "Compare every file with the Keras model.")
flags.DEFINE_string(
    "check_records",
    None,
    "Also score every file and the Keras model on the labelled recordings of a split of "
    "this record directory (the accuracy cost of float16/int8 on held-out recordings).",
)
flags.DEFINE_string("check_split", "dev", "Split of --check_records to score.")
flags.mark_flags_as_required(["model", "output_dir"])
register_output_checks(flags, directories=["output_dir"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion.export import tflite

    try:
        tflite.convert(
            FLAGS.model,
            FLAGS.output_dir,
            kinds=FLAGS.kind,
            variants=FLAGS.variants,
            sequence_length=FLAGS.sequence_length,
            check=FLAGS.check,
            check_records=FLAGS.check_records,
            check_split=FLAGS.check_split,
            log=print,
        )
    except tflite.TFLiteExportError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    app.run(main)
