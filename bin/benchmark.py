#!/usr/bin/env python
"""Training and inference throughput of every model, the input pipeline, and GFLOP/s.

    python bin/benchmark.py --json=benchmark.json

At the paper's shapes (batch 2, sequences of 150 frames; --batch and --frames change
them): training frames/s (one Adam step with the CCC loss) and inference frames/s for the
audio (`paper` with FFT and with direct convolution, `reference`), visual and multimodal
models, each the median of --repeats runs after --warmup; counted forward FLOPs and the
achieved GFLOP/s next to the machine's float32 matmul rate; the input pipeline's frames/s
on the synthetic corpus shards with augmentation; TensorFlow version and thread counts;
the `paper` model's FFT over direct speed-up. Prints a table and writes JSON.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet

import json

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models",
    ["audio_paper_fft", "audio_paper_direct", "audio_reference", "visual", "multimodal"],
    "Models to measure (audio_paper_fft, audio_paper_direct, audio_reference, visual, multimodal).",
)
flags.DEFINE_integer("batch", 2, "Sequences per batch.", lower_bound=1)
flags.DEFINE_integer("frames", 150, "Frames per sequence.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed runs (the median is reported).", lower_bound=1)
flags.DEFINE_integer("warmup", 1, "Untimed runs first (tracing, caches).", lower_bound=0)
flags.DEFINE_boolean("tiny", False, "Tiny layer sizes (for a quick smoke run).")
flags.DEFINE_boolean("jit_compile", False, "Compile the steps with XLA.")
flags.DEFINE_boolean("mixed_precision", False, "Build the models with mixed_bfloat16.")
flags.DEFINE_boolean(
    "bfloat16_gradients",
    False,
    "The `reference` speech network's convolution gradients in bfloat16 (as bin/train.py "
    "--bfloat16_gradients); the other models are unchanged.",
)
flags.DEFINE_boolean("time_split", True, "Forward time by part for the paper audio models.")
flags.DEFINE_boolean("pipeline", True, "Also measure the input pipeline.")
flags.DEFINE_list(
    "conv_kernels",
    [],
    "Also time the paper model's second convolution alone, FFT vs direct, at these kernel "
    "lengths (e.g. 32,64,256,4000: where the FFT starts to win).",
)
flags.DEFINE_float(
    "conversion_seconds",
    20.0,
    "Also time converting one synthetic recording of this length (faces detected); 0: skip.",
    lower_bound=0,
)
flags.DEFINE_integer(
    "conversion_image_size", 320, "Video side of that recording in pixels.", lower_bound=96
)
flags.DEFINE_float(
    "conversion_fps",
    25.0,
    "Video frame rate of that recording.",
    lower_bound=1.0,
    upper_bound=120.0,
)
flags.DEFINE_string("records", None, "Records for the pipeline (default: synthetic corpus).")
flags.DEFINE_string("json", None, "Write the results to this JSON file.")


def _kernel_sizes(values):
    sizes = []
    for value in values:
        if not value.strip().isdigit() or int(value) < 1:
            raise app.UsageError(f"--conv_kernels: expected positive integers, got {value!r}")
        sizes.append(int(value))
    return sizes


register_output_checks(flags, files=["json"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.ERROR)  # one tf.function per model: retracing notes
    from e2e_emotion import benchmark
    from e2e_emotion.files import atomic_path

    try:
        results = benchmark.run(
            FLAGS.models,
            batch=FLAGS.batch,
            frames=FLAGS.frames,
            repeats=FLAGS.repeats,
            warmup=FLAGS.warmup,
            tiny=FLAGS.tiny,
            jit_compile=FLAGS.jit_compile,
            mixed_precision=FLAGS.mixed_precision,
            bfloat16_gradients=FLAGS.bfloat16_gradients,
            pipeline=FLAGS.pipeline,
            time_split=FLAGS.time_split,
            records=FLAGS.records,
            conv_kernels=_kernel_sizes(FLAGS.conv_kernels),
            conversion_seconds=FLAGS.conversion_seconds,
            conversion_image_size=FLAGS.conversion_image_size,
            conversion_fps=FLAGS.conversion_fps,
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    print(benchmark.format_table(results))
    if FLAGS.json:
        with atomic_path(FLAGS.json) as temporary, open(temporary, "w") as stream:
            json.dump(results, stream, indent=2)
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
