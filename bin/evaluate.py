#!/usr/bin/env python
"""Scores a trained model: CCC, Pearson, RMSE overall and per recording, with the AVEC
post-processing chain (chosen on dev, applied to test) and the handcrafted baseline.
Per recording it also states the delay of the gold standard that maximises the CCC (the
raters' lag, up to --max_delay_seconds) and the CCC there, beside the raw CCC.

    python bin/evaluate.py --model=runs/audio --records=data/records --output_dir=runs/audio/eval

Writes report.json, report.txt, per-recording prediction CSVs and plots to --output_dir.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Model directory (best/ or final/ model) or .keras file.")
flags.DEFINE_string("records", None, "Directory written by bin/make_tfrecords.py.")
flags.DEFINE_string("output_dir", None, "Where the report, predictions and plots go.")
flags.DEFINE_string("eval_split", "dev", "Labelled split to score and fit post-processing on.")
flags.DEFINE_string("test_split", None, "Split to apply post-processing to (e.g. test).")
flags.DEFINE_string("train_split", "train", "Split for the baseline and label statistics.")
flags.DEFINE_integer(
    "sequence_length",
    150,
    "Frames per evaluation window (features; with --eval_context=window also the LSTM).",
    lower_bound=1,
)
flags.DEFINE_enum(
    "eval_context",
    "recording",
    ["recording", "window"],
    "LSTM state carried over each whole recording, or reset every window.",
)
flags.DEFINE_integer("batch_size", 4, "Windows per batch.", lower_bound=1)
flags.DEFINE_boolean("postprocess", True, "Fit and apply the AVEC post-processing chain.")
flags.DEFINE_boolean("baseline", True, "Also score the handcrafted-feature baseline.")
flags.DEFINE_boolean("plots", True, "Write prediction and training-curve plots.")
flags.DEFINE_float(
    "max_delay_seconds",
    2.0,
    "Largest delay of the gold standard after the predictions searched per recording "
    "(whole 40 ms frames); reported beside the raw CCC, never applied to it.",
    lower_bound=0.0,
)
flags.DEFINE_boolean(
    "negative_delays",
    True,
    "Also search delays below zero (the predictions lagging the gold standard).",
)
flags.DEFINE_multi_enum(
    "remove_stream",
    [],
    ["audio", "video"],
    "Score the model with this stream removed (silence / black crops): what it does when "
    "the microphone or the camera is lost. Repeatable.",
)
flags.mark_flags_as_required(["model", "records", "output_dir"])
register_output_checks(flags, directories=["output_dir"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion.evaluation.report import EvaluationError, evaluate_model
    from e2e_emotion.training import TrainingError

    try:
        report = evaluate_model(
            FLAGS.model,
            FLAGS.records,
            FLAGS.output_dir,
            eval_split=FLAGS.eval_split,
            test_split=FLAGS.test_split,
            train_split=FLAGS.train_split,
            sequence_length=FLAGS.sequence_length,
            batch_size=FLAGS.batch_size,
            context=FLAGS.eval_context,
            postprocess=FLAGS.postprocess,
            baseline=FLAGS.baseline,
            plots=FLAGS.plots,
            max_delay_seconds=FLAGS.max_delay_seconds,
            negative_delays=FLAGS.negative_delays,
            remove_streams=tuple(FLAGS.remove_stream),
        )
    except (EvaluationError, TrainingError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    print(report["text"])
    print(f"\nwrote {FLAGS.output_dir}/report.json")


if __name__ == "__main__":
    app.run(main)
