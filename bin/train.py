#!/usr/bin/env python
"""Trains an audio, visual or multimodal model on TFRecords with the CCC loss.

    python bin/train.py --records=data/records --model_dir=runs/audio --modality=audio

One CPU or GPU by default; `--strategy=mirrored` uses all local GPUs (or
`--logical_cpus=N` CPU devices); `--strategy=multiworker` reads TF_CONFIG. Re-running the
same command resumes from the last checkpoint. Settings not given come from `--recipe`
(`small` by default, `paper` for the paper's); the multimodal model is trained after the
two unimodal ones: `--modality=multimodal --init_audio=runs/audio --init_visual=runs/visual`
(with the `small` recipe it then starts as their late fusion).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


import json
import sys

from absl import app, flags, logging

from e2e_emotion import config, settings
from tfrecords_tools.output_paths import register_output_checks

FLAGS = flags.FLAGS
# Every setting's flag comes from its configuration field (e2e_emotion/config.py).
config.define_training_flags(FLAGS)
# Listed by --help as this script's own (absl files a flag under the defining module).
flags.adopt_module_key_flags(config)
flags.adopt_module_key_flags(settings)
register_output_checks(flags, directories=["model_dir"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion.evaluation.report import EvaluationError, baseline_reference
    from e2e_emotion.training import cli

    try:
        reference = None
        if FLAGS.baseline and FLAGS.eval_every:
            reference = baseline_reference(
                FLAGS.records, FLAGS.modality, FLAGS.train_split, FLAGS.eval_split
            )
        cli.train_from_flags(FLAGS, json.loads(FLAGS.model_config or "{}"), reference)
    except (*cli.user_errors, EvaluationError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    app.run(main)
