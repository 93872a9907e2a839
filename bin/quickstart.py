#!/usr/bin/env python
"""The main job: synthetic corpus -> TFRecords -> training -> evaluation -> plots.

    python bin/quickstart.py

Runs the whole path on the built-in synthetic corpus in a few minutes on 2 CPU cores and
prints the dev CCC. Outputs go to --work_dir; existing stages are reused.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


from absl import app, flags, logging

from e2e_emotion.quickstart import run_quickstart

WORK_DIR = flags.DEFINE_string("work_dir", "runs/quickstart", "Where everything is written.")
MODALITY = flags.DEFINE_enum("modality", "audio", ["audio", "visual", "multimodal"], "Model.")
STEPS = flags.DEFINE_integer("steps", 60, "Training steps.", lower_bound=1)
SECONDS = flags.DEFINE_float("seconds", 20.0, "Seconds per synthetic recording.", lower_bound=4)
SEED = flags.DEFINE_integer("seed", 0, "Random seed.")


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    run_quickstart(WORK_DIR.value, MODALITY.value, STEPS.value, SECONDS.value, SEED.value)


if __name__ == "__main__":
    app.run(main)
