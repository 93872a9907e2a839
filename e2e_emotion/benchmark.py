"""Throughput of the models and the input pipeline, with counted FLOPs.

For each model (audio `paper`, audio `reference`, visual, multimodal) at the paper's
shapes (batch 2, 150 frames; both changeable): training frames/s (one optimizer step with
the CCC loss) and inference frames/s, each the median of several timed runs after a
warm-up; the forward FLOPs counted by TensorFlow's profiler on the traced graph (for the
FFT path, the FLOPs of the direct convolution it replaces are counted, so GFLOP/s is
"direct-equivalent"); and the machine's measured float32 matmul rate for comparison. The
input pipeline's frames/s is read from the synthetic corpus shards with augmentation.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from e2e_emotion.config import has_frame_convolutions
from e2e_emotion.cpu import CPU_FLAGS, cpu_info
from e2e_emotion.losses import ccc_loss
from e2e_emotion.models import build_model, fold_batch_norm
from e2e_emotion.models.speech import set_gradient_dtype
from e2e_emotion.timing import timed_runs
from tfrecords_tools.schema import FRAME_LENGTH

MODELS = {
    "audio_paper_fft": ("audio", {"speech_preset": "paper", "conv2_method": "fft"}),
    "audio_paper_direct": ("audio", {"speech_preset": "paper", "conv2_method": "direct"}),
    "audio_reference": ("audio", {"speech_preset": "reference"}),
    "visual": ("visual", {}),
    "multimodal": ("multimodal", {"speech_preset": "paper", "conv2_method": "fft"}),
}
# Small layer sizes for a smoke run (the test suite): same graph structure.
TINY = {"stem_filters": 4, "stage_blocks": [1, 1], "stage_filters": [4, 8], "lstm_units": 8}
TINY_PAPER_KERNEL = 300


def _inputs(modality, batch, frames, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {}
    if modality in ("audio", "multimodal"):
        audio = rng.normal(0, 0.1, (batch, frames, FRAME_LENGTH)).astype("float32")
        inputs["audio"] = tf.constant(audio)
    if modality in ("visual", "multimodal"):
        video = rng.uniform(0, 1, (batch, frames, 96, 96, 3)).astype("float32")
        inputs["video"] = tf.constant(video)
    labels = tf.constant(rng.uniform(-1, 1, (batch, frames, 2)).astype("float32"))
    return inputs, labels


def _median_seconds(function, repeats, warmup):
    return statistics.median(timed_runs(function, repeats, warmup))


def counted_flops(model, inputs):
    """Forward FLOPs of ``model`` on ``inputs`` counted by the TF profiler (multiply-add = 2)."""
    specs = {k: tf.TensorSpec(v.shape, v.dtype) for k, v in inputs.items()}
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    profile = tf.compat.v1.profiler.profile(graph=concrete.graph, options=options)
    return int(profile.total_float_ops)


def matmul_gflops(size=2048, repeats=5):
    """Measured float32 matmul rate of this machine (GFLOP/s)."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    seconds = _median_seconds(lambda: product().numpy(), repeats, 2)
    return 2 * size**3 / seconds / 1e9


