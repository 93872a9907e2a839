#!/usr/bin/env python
"""Exports a trained model as a SavedModel version for TensorFlow Serving.

    python bin/export.py --model=runs/audio --export_base=exports --model_name=emotion_audio

Writes EXPORT_BASE/MODEL_NAME/VERSION/ (the next free integer version unless --version)
atomically: a killed export leaves no version behind. Signatures: serving_default (audio
and/or video tensors), examples (serialized tf.train.Example frames), wav (audio models:
16 kHz WAV bytes), metadata. `--benchmark` then times the SavedModel on random batches;
`--saved_model=exports/emotion_audio/1 --benchmark` only times an existing export.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet


import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Model directory (best/ or final/ model) or .keras file.")
flags.DEFINE_string("export_base", None, "Base directory TF Serving watches (--model_base_path).")
flags.DEFINE_string("model_name", None, "Served model name: a subdirectory of --export_base.")
flags.DEFINE_integer("version", None, "Version number (default: next free one).", lower_bound=1)
flags.DEFINE_boolean("overwrite", False, "Replace an existing --version.")
flags.DEFINE_integer(
    "max_frames",
    None,
    "Most frames (batch x time) one request may hold; larger requests are refused with an "
    "error (the model's memory grows with them). Default: 5 minutes of one recording.",
    lower_bound=1,
)
flags.DEFINE_list(
    "signatures",
    None,
    "Signatures to write (default: all the model can have): "
    "serving_default,examples,wav,stream,metadata.",
)
flags.DEFINE_string("saved_model", None, "Existing version directory to benchmark (no export).")
flags.DEFINE_boolean("benchmark", False, "Time the serving_default signature after export.")
flags.DEFINE_integer("benchmark_batch", 4, "Benchmark batch size (sequences).", lower_bound=1)
flags.DEFINE_integer("benchmark_frames", 150, "Benchmark frames per sequence.", lower_bound=1)
flags.DEFINE_integer("benchmark_runs", 10, "Timed benchmark calls.", lower_bound=1)
flags.DEFINE_integer("benchmark_warmup", 2, "Untimed calls first.", lower_bound=0)
register_output_checks(flags, directories=["export_base"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion.export.saved_model import ExportError, export_command

    benchmark = None
    if FLAGS.benchmark:
        benchmark = {
            "batch_size": FLAGS.benchmark_batch,
            "frames": FLAGS.benchmark_frames,
            "runs": FLAGS.benchmark_runs,
            "warmup": FLAGS.benchmark_warmup,
        }
    try:
        lines = export_command(
            model=FLAGS.model,
            export_base=FLAGS.export_base,
            model_name=FLAGS.model_name,
            version=FLAGS.version,
            overwrite=FLAGS.overwrite,
            signatures=FLAGS.signatures,
            saved_model=FLAGS.saved_model,
            benchmark=benchmark,
            **({"max_frames": FLAGS.max_frames} if FLAGS.max_frames else {}),
        )
    except (ExportError, FileNotFoundError) as error:
        sys.exit(f"error: {error}")
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
