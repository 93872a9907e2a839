#!/usr/bin/env python
"""Validates a TFRecord directory and shows what it holds.

    python bin/inspect_tfrecords.py --records=data/records --contact_sheet=faces.png --plot=rec.png

Parses every record of every shard against the schema, checks counts, frame order and
label statistics against metadata.json, and prints a table. Optionally draws a contact
sheet of face crops and a plot of one recording's audio envelope and labels.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


import sys

from absl import app, flags, logging

from tfrecords_tools import commands
from tfrecords_tools.output_paths import register_output_checks

RECORDS = flags.DEFINE_string("records", None, "Directory written by make_tfrecords.py.")
CONTACT_SHEET = flags.DEFINE_string("contact_sheet", None, "PNG of face crops to write.")
PLOT = flags.DEFINE_string("plot", None, "PNG of one recording's audio envelope and labels.")
RECORDING = flags.DEFINE_string("recording", None, "Recording to plot (default: the first).")
flags.mark_flag_as_required("records")
register_output_checks(flags, files=["contact_sheet", "plot"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        _, text = commands.inspect(RECORDS.value, CONTACT_SHEET.value, PLOT.value, RECORDING.value)
    except commands.user_errors as error:
        sys.exit(f"error: {error}")
    print(text)


if __name__ == "__main__":
    app.run(main)
