#!/usr/bin/env python
"""Converts a corpus of recordings into validated TFRecord shards.

    python bin/make_tfrecords.py --corpus=avec2016 --input=data/synthetic --output_dir=data/records

Other layouts: `--corpus=recola --input=RECOLA --recola_train=P16,P17 --recola_dev=P19`
(full RECOLA release: MP4 with audio, CSV ratings averaged over annotators unless
`--recola_annotator=FM2`), or `--corpus=manifest --input=corpus.csv` (any corpus). Writes
`NAME-SPLIT.tfrecord-00000-of-0000N` shards and `metadata.json` into `--output_dir`,
through a hidden staging directory renamed at the end.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


import os
import shlex
import sys

from absl import app, flags, logging

from tfrecords_tools import commands, writer
from tfrecords_tools.output_paths import register_output_checks
from tfrecords_tools.records import face_warnings
from tfrecords_tools.schema import DEFAULT_FACE_MODE, FACE_MODES

CORPUS = flags.DEFINE_enum("corpus", "avec2016", list(commands.CORPUS_KINDS), "Corpus layout.")
INPUT = flags.DEFINE_string("input", None, "Corpus root directory, or the manifest CSV.")
OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Directory for shards + metadata.json.")
NAME = flags.DEFINE_string("name", None, "Data set name in shard names (default: --corpus).")
SPLITS = flags.DEFINE_list("splits", ["train", "dev", "test"], "avec2016: splits to convert.")
MODALITIES = flags.DEFINE_list("modalities", ["audio", "video"], "Modalities to keep.")
RECOLA_TRAIN = flags.DEFINE_list("recola_train", [], "recola: training subjects (P16,...).")
RECOLA_DEV = flags.DEFINE_list("recola_dev", [], "recola: development subjects.")
RECOLA_TEST = flags.DEFINE_list("recola_test", [], "recola: test subjects.")
RECOLA_ANNOTATOR = flags.DEFINE_string(
    "recola_annotator", None, "recola: one rating column (default: mean of annotators)."
)
RECOLA_LABEL_DIR = flags.DEFINE_string(
    "recola_label_dir", "Ratings_affective_behaviour_CCC_centred", "recola: ratings folder."
)
RECOLA_VIDEO_DIR = flags.DEFINE_string("recola_video_dir", "Video_recordings_MP4", "recola.")
RECOLA_AUDIO_DIR = flags.DEFINE_string(
    "recola_audio_dir", None, "recola: folder of SUBJECT.wav (default: the MP4's audio)."
)
NUM_SHARDS = flags.DEFINE_integer("num_shards", 4, "Shards per split, at most.", lower_bound=1)
IMAGE_FORMAT = flags.DEFINE_enum("image_format", "jpeg", ["jpeg", "png"], "Face crop format.")
JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 95, "JPEG quality.", 1, 100)
FACE_MODE = flags.DEFINE_enum(
    "face_mode",
    DEFAULT_FACE_MODE,
    list(FACE_MODES),
    "BlazeFace (default), the Haar cascade, or the centre crop.",
)
DETECT_EVERY = flags.DEFINE_integer(
    "detect_every", 1, "Run the face detector on every N-th frame (tracking between).", 1
)
FACE_TRACKING = flags.DEFINE_boolean(
    "face_tracking",
    True,
    "Look for the face near the last one first (the whole frame when not found there).",
)
LENGTH_TOLERANCE = flags.DEFINE_float(
    "length_tolerance", 1.0, "Seconds audio/video/labels may differ (trimmed).", lower_bound=0
)
LABEL_GAP_TOLERANCE = flags.DEFINE_float(
    "label_gap_tolerance",
    0.5,
    "Seconds without a rating that are interpolated over; a longer hole is an error.",
)
PROCESSES = flags.DEFINE_integer(
    "processes", os.cpu_count() or 1, "Recordings converted in parallel.", lower_bound=1
)
ON_ERROR = flags.DEFINE_enum(
    "on_error", "fail", ["fail", "skip"], "A bad recording stops the run, or is skipped."
)
OVERWRITE = flags.DEFINE_boolean("overwrite", False, "Replace an existing --output_dir.")
RUNNER = flags.DEFINE_enum(
    "runner",
    "local",
    ["local", "beam"],
    "local: a process pool of --processes; beam: an Apache Beam pipeline, one element per "
    "recording (needs the beam extra; --beam_pipeline_options picks the runner).",
)
BEAM_OPTIONS = flags.DEFINE_string(
    "beam_pipeline_options",
    "",
    "Beam's own options, as on its command line, e.g. '--direct_running_mode="
    "multi_processing --direct_num_workers=2' (the default: Beam's DirectRunner).",
)
register_output_checks(flags, directories=["output_dir"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    options = writer.ConversionOptions(
        name=NAME.value or CORPUS.value,
        num_shards=NUM_SHARDS.value,
        image_format=IMAGE_FORMAT.value,
        jpeg_quality=JPEG_QUALITY.value,
        face_mode=FACE_MODE.value,
        detect_every=DETECT_EVERY.value,
        face_tracking=FACE_TRACKING.value,
        length_tolerance=LENGTH_TOLERANCE.value,
        label_gap_tolerance=LABEL_GAP_TOLERANCE.value,
        processes=PROCESSES.value,
        on_error=ON_ERROR.value,
    )
    arguments = {f.name: f.value for f in flags.FLAGS.get_flags_for_module(sys.argv[0])}
    try:
        metadata = commands.make_tfrecords(
            CORPUS.value,
            INPUT.value,
            OUTPUT_DIR.value,
            options,
            overwrite=OVERWRITE.value,
            tool_arguments=arguments,
            runner=RUNNER.value,
            beam_args=shlex.split(BEAM_OPTIONS.value),
            splits=SPLITS.value,
            modalities=MODALITIES.value,
            recola_splits={
                "train": RECOLA_TRAIN.value,
                "dev": RECOLA_DEV.value,
                "test": RECOLA_TEST.value,
            },
            recola_annotator=RECOLA_ANNOTATOR.value,
            recola_label_dir=RECOLA_LABEL_DIR.value,
            recola_video_dir=RECOLA_VIDEO_DIR.value,
            recola_audio_dir=RECOLA_AUDIO_DIR.value,
        )
    except commands.user_errors as error:
        sys.exit(f"error: {error}")
    for split, info in metadata["splits"].items():
        print(
            f"{split}: {info['num_recordings']} recordings, {info['num_frames']} frames, "
            f"{len(info['shards'])} shards"
        )
    if metadata["face_missed_fraction"] is not None:
        print(f"face-detector runs without a face: {100 * metadata['face_missed_fraction']:.1f}%")
    if metadata["face_found_fraction"] is not None:
        print(f"frames with a face found: {100 * metadata['face_found_fraction']:.1f}%")
    for line in face_warnings(metadata):
        print(line, file=sys.stderr)
    for rid, report in metadata["recordings"].items():
        if report["trimmed_frames"]:
            print(f"trimmed {rid}: {report['trimmed_frames']}")
    for rid, reason in metadata["skipped"].items():
        print(f"skipped {rid}: {reason}")
    print(f"wrote {OUTPUT_DIR.value}")


if __name__ == "__main__":
    app.run(main)
