#!/usr/bin/env python
"""This project against a PyTorch re-statement of the same networks, side by side.

    pip install -e '.[cpu,peer]'
    python bin/benchmark_peer.py --json=peer.json

For the audio model (`reference` speech network) and the visual model (ResNet-50), both
with the 2 x 256 LSTM head, at batch 2 x 150 frames (--batch, --frames): training frames/s
(one Adam step with the CCC loss) and inference frames/s, the median of --repeats runs
after --warmup, in this project's default configuration (the training step compiled with
XLA for the audio model on CPUs without AMX and ResNet-50 trained in bfloat16 on CPUs with
AMX, as `bin/train.py`'s auto settings do; inference in float32 with the ResNet's
BatchNorm folded, as prediction does) and in PyTorch
(`e2e_emotion.peer_torch`; the visual model in both memory formats, NCHW and channels-last,
the faster one compared). Each framework runs in a process of its own, one after the
other, with its default thread count. Prints the CPU, both frameworks' versions and
threads, and the ratios (this project over PyTorch).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ INFO lines quiet

import json
import subprocess
import sys
import tempfile

from absl import app, flags

from tfrecords_tools.output_paths import register_output_checks

MODELS = ("audio_reference", "visual")
FRAMEWORKS = ("both", "tensorflow", "torch")

FLAGS = flags.FLAGS
flags.DEFINE_list("models", list(MODELS), f"Models to measure: {', '.join(MODELS)}.")
flags.DEFINE_integer("batch", 2, "Sequences per batch.", lower_bound=1)
flags.DEFINE_integer("frames", 150, "Frames per sequence.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed runs (the median is reported).", lower_bound=1)
flags.DEFINE_integer("warmup", 1, "Untimed runs first (tracing, caches).", lower_bound=0)
flags.DEFINE_boolean("tiny", False, "Tiny layer sizes in both frameworks (a smoke run).")
flags.DEFINE_enum(
    "framework", "both", FRAMEWORKS, "Measure one framework only (the child processes)."
)
flags.DEFINE_string("json", None, "Write the results to this JSON file.")

register_output_checks(flags, files=["json"])

# The Keras sizes of `e2e_emotion.benchmark.TINY` under the PyTorch modules' names.
TINY_TORCH = {
    "audio_reference": {"units": 8},
    "visual": {"units": 8, "stem": 4, "stage_blocks": (1, 1), "stage_filters": (4, 8)},
}


def _tensorflow(models, batch, frames, repeats, warmup, tiny):
    from e2e_emotion import benchmark
    from e2e_emotion.config import auto_bfloat16, auto_bfloat16_gradients, auto_xla

    rows = []
    for name in models:
        modality, defaults = benchmark.MODELS[name]
        sizes = dict(benchmark.TINY) if tiny else None
        # bin/train.py's auto choices for this model on this CPU.
        jit = auto_xla(modality)
        bfloat16 = auto_bfloat16(modality, {**defaults, **(sizes or {})})
        gradients = auto_bfloat16_gradients(modality, defaults)
        row = benchmark.benchmark_model(
            name,
            batch,
            frames,
            repeats,
            warmup,
            sizes,
            jit,
            bfloat16,
            infer_mixed_precision=False,
            bfloat16_gradients=gradients,
        )
        rows.append({**row, "xla": jit, "bfloat16": bfloat16, "bfloat16_gradients": gradients})
    return {"environment": benchmark.environment(), "models": rows}


def _torch(models, batch, frames, repeats, warmup, tiny):
    from e2e_emotion import peer_torch

    rows = []
    for name in models:
        sizes = TINY_TORCH[name] if tiny else {}
        layouts = (False, True) if name == "visual" else (False,)
        for channels_last in layouts:
            rows.append(
                peer_torch.benchmark_model(
                    name, batch, frames, repeats, warmup, channels_last, **sizes
                )
            )
    return {"environment": peer_torch.environment(), "models": rows}


def _child(framework, argv_flags):
    """Runs this script for one framework in a process of its own; returns its results."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"{framework}.json")
        command = [sys.executable, __file__, f"--framework={framework}", f"--json={path}"]
        subprocess.run(command + argv_flags, check=True, stdout=subprocess.DEVNULL)
        with open(path) as stream:
            return json.load(stream)


