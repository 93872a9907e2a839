"""A small end-to-end demonstration on signals generated in memory.

Builds a model, trains it with the CCC loss on sequences whose waveform loudness
follows arousal and whose face-image brightness follows valence, reports CCC before
and after, then saves and reloads the model and checks the outputs are identical.
"""

from __future__ import annotations

import json
import os
import time

import keras
import numpy as np
import tensorflow as tf

from e2e_emotion.losses import ccc_loss
from e2e_emotion.metrics import ConcordanceCorrelation
from e2e_emotion.models import build_model, load_model


def smooth_curves(rng, batch, frames, dims=2):
    """Smooth curves in [-1, 1]: ``[batch, frames, dims]``, a few slow sinusoids each."""
    t = np.arange(frames)[None, :, None]
    curves = np.zeros((batch, frames, dims))
    for _ in range(3):
        period = rng.uniform(20, 80, (batch, 1, dims))
        phase = rng.uniform(0, 2 * np.pi, (batch, 1, dims))
        curves += np.sin(2 * np.pi * t / period + phase)
    return (curves / 3).astype("float32")


def demo_batch(modality, batch=4, frames=20, frame_length=640, image_size=96, seed=0):
    """``(inputs, labels)``: audio loudness follows arousal, image brightness valence."""
    rng = np.random.default_rng(seed)
    labels = smooth_curves(rng, batch, frames)
    inputs = {}
    if modality in ("audio", "multimodal"):
        t = np.arange(frames * frame_length) / 16000.0
        tone = np.sin(2 * np.pi * 220.0 * t).reshape(frames, frame_length)
        loudness = 0.05 + 0.2 * (1 + labels[..., :1])  # [batch, frames, 1]
        noise = rng.normal(0, 0.01, (batch, frames, frame_length))
        inputs["audio"] = (loudness * tone + noise).astype("float32")
    if modality in ("visual", "multimodal"):
        brightness = 0.5 + 0.4 * labels[..., 1, None, None, None]
        noise = rng.normal(0, 0.05, (batch, frames, image_size, image_size, 3))
        inputs["video"] = np.clip(brightness + noise, 0, 1).astype("float32")
    return inputs, labels


def evaluate_ccc(model, inputs, labels):
    metric = ConcordanceCorrelation()
    metric.update_state(labels, model(inputs, training=False))
    return {key: float(value) for key, value in metric.result().items()}


def run_demo(modality, speech_preset, steps, learning_rate, output_dir, model_kwargs, seed):
    """Trains ``steps`` Adam steps on one in-memory batch; returns a summary dict."""
    keras.utils.set_random_seed(seed)
    model = build_model(modality, speech_preset=speech_preset, **model_kwargs)
    inputs, labels = demo_batch(modality, seed=seed)
    optimizer = keras.optimizers.Adam(learning_rate)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = ccc_loss(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    before = evaluate_ccc(model, inputs, labels)
    print(f"{model.name}: {model.count_params():,} parameters; CCC before training {before}")
    start = time.perf_counter()
    for step in range(1, steps + 1):
        loss = float(train_step(inputs, labels))
        if step == 1 or step % 10 == 0 or step == steps:
            print(f"step {step:4d}  CCC loss {loss:.4f}")
    seconds = time.perf_counter() - start
    after = evaluate_ccc(model, inputs, labels)
    print(f"CCC after {steps} steps {after} ({seconds:.1f} s)")

    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, f"{modality}.keras")
    model.save(path)
    reloaded = load_model(path)
    difference = float(
        np.max(np.abs(reloaded(inputs).numpy() - model(inputs, training=False).numpy()))
    )
    print(f"saved {path}; reloaded model max |difference| = {difference}")
    summary = {
        "modality": modality,
        "speech_preset": speech_preset,
        "steps": steps,
        "ccc_before": before,
        "ccc_after": after,
        "train_seconds": seconds,
        "model_path": path,
        "reload_max_abs_difference": difference,
        "config": model.get_config(),
    }
    with open(os.path.join(output_dir, f"{modality}_summary.json"), "w") as stream:
        json.dump(summary, stream, indent=2)
    return summary
