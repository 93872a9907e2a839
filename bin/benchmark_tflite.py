#!/usr/bin/env python
"""Latency per 40 ms frame and size on disk of .tflite files, with LiteRT on 1 thread.

    python bin/benchmark_tflite.py --tflite=runs/audio/tflite --json=runs/audio/tflite/bench.json

`--tflite` takes files and/or directories written by bin/convert_tflite.py. A stream file
is timed per step (one frame in, state fed back), a sequence file per window divided by
its length; each figure is the median of `--repeats` runs after `--warmup` runs on random
inputs. The real-time factor is the latency divided by 40 ms (below 1: faster than real
time).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet

import json
import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks

FLAGS = flags.FLAGS
flags.DEFINE_list("tflite", None, ".tflite files and/or directories holding them.")
flags.DEFINE_integer("repeats", 50, "Timed runs per file.", lower_bound=1)
flags.DEFINE_integer("warmup", 5, "Untimed runs first.", lower_bound=0)
flags.DEFINE_integer("threads", 1, "Interpreter threads.", lower_bound=1)
flags.DEFINE_string("json", None, "Also write the rows to this JSON file.")
flags.mark_flags_as_required(["tflite"])
register_output_checks(flags, files=["json"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion.export import tflite

    try:
        rows = tflite.benchmark(
            FLAGS.tflite, repeats=FLAGS.repeats, warmup=FLAGS.warmup, num_threads=FLAGS.threads
        )
    except tflite.TFLiteExportError as error:
        sys.exit(f"error: {error}")
    print(tflite.format_benchmark(rows))
    if FLAGS.json:
        with open(FLAGS.json, "w", encoding="utf-8") as handle:
            json.dump(
                {"threads": FLAGS.threads, "repeats": FLAGS.repeats, "rows": rows}, handle, indent=2
            )


if __name__ == "__main__":
    app.run(main)