def compare(tensorflow, torch_results):
    """``[{model, train/infer frames/s of both, ratios}]``; PyTorch's faster layout per
    figure (NCHW or channels-last) for the visual model."""
    rows = []
    for ours in tensorflow["models"]:
        peers = [row for row in torch_results["models"] if row["model"] == ours["model"]]
        row = {
            "model": ours["model"],
            "xla": ours["xla"],
            "bfloat16": ours["bfloat16"],
            "bfloat16_gradients": ours["bfloat16_gradients"],
        }
        for key in ("train", "infer"):
            rate = f"{key}_frames_per_s"
            best = max(peers, key=lambda peer, rate=rate: peer[rate])
            row[key] = ours[rate]
            row[f"torch_{key}"] = best[rate]
            row[f"torch_{key}_layout"] = "channels_last" if best["channels_last"] else "nchw"
            row[f"{key}_ratio"] = ours[rate] / best[rate]
        row["parameters"] = ours["trainable_parameters"]
        row["torch_parameters"] = peers[0]["parameters"]
        rows.append(row)
    return rows


def format_table(results):
    env, peer = results["tensorflow"]["environment"], results["torch"]["environment"]
    names = []
    for row in results["comparison"]:
        name = row["model"] + (" (XLA)" if row["xla"] else "")
        name += " (bf16 train)" if row.get("bfloat16") else ""
        names.append(name + (" (bf16 grads)" if row.get("bfloat16_gradients") else ""))
    width = max([22, *map(len, names)])
    lines = [
        f"CPU {env.get('cpu_model') or 'unknown'}; flags: "
        + (", ".join(env.get("cpu_flags") or []) or "none of note"),
        f"TensorFlow {env['tensorflow']} (intra-op threads "
        f"{env['intra_op_threads'] or 'auto'} of {env['cpu_count']} CPUs), PyTorch "
        f"{peer['torch']} ({peer['threads']} threads); batch {results['batch']} x "
        f"{results['frames']} frames" + (", tiny sizes" if results["tiny"] else ""),
        f"{'model':{width}s} {'train fr/s':>10s} {'PyTorch':>9s} {'ratio':>6s} "
        f"{'infer fr/s':>10s} {'PyTorch':>9s} {'ratio':>6s}",
    ]
    for name, row in zip(names, results["comparison"], strict=True):
        lines.append(
            f"{name:{width}s} {row['train']:10.1f} {row['torch_train']:9.1f} "
            f"{row['train_ratio']:5.2f}x {row['infer']:10.1f} {row['torch_infer']:9.1f} "
            f"{row['infer_ratio']:5.2f}x"
        )
    for row in results["comparison"]:
        if row["model"] == "visual":
            lines.append(
                f"visual, PyTorch's faster layout: training {row['torch_train_layout']}, "
                f"inference {row['torch_infer_layout']}"
            )
    return "\n".join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    unknown = [name for name in FLAGS.models if name not in MODELS]
    if unknown:
        raise app.UsageError(f"--models: unknown {unknown}; choose from {list(MODELS)}")
    shape = (FLAGS.models, FLAGS.batch, FLAGS.frames, FLAGS.repeats, FLAGS.warmup, FLAGS.tiny)
    if FLAGS.framework == "tensorflow":
        results = _tensorflow(*shape)
    elif FLAGS.framework == "torch":
        try:
            results = _torch(*shape)
        except ModuleNotFoundError as error:
            if error.name != "torch":
                raise
            raise app.UsageError("PyTorch is not installed: pip install -e '.[peer]'") from None
    else:
        passed = [
            f"--models={','.join(FLAGS.models)}",
            f"--batch={FLAGS.batch}",
            f"--frames={FLAGS.frames}",
            f"--repeats={FLAGS.repeats}",
            f"--warmup={FLAGS.warmup}",
            f"--tiny={FLAGS.tiny}",
        ]
        try:
            import torch  # noqa: F401  (checked before the long TensorFlow run)
        except ModuleNotFoundError:
            raise app.UsageError("PyTorch is not installed: pip install -e '.[peer]'") from None
        tensorflow = _child("tensorflow", passed)
        torch_results = _child("torch", passed)
        results = {
            "batch": FLAGS.batch,
            "frames": FLAGS.frames,
            "tiny": FLAGS.tiny,
            "tensorflow": tensorflow,
            "torch": torch_results,
            "comparison": compare(tensorflow, torch_results),
        }
        print(format_table(results))
    if FLAGS.json:
        from e2e_emotion.files import atomic_path

        with atomic_path(FLAGS.json) as temporary, open(temporary, "w") as stream:
            json.dump(results, stream, indent=2)
        if FLAGS.framework == "both":
            print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
