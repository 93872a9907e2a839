#!/usr/bin/env python
"""Measures converting one recording (audio + video + face detection) to records.

    python bin/benchmark_tfrecords.py --seconds=300 --image_size=480 --fps=30

Writes a synthetic recording of --seconds, then prints the time of each stage (audio
decoding, video decoding, face detection + crop + JPEG) and of the whole conversion,
with frames/s. --json also writes the figures to a file.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


import json

from absl import app, flags, logging

from tfrecords_tools import commands
from tfrecords_tools.output_paths import register_output_checks
from tfrecords_tools.schema import DEFAULT_FACE_MODE, FACE_MODES

SECONDS = flags.DEFINE_float("seconds", 300.0, "Length of the recording.", lower_bound=1)
IMAGE_SIZE = flags.DEFINE_integer("image_size", 480, "Video side in pixels.", lower_bound=96)
FPS = flags.DEFINE_float("fps", 25.0, "Video frame rate.", lower_bound=1.0, upper_bound=120.0)
FACE_MODE = flags.DEFINE_enum("face_mode", DEFAULT_FACE_MODE, list(FACE_MODES), "Face cropping.")
DETECT_EVERY = flags.DEFINE_integer("detect_every", 1, "Detector on every N-th frame.", 1)
FACE_TRACKING = flags.DEFINE_boolean(
    "face_tracking", True, "Look for the face near the last one first."
)
JSON = flags.DEFINE_string("json", None, "Also write the figures to this JSON file.")
register_output_checks(flags, files=["json"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    figures = commands.benchmark_conversion(
        SECONDS.value,
        IMAGE_SIZE.value,
        FACE_MODE.value,
        detect_every=DETECT_EVERY.value,
        face_tracking=FACE_TRACKING.value,
        fps=FPS.value,
    )
    for key, value in figures.items():
        print(f"{key:24s} {value}")
    if JSON.value:
        commands.write_json(JSON.value, figures)
    print(json.dumps(figures))


if __name__ == "__main__":
    app.run(main)
