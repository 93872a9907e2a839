"""The whole path on the built-in synthetic corpus, in a few minutes on 2 CPU cores.

synthetic corpus (WAV/MP4/ARFF, AVEC 2016 layout) -> TFRecords (face detection) ->
training (CCC loss, checkpoints, TensorBoard) -> evaluation (CCC table, AVEC
post-processing, handcrafted baseline) -> plots. Steps whose output already exists are
reused, so a second run only trains further or re-evaluates.
"""

from __future__ import annotations

import os
import time

from e2e_emotion.evaluation.report import evaluate_model
from e2e_emotion.training import TrainConfig, train
from tfrecords_tools import commands, synthetic, writer

# A small configuration of the paper's model that trains in about a minute on 2 cores.
QUICK_MODELS = {
    "audio": {"speech_preset": "reference", "lstm_units": 32},
    "visual": {
        "stem_filters": 8,
        "stage_blocks": [1, 1],
        "stage_filters": [8, 16],
        "lstm_units": 32,
    },
    "multimodal": {
        "speech_preset": "reference",
        "stem_filters": 8,
        "stage_blocks": [1, 1],
        "stage_filters": [8, 16],
        "lstm_units": 32,
    },
}


def run_quickstart(work_dir="runs/quickstart", modality="audio", steps=60, seconds=20.0, seed=0):
    """Runs every stage; returns the evaluation report (dict with ``text``)."""
    started = time.perf_counter()
    corpus = os.path.join(work_dir, "corpus")
    records = os.path.join(work_dir, "records")
    model_dir = os.path.join(work_dir, f"{modality}_model")
    if not os.path.exists(os.path.join(corpus, synthetic.MARKER_FILE)):
        print(f"[1/4] writing the synthetic corpus to {corpus}", flush=True)
        synthetic.write_synthetic_corpus(
            corpus, num_train=4, num_dev=2, num_test=1, seconds=seconds, seed=seed, image_size=96
        )
    if not os.path.exists(os.path.join(records, "metadata.json")):
        print(f"[2/4] converting it to TFRecords in {records}", flush=True)
        options = writer.ConversionOptions(name="synthetic", num_shards=2, processes=2)
        metadata = commands.make_tfrecords("avec2016", corpus, records, options)
        print(
            f"      faces not detected in {100 * metadata['face_missed_fraction']:.1f}% of frames"
        )
    print(f"[3/4] training the {modality} model in {model_dir}", flush=True)
    config = TrainConfig(
        records=records,
        model_dir=model_dir,
        modality=modality,
        model=QUICK_MODELS[modality],
        sequence={"sequence_length": 50, "hop": 25, "batch_size": 4},
        learning_rate=3e-3,
        steps=steps,
        checkpoint_every=20,
        eval_every=20,
        log_every=10,
        seed=seed,
    )
    train(config)
    output = os.path.join(model_dir, "evaluation")
    print(f"[4/4] evaluating on dev (post-processing applied to test) into {output}", flush=True)
    report = evaluate_model(
        model_dir, records, output, eval_split="dev", test_split="test", sequence_length=150
    )
    print(report["text"])
    dev = report["dev"]["overall"]
    print(
        f"\ndev CCC: arousal {dev['arousal']['ccc']:.3f}  valence {dev['valence']['ccc']:.3f}"
        f"  ({time.perf_counter() - started:.0f} s in all; report, plots and predictions "
        f"in {output})"
    )
    return report
