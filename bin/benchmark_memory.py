#!/usr/bin/env python
"""Peak resident memory of `bin/predict.py` on a long recording (one figure per model).

    python bin/benchmark_memory.py --minutes=30 --modality=multimodal --sequence_length=0

Writes a synthetic recording of `--minutes` (an MP4 with its audio track, in
`--work_dir`, reused by later runs), saves an untrained model of the default recipe for
each `--modality` (memory does not depend on the weights), runs `bin/predict.py` on the
file in a child process and prints the child's peak resident set size (the kernel's
high-water mark, `getrusage`) and its run time.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import subprocess
import sys

from absl import app, flags

from tfrecords_tools.output_paths import register_output_checks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_float("minutes", 30.0, "Length of the recording.", lower_bound=0.1)
flags.DEFINE_list("modality", ["audio", "multimodal"], "Models to measure (comma-separated).")
flags.DEFINE_integer("sequence_length", 0, "bin/predict.py --sequence_length (0: whole file).")
flags.DEFINE_string("work_dir", "runs/benchmark_memory", "Recording, models and outputs.")
register_output_checks(flags, directories=["work_dir"])


def _recording(work_dir, minutes):
    from tfrecords_tools import synthetic

    path = os.path.join(work_dir, f"talk_{minutes:g}min.mp4")
    if not os.path.exists(path):
        partial = path + ".partial.mp4"
        synthetic.write_synthetic_recording(
            "talk", minutes * 60, seed=0, video_path=partial, audio_in_video=True, image_size=160
        )
        os.replace(partial, path)
    return path


def _model(work_dir, modality):
    import e2e_emotion
    from e2e_emotion.training.recipes import DEFAULT_RECIPE, recipe

    path = os.path.join(work_dir, f"{modality}.keras")
    if not os.path.exists(path):
        model = e2e_emotion.build_model(modality, **recipe(DEFAULT_RECIPE, modality)["model"])
        model.save(path)
    return path


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    for modality in FLAGS.modality:
        if modality not in ("audio", "visual", "multimodal"):
            raise app.UsageError(f"--modality={modality}: expected audio, visual or multimodal")
    os.makedirs(FLAGS.work_dir, exist_ok=True)
    media = _recording(FLAGS.work_dir, FLAGS.minutes)
    for modality in FLAGS.modality:
        model = _model(FLAGS.work_dir, modality)
        command = [
            sys.executable,
            os.path.join(ROOT, "bin", "predict.py"),
            f"--media={media}",
            f"--model={model}",
            f"--output_csv={os.path.join(FLAGS.work_dir, modality + '.csv')}",
            f"--sequence_length={FLAGS.sequence_length}",
        ]
        # A fresh interpreter per model, so each high-water mark is that model's alone.
        measure = [sys.executable, "-c", _MEASURE, *command]
        result = subprocess.run(measure, capture_output=True, text=True)
        if result.returncode:
            sys.exit(result.stderr.strip())
        peak, seconds = (float(value) for value in result.stdout.split())
        print(
            f"{modality}: {FLAGS.minutes:g} min, --sequence_length={FLAGS.sequence_length}: "
            f"peak resident memory {peak:.0f} MiB, {seconds:.1f} s"
        )


_MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if result.returncode:
    sys.exit(result.stderr[-2000:])
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(peak, time.perf_counter() - started)
"""

if __name__ == "__main__":
    app.run(main)