def benchmark_model(
    name,
    batch=2,
    frames=150,
    repeats=3,
    warmup=1,
    model_kwargs=None,
    jit_compile=False,
    mixed_precision=False,
    infer_mixed_precision=None,
    bfloat16_gradients=False,
):
    """Training and inference frames/s and GFLOP/s of one model configuration; inference
    in ``mixed_bfloat16`` when ``infer_mixed_precision`` (None: as ``mixed_precision``);
    ``bfloat16_gradients``: as ``bin/train.py --bfloat16_gradients``."""
    if infer_mixed_precision is None:
        infer_mixed_precision = mixed_precision
    modality, defaults = MODELS[name]
    keras.utils.set_random_seed(0)
    previous = keras.mixed_precision.global_policy()
    if mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model(modality, **{**defaults, **(model_kwargs or {})})
    finally:
        keras.mixed_precision.set_global_policy(previous)
    if bfloat16_gradients and not set_gradient_dtype(model, "bfloat16"):
        raise ValueError(f"bfloat16_gradients: {name} has no `reference` speech network")
    inputs, labels = _inputs(modality, batch, frames)
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function(jit_compile=jit_compile)
    def train_step():
        with tf.GradientTape() as tape:
            loss = ccc_loss(labels, model(inputs, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    # As prediction and export infer (here in the precision asked for).
    inference_model = fold_batch_norm(
        model, "mixed_bfloat16" if infer_mixed_precision else "float32"
    )

    @tf.function(jit_compile=jit_compile)
    def infer():
        return inference_model(inputs, training=False)

    flops = counted_flops(_direct_twin(model, modality, defaults, model_kwargs), inputs)
    total = batch * frames
    row = {"model": name, "batch": batch, "frames": frames, "parameters": model.count_params()}
    row["bfloat16_gradients"] = bfloat16_gradients
    row["trainable_parameters"] = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    row["forward_gflop"] = flops / 1e9
    for key, function in (("train", train_step), ("infer", infer)):
        try:
            seconds = _median_seconds(lambda f=function: f().numpy(), repeats, warmup)
        except tf.errors.ResourceExhaustedError as error:
            # E.g. large batches: recorded, not fatal (the other models still run).
            row[f"{key}_error"] = "out of memory: " + error.message.splitlines()[0][:160]
            continue
        row[f"{key}_s"] = seconds
        row[f"{key}_frames_per_s"] = total / seconds
        factor = 3 if key == "train" else 1  # backward ~ twice the forward
        row[f"{key}_gflop_per_s"] = factor * flops / seconds / 1e9
    return row


def _direct_twin(model, modality, defaults, model_kwargs):
    """The same model with direct convolutions (FLOPs of FFT ops are not counted by TF)."""
    kwargs = {**defaults, **(model_kwargs or {})}
    if kwargs.get("conv2_method") != "fft":
        return model
    twin = build_model(modality, **{**kwargs, "conv2_method": "direct"})
    twin.set_weights(model.get_weights())
    return twin


def run(
    names,
    batch=2,
    frames=150,
    repeats=3,
    warmup=1,
    tiny=False,
    jit_compile=False,
    mixed_precision=False,
    bfloat16_gradients=False,
    pipeline=True,
    records=None,
    time_split=True,
    conv_kernels=(),
    conversion_seconds=0.0,
    conversion_image_size=320,
    conversion_fps=25.0,
):
    """Every measurement of ``bin/benchmark.py``; returns a JSON-serializable dict.

    ``conversion_seconds > 0`` also times the conversion of one synthetic recording of that
    length (``conversion_image_size`` pixels a side, ``conversion_fps`` video with audio,
    faces found by the default detector, one process) into records:
    ``results["conversion"]``.
    """
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise ValueError(f"--models: unknown {unknown}; choose from {sorted(MODELS)}")
    results = {
        "environment": environment(),
        "shapes": {"batch": batch, "frames": frames},
        "tiny": tiny,
        "jit_compile": jit_compile,
        "mixed_precision": mixed_precision,
        "bfloat16_gradients": bfloat16_gradients,
        "matmul_gflop_per_s": matmul_gflops(512 if tiny else 2048),
        "models": [],
        "pipeline": [],
    }
    for name in names:
        sizes = None
        if tiny:
            sizes = dict(TINY)
            if MODELS[name][1].get("speech_preset") == "paper":
                sizes["conv2_kernel"] = TINY_PAPER_KERNEL
        results["models"].append(
            benchmark_model(
                name,
                batch,
                frames,
                repeats,
                warmup,
                sizes,
                jit_compile,
                mixed_precision,
                bfloat16_gradients=bfloat16_gradients and has_frame_convolutions(*MODELS[name]),
            )
        )
    results["fft_speedup"] = fft_speedup(results["models"])
    results["time_split"] = []
    if time_split:
        for name in names:
            if MODELS[name][0] == "audio" and "paper" in name:
                sizes = {**TINY, "conv2_kernel": TINY_PAPER_KERNEL} if tiny else None
                results["time_split"].append(
                    speech_time_split(name, batch, frames, repeats, warmup, sizes)
                )
    results["conversion"] = None
    if conversion_seconds > 0:
        from tfrecords_tools.commands import benchmark_conversion

        results["conversion"] = benchmark_conversion(
            seconds=conversion_seconds, image_size=conversion_image_size, fps=conversion_fps
        )
    results["long_conv"] = [
        long_conv_seconds(kernel, batch, frames, repeats, warmup) for kernel in conv_kernels
    ]
    if pipeline:
        records = records or synthetic_records(seconds=4.0 if tiny else 20.0)
        for modality in dict.fromkeys(MODELS[name][0] for name in names):
            results["pipeline"].append(
                benchmark_pipeline(
                    records,
                    modality,
                    batch,
                    min(frames, 50 if tiny else frames),
                    batches=3 if tiny else 20,
                )
            )
    return results


def fft_speedup(rows):
    """``{"train": x, "infer": x}``: FFT over direct frames/s of the `paper` audio model
    (None for a figure that is missing: model not run, or out of memory)."""
    by_name = {row["model"]: row for row in rows}
    fft, direct = by_name.get("audio_paper_fft"), by_name.get("audio_paper_direct")
    if fft is None or direct is None:
        return None
    speedup = {}
    for key in ("train", "infer"):
        rate = f"{key}_frames_per_s"
        both = rate in fft and rate in direct
        speedup[key] = fft[rate] / direct[rate] if both else None
    return speedup


def format_table(results):
    """The results as a readable table."""
    env = results["environment"]
    lines = [
        f"TensorFlow {env['tensorflow']}, Keras {env['keras']}, {env['cpu_count']} CPUs "
        f"(intra-op threads {env['intra_op_threads'] or 'auto'}), GPUs {env['gpus']}; "
        f"batch {results['shapes']['batch']} x {results['shapes']['frames']} frames"
        + (", XLA" if results["jit_compile"] else "")
        + (", mixed_bfloat16" if results["mixed_precision"] else "")
        + (", bfloat16 convolution gradients" if results.get("bfloat16_gradients") else "")
        + (", tiny sizes" if results["tiny"] else ""),
        f"CPU {env.get('cpu_model') or 'unknown'}; flags: "
        + (", ".join(env.get("cpu_flags") or []) or "none of " + ", ".join(CPU_FLAGS)),
        f"float32 matmul: {results['matmul_gflop_per_s']:.1f} GFLOP/s",
    ]
    if results["models"]:
        lines.append(
            f"{'model':22s} {'train fr/s':>10s} {'infer fr/s':>10s} {'fwd GFLOP':>10s} "
            f"{'train GF/s':>10s} {'infer GF/s':>10s}"
        )

    def cell(row, key):
        return f"{row[key]:10.1f}" if key in row else f"{'OOM':>10s}"

    for row in results["models"]:
        lines.append(
            f"{row['model']:22s} {cell(row, 'train_frames_per_s')} "
            f"{cell(row, 'infer_frames_per_s')} {row['forward_gflop']:10.1f} "
            f"{cell(row, 'train_gflop_per_s')} {cell(row, 'infer_gflop_per_s')}"
        )
    speedup = results.get("fft_speedup")
    if speedup:
        figures = ", ".join(
            f"{key} {'n/a' if value is None else f'{value:.1f}x'}" for key, value in speedup.items()
        )
        lines.append(f"audio paper, FFT over direct convolution: {figures}")
    for row in results["time_split"]:
        parts = ", ".join(f"{part} {seconds:.3f} s" for part, seconds in row["parts_s"].items())
        lines.append(f"forward split, {row['model']} ({row['forward_s']:.3f} s): {parts}")
    for row in results.get("long_conv", []):
        lines.append(
            f"conv2 alone, {row['kernel_size']} taps: forward FFT {row['fft_forward_s']:.3f} s / "
            f"direct {row['direct_forward_s']:.3f} s, forward+backward FFT "
            f"{row['fft_train_s']:.3f} s / direct {row['direct_train_s']:.3f} s"
        )
    for row in results["pipeline"]:
        lines.append(f"input pipeline ({row['modality']}): {row['frames_per_s']:.0f} frames/s")
    conversion = results.get("conversion")
    if conversion:
        lines.append(
            f"conversion to records ({conversion['recording_seconds']:g} s of "
            f"{conversion['image_size']}-pixel {conversion['fps']:g} fps video with audio, "
            f"faces detected, 1 process): {conversion['convert_total_s']:.1f} s, "
            f"{conversion['frames_per_second']:.1f} frames/s of 40 ms, "
            f"{conversion['realtime_factor']:.1f}x real time, face missed in "
            f"{100 * conversion['face_missed_fraction']:.1f}% of frames"
        )
    return "\n".join(lines)


SPEECH_PARTS = (
    ("conv1 + pool1", "speech_pool1"),
    ("conv2", "speech_conv2"),
    ("channel pool", "speech_features"),
)


def speech_time_split(name, batch=2, frames=150, repeats=3, warmup=1, model_kwargs=None):
    """Forward seconds of each part of an audio model (prefix differences, median runs).

    Parts: the first convolution with its pooling, the second convolution, the channel
    pooling, and the recurrent head (the rest of the model).
    """
    modality, defaults = MODELS[name]
    if modality != "audio":
        raise ValueError(f"time split is for audio models, not {name!r}")
    model = build_model(modality, **{**defaults, **(model_kwargs or {})})
    inputs, _ = _inputs(modality, batch, frames)
    speech = model.speech_network
    audio = inputs["audio"]
    previous, split = 0.0, {}
    for part, layer_name in SPEECH_PARTS:
        prefix = keras.Model(speech.input, speech.get_layer(layer_name).output)
        forward = tf.function(lambda x, prefix=prefix: prefix(x, training=False))
        seconds = _median_seconds(lambda f=forward: f(audio).numpy(), repeats, warmup)
        split[part] = max(seconds - previous, 0.0)
        previous = seconds
    whole = tf.function(lambda x: model(x, training=False))
    total = _median_seconds(lambda: whole(inputs).numpy(), repeats, warmup)
    split["recurrent head"] = max(total - previous, 0.0)
    return {"model": name, "forward_s": total, "parts_s": split}


def long_conv_seconds(kernel_size, batch=2, frames=150, repeats=3, warmup=1, channels=40):
    """Seconds of the `paper` model's second convolution alone, FFT vs direct, for one
    kernel length: forward, and forward + backward (gradients of input and kernel).

    Shapes as in the model: ``frames * 320`` samples (8 kHz after the first pooling) and
    ``channels -> channels``. Where the FFT wins decides ``speech.FFT_MIN_KERNEL``.
    """
    from e2e_emotion.models.long_conv import direct_conv1d_same, fft_conv1d_same

    rng = np.random.default_rng(kernel_size)
    x = tf.constant(rng.normal(size=(batch, frames * 320, channels)).astype("float32"))
    w = tf.constant(rng.normal(size=(kernel_size, channels, channels)).astype("float32"))
    probe = tf.constant(rng.normal(size=x.shape).astype("float32"))
    row = {"kernel_size": kernel_size, "batch": batch, "frames": frames}
    for method, convolve in (("fft", fft_conv1d_same), ("direct", direct_conv1d_same)):

        def gradients(convolve=convolve):
            with tf.GradientTape() as tape:
                tape.watch([x, w])
                loss = tf.reduce_sum(convolve(x, w) * probe)
            return tape.gradient(loss, [x, w])

        forward, train = tf.function(lambda c=convolve: c(x, w)), tf.function(gradients)
        row[f"{method}_forward_s"] = _median_seconds(lambda f=forward: f().numpy(), repeats, warmup)
        row[f"{method}_train_s"] = _median_seconds(
            lambda f=train: [g.numpy() for g in f()], repeats, warmup
        )
    return row


def benchmark_pipeline(records, modality, batch=2, frames=150, batches=20):
    """Frames/s the training input pipeline delivers (with augmentation)."""
    from e2e_emotion.data import SequenceConfig, training_dataset

    config = SequenceConfig(sequence_length=frames, batch_size=batch, hop=frames // 2)
    dataset = iter(training_dataset(records, "train", modality, config))
    next(dataset)  # warm-up: graph building and the first shuffle buffer fill
    started = time.perf_counter()
    for _ in range(batches):
        next(dataset)
    seconds = time.perf_counter() - started
    return {"modality": modality, "frames_per_s": batches * batch * frames / seconds}


def synthetic_records(work_dir=None, seconds=20.0):
    """Writes (once) a synthetic corpus and its records; returns the records directory."""
    from tfrecords_tools import commands, synthetic, writer

    work_dir = work_dir or os.path.join(tempfile.gettempdir(), "e2e_emotion_benchmark_data")
    corpus = os.path.join(work_dir, "corpus")
    records = os.path.join(work_dir, "records")
    if not os.path.exists(os.path.join(corpus, synthetic.MARKER_FILE)):
        synthetic.write_synthetic_corpus(
            corpus,
            num_train=2,
            num_dev=1,
            num_test=0,
            seconds=seconds,
            image_size=96,
            overwrite=True,
        )
    if not os.path.exists(os.path.join(records, "metadata.json")):
        options = writer.ConversionOptions(name="bench", face_mode="centre", processes=2)
        commands.make_tfrecords(
            "avec2016",
            corpus,
            records,
            options,
            overwrite=True,
            progress=False,
            splits=("train", "dev"),
        )
    return records


def environment():
    cpu = cpu_info()
    return {
        "cpu_model": cpu["model"],
        "cpu_flags": cpu["flags"],
        "tensorflow": tf.__version__,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "gpus": len(tf.config.list_physical_devices("GPU")),
    }
