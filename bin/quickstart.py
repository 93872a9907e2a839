#!/usr/bin/env python
"""The main job: corpus -> TFRecords -> audio, visual and multimodal models -> results.

    python bin/quickstart.py

Writes the built-in synthetic corpus (or reads yours: --corpus=DIR in the AVEC 2016
layout), converts it with face detection, trains the three models, refits the audio
model on train + dev, and prints their raw dev and test CCC beside the handcrafted
baseline, in a few minutes on 2 CPU cores.
Outputs go to --work_dir; existing stages are reused.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


from absl import app, flags, logging

from e2e_emotion.quickstart import QUICK_MODALITIES, run_quickstart
from tfrecords_tools import synthetic
from tfrecords_tools.output_paths import register_output_checks

WORK_DIR = flags.DEFINE_string("work_dir", "runs/quickstart", "Where everything is written.")
MODALITIES = flags.DEFINE_multi_enum(
    "modality", list(QUICK_MODALITIES), list(QUICK_MODALITIES), "Models to train (repeatable)."
)
STEPS = flags.DEFINE_integer("steps", None, "Training steps of every model (default: per model).")
SECONDS = flags.DEFINE_float("seconds", 30.0, "Seconds per synthetic recording.", lower_bound=4)
SEED = flags.DEFINE_integer("seed", 0, "Random seed.")
CORPUS = flags.DEFINE_string("corpus", None, "Your corpus instead of the built-in one.")
CORPUS_FORMAT = flags.DEFINE_enum(
    "corpus_format", "avec2016", ["avec2016", "recola", "manifest"], "Layout of --corpus."
)
CONDITIONS = flags.DEFINE_enum(
    "conditions",
    "default",
    list(synthetic.CONDITIONS),
    "How the built-in corpus is recorded: default, or hard (per recording its own sample "
    "rate, room, noise, gain, frame rate and size, codec, face size and position, "
    "lighting drift, and a gold standard lagging by 0.4-1.2 s; see conditions.json).",
)
REFIT = flags.DEFINE_boolean(
    "refit",
    True,
    "Also refit the audio model on train + dev with the same settings, and rebuild the "
    "multimodal model's late fusion (its blend as chosen on dev) from it: the final models, "
    "scored on test (their dev CCC is not held out).",
)
register_output_checks(flags, directories=["work_dir"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if STEPS.value is not None and STEPS.value < 1:
        raise app.UsageError(f"--steps must be >= 1, got {STEPS.value}")
    from e2e_emotion.data import DataError
    from e2e_emotion.evaluation.report import EvaluationError
    from e2e_emotion.training import TrainingError
    from tfrecords_tools import commands

    errors = (*commands.user_errors, DataError, EvaluationError, TrainingError, ValueError)
    try:
        run_quickstart(
            WORK_DIR.value,
            tuple(MODALITIES.value),
            STEPS.value,
            SECONDS.value,
            SEED.value,
            CORPUS.value,
            CORPUS_FORMAT.value,
            conditions=CONDITIONS.value,
            refit=REFIT.value,
        )
    except errors as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    app.run(main)
