#!/usr/bin/env python
"""Writes the built-in synthetic corpus in the AVEC 2016 layout (WAV, MP4, ARFF).

    python bin/make_synthetic_corpus.py --output_dir=data/synthetic

Per recording its own speaker, microphone, face and room; prosody follows arousal, the
facial expression follows valence, and the gold standard lags them as ratings do (see
`tfrecords_tools.synthetic`). The test labels are written apart, in test_labels/, which
the AVEC 2016 reader does not read. Seeded and deterministic. Refuses a non-empty
--output_dir without --overwrite.

    python bin/make_synthetic_corpus.py --output_dir=data/hard --conditions=hard

records every recording the way real recordings differ (sample rate, room, noise, camera,
face size, lighting, rater lag) and writes what each was drawn with to conditions.json.
"""

import sys

from absl import app, flags

from tfrecords_tools import commands, synthetic
from tfrecords_tools.output_paths import register_output_checks

OUTPUT_DIR = flags.DEFINE_string("output_dir", "data/synthetic", "Corpus root to write.")
NUM_TRAIN = flags.DEFINE_integer("num_train", 2, "Training recordings.", lower_bound=0)
NUM_DEV = flags.DEFINE_integer("num_dev", 2, "Development recordings.", lower_bound=0)
NUM_TEST = flags.DEFINE_integer(
    "num_test", 1, "Test recordings (labels withheld in test_labels/).", lower_bound=0
)
SECONDS = flags.DEFINE_float("seconds", 20.0, "Seconds per recording.", lower_bound=0.04)
IMAGE_SIZE = flags.DEFINE_integer("image_size", 160, "Video side in pixels.", lower_bound=48)
SEED = flags.DEFINE_integer("seed", 0, "Random seed.", lower_bound=0)
OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Replace a corpus written earlier.")
CONDITIONS = flags.DEFINE_enum(
    "conditions",
    "default",
    list(synthetic.CONDITIONS),
    "default, or hard: every recording with its own sample rate and channels, room "
    "reverberation, noise and hum, gain, frame rate and size, codec, face size, mirroring, "
    "lighting drift, and a gold standard lagging by 0.4-1.2 s (--image_size unused), "
    "written to conditions.json.",
)
register_output_checks(flags, directories=["output_dir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        ids = synthetic.write_synthetic_corpus(
            OUTPUT_DIR.value,
            num_train=NUM_TRAIN.value,
            num_dev=NUM_DEV.value,
            num_test=NUM_TEST.value,
            seconds=SECONDS.value,
            seed=SEED.value,
            image_size=IMAGE_SIZE.value,
            overwrite=OVERWRITE.value,
            conditions=CONDITIONS.value,
        )
    except (*commands.user_errors, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"wrote {len(ids)} recordings ({', '.join(ids)}) to {OUTPUT_DIR.value}")


if __name__ == "__main__":
    app.run(main)
