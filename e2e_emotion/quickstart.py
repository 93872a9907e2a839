"""The whole path on a corpus, in a few minutes on 2 CPU cores.

corpus (built-in synthetic one, or yours in the AVEC 2016 layout) -> TFRecords (face
detection) -> training of the audio, visual and multimodal models (CCC loss, raw dev CCC
at every evaluation, best model kept) -> evaluation (raw dev and test CCC beside the
handcrafted baseline, AVEC post-processing, plots) -> one results table. Steps whose
output already exists are reused, so a second run only trains further or re-evaluates.

Models are chosen on dev only; the test split is scored once, at the end, and never
used for any choice.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from e2e_emotion.data import RecordSource
from e2e_emotion.evaluation.report import baseline_reference, evaluate_model
from e2e_emotion.files import atomic_path
from e2e_emotion.modalities import MODALITIES
from e2e_emotion.training import TrainConfig, train
from tfrecords_tools import commands, synthetic, writer

# Models trained, in this order (the multimodal model starts from the other two).
QUICK_MODALITIES = MODALITIES
# Small configurations of the paper's models that train in minutes on 2 cores. The ResNet
# keeps the paper's bottleneck design at widths 16-64 (x4 expansion); at widths 8-16 it
# did not learn the synthetic faces' expressions in 400 steps (README, "What the
# quickstart measures").
_SMALL_RESNET = {"stem_filters": 16, "stage_blocks": [1, 1, 1], "stage_filters": [16, 32, 64]}
# Speech is level-normalised per recording, causally, with a 10 s prior (LevelNormalization):
# the recordings' levels differ and a 6 s window cannot tell a speaker's loudness base from
# arousal (dev arousal CCC 0.877 against 0.859 without; README, "What the quickstart
# measures").
_LEVEL_NORM = {"level_norm_frames": 250, "level_norm_db": -30.0}
# The multimodal model's head is the two unimodal heads side by side (32 + 32 units) when
# it starts from them (QUICK_INIT_HEAD).
QUICK_MODELS = {
    "audio": {"speech_preset": "reference", **_LEVEL_NORM, "lstm_units": 32},
    "visual": {**_SMALL_RESNET, "lstm_units": 32},
    "multimodal": {"speech_preset": "reference", **_LEVEL_NORM, **_SMALL_RESNET, "lstm_units": 64},
}
# How the multimodal head starts when both unimodal models were trained in the run: as
# their late fusion (per dimension the audio head's, the visual head's or the mean of the
# two outputs, whichever scores best on dev), then fine-tuned; the paper's random head gave
# dev 0.912 / 0.928 against 0.925 / 0.936 (README, "What the quickstart measures").
# Fine-tuning from that start is kept only if it scores at least the start on dev on both
# dimensions (select_above_start): on 6 training recordings its dev CCC swings between
# evaluations, and the best mean could trade one dimension for the other.
QUICK_INIT_HEAD = "late_fusion"
# Steps, Adam learning rate and warm-up per model (cosine decay to 0 at the last step; the
# multimodal model starts from the two unimodal ones, hence its lower rate). Chosen on
# the dev split of the built-in corpus (README, "What the quickstart measures"); no
# choice read the test split.
QUICK_STEPS = {"audio": 300, "visual": 800, "multimodal": 300}
QUICK_LEARNING_RATE = {"audio": 3e-3, "visual": 1e-3, "multimodal": 5e-4}
QUICK_WARMUP = {"audio": 20, "visual": 50, "multimodal": 20}
# Training windows per model. Speech needs context (pauses, rate, the speaker's range):
# 6 s windows (the paper's 150 frames), a random gain of +-6 dB (the recordings' levels
# differ) and speed perturbation of +-10% (other voices) gave the audio model its best dev
# CCC. The ResNet's BatchNorm and the batch CCC want many recordings per batch: the visual
# model trains on 16 windows of 12 frames (192 frames per step; 4 x 50 and 8 x 25 frames,
# about as many, learnt less and less stably on dev).
QUICK_SEQUENCE = {
    "audio": {
        "sequence_length": 150,
        "hop": 25,
        "batch_size": 4,
        "audio_gain_db": 6.0,
        "speed_perturb": 0.1,
    },
    "visual": {"sequence_length": 12, "hop": 12, "batch_size": 16},
    "multimodal": {"sequence_length": 150, "hop": 25, "batch_size": 2, "audio_gain_db": 6.0},
}
# The dev CCC that chooses each model: the audio model on arousal (its valence output
# carries nothing and would only add noise to the choice), the others on the mean.
QUICK_SELECT_ON = {"audio": "arousal", "visual": "mean", "multimodal": "mean"}
# Built-in corpus: recordings per split and their length.
QUICK_CORPUS = {"num_train": 6, "num_dev": 3, "num_test": 3}


def _score_test_once(corpus):
    """Puts the built-in corpus' withheld test labels (``test_labels/``) beside the others.

    The test split is then converted with its labels and scored once at the end; no choice
    reads it (models are chosen on dev, the post-processing is fitted on dev, the baseline
    on train).
    """
    withheld = os.path.join(corpus, synthetic.TEST_LABELS_DIR)
    for dimension in sorted(os.listdir(withheld)) if os.path.isdir(withheld) else []:
        target = os.path.join(corpus, "ratings_gold_standard", dimension)
        os.makedirs(target, exist_ok=True)
        for name in sorted(os.listdir(os.path.join(withheld, dimension))):
            shutil.copyfile(os.path.join(withheld, dimension, name), os.path.join(target, name))


def _check_conditions(corpus, conditions):
    """Refuses to reuse a built-in corpus written with other ``conditions``.

    The corpus and its records are reused when they exist, so a run asking for other
    conditions would silently train on the old ones.
    """
    marker = os.path.join(corpus, synthetic.MARKER_FILE)
    if not os.path.exists(marker):
        return
    with open(marker, encoding="utf-8") as stream:
        written = json.load(stream).get("conditions", "default")
    if written != conditions:
        raise ValueError(
            f"--conditions={conditions}, but the corpus in {corpus} was written with "
            f"--conditions={written}; choose another --work_dir"
        )


def _summary_rows(modality, report):
    """Rows (model, dimension, dev, test, baseline dev, baseline test) of one report."""
    rows = []
    for dimension in ("arousal", "valence"):

        def value(key, dimension=dimension):
            part = report.get(key)
            return None if part is None else part["overall"][dimension]["ccc"]

        rows.append(
            {
                "model": modality,
                "dimension": dimension,
                "dev": value("dev"),
                "test": value("test"),
                "baseline_dev": value("baseline_dev"),
                "baseline_test": value("baseline_test"),
            }
        )
    return rows


def format_results(rows):
    """The results table: raw CCC (no post-processing) of each model and the baseline."""

    def cell(number):
        return f"{number:>10.3f}" if number is not None else f"{'-':>10}"

    header = (
        f"{'model':<11}{'dimension':<10}{'dev':>10}{'test':>10}{'baseline':>10}{'baseline':>10}"
    )
    second = f"{'':<21}{'':>10}{'':>10}{'dev':>10}{'test':>10}"
    lines = ["raw CCC (no post-processing; models chosen on dev)", header, second]
    lines.append("-" * len(header))
    for row in rows:
        lines.append(
            f"{row['model']:<11}{row['dimension']:<10}{cell(row['dev'])}{cell(row['test'])}"
            f"{cell(row['baseline_dev'])}{cell(row['baseline_test'])}"
        )
    return "\n".join(lines)


def run_quickstart(
    work_dir="runs/quickstart",
    modalities=QUICK_MODALITIES,
    steps=None,
    seconds=30.0,
    seed=0,
    corpus=None,
    corpus_format="avec2016",
    recordings=None,
    conditions="default",
):
    """Runs every stage; returns ``{"rows": [...], "text": table, "reports": {...}}``.

    Args:
        work_dir: everything is written here.
        modalities: models to train, in order; the multimodal model is initialised from
            the audio and visual models when they are trained in the same run.
        steps: training steps for every model (default: ``QUICK_STEPS``).
        seconds: length of each built-in synthetic recording.
        seed: corpus, initialisation and data order.
        corpus: an existing corpus directory instead of the built-in one (read with
            ``corpus_format``, as ``bin/make_tfrecords.py`` does).
        corpus_format: ``avec2016``, ``recola`` or ``manifest`` for ``corpus``.
        recordings: ``(train, dev, test)`` recordings of the built-in corpus
            (default ``QUICK_CORPUS``).
        conditions: ``"default"`` or ``"hard"``, how the built-in corpus is recorded
            (``tfrecords_tools.synthetic.write_synthetic_corpus``); a corpus already in
            ``work_dir`` must have been written with the same.
    """
    started = time.perf_counter()
    unknown = [m for m in modalities if m not in QUICK_MODALITIES]
    if unknown or not modalities:
        raise ValueError(f"--modalities: expected some of {QUICK_MODALITIES}, got {modalities}")
    if conditions not in synthetic.CONDITIONS:
        raise ValueError(
            f"--conditions: expected one of {synthetic.CONDITIONS}, got {conditions!r}"
        )
    if corpus is not None and conditions != "default":
        raise ValueError(
            f"--conditions={conditions} applies to the built-in corpus only, not to "
            f"--corpus={corpus}"
        )
    records = os.path.join(work_dir, "records")
    if corpus is None:
        corpus = os.path.join(work_dir, "corpus")
        _check_conditions(corpus, conditions)
        if not os.path.exists(os.path.join(corpus, synthetic.MARKER_FILE)):
            print(f"[1/4] writing the synthetic corpus to {corpus}", flush=True)
            counts = dict(QUICK_CORPUS)
            if recordings is not None:
                counts = dict(zip(QUICK_CORPUS, recordings, strict=True))
            synthetic.write_synthetic_corpus(
                corpus, **counts, seconds=seconds, seed=seed, image_size=96, conditions=conditions
            )
            _score_test_once(corpus)
    else:
        print(f"[1/4] using the corpus in {corpus} ({corpus_format} layout)", flush=True)
    if not os.path.exists(os.path.join(records, "metadata.json")):
        print(f"[2/4] converting it to TFRecords in {records}", flush=True)
        options = writer.ConversionOptions(name="quickstart", num_shards=2, processes=2)
        metadata = commands.make_tfrecords(corpus_format, corpus, records, options)
        print(
            f"      no face found by {100 * metadata['face_missed_fraction']:.1f}% of the "
            "face-detector runs (all recordings together)"
        )
    source = RecordSource(records)
    has_test = "test" in source.metadata["splits"] and source.labelled("test")
    test_split = "test" if has_test else None
    rows, reports, model_dirs = [], {}, {}
    for index, modality in enumerate(modalities):
        model_dir = os.path.join(work_dir, f"{modality}_model")
        model_dirs[modality] = model_dir
        print(f"[3/4] training the {modality} model in {model_dir}", flush=True)
        reference = baseline_reference(records, modality)
        init = {}
        if modality == "multimodal":
            init = {
                f"init_{name}": model_dirs[source]
                for name, source in (("audio", "audio"), ("visual", "visual"))
                if source in model_dirs
            }
            if len(init) == 2:
                init["init_head"] = QUICK_INIT_HEAD
                init["select_above_start"] = QUICK_INIT_HEAD == "late_fusion"
        model_steps = steps or QUICK_STEPS[modality]
        config = TrainConfig(
            records=records,
            model_dir=model_dir,
            modality=modality,
            model=QUICK_MODELS[modality],
            sequence=QUICK_SEQUENCE[modality],
            select_on=QUICK_SELECT_ON[modality],
            learning_rate=QUICK_LEARNING_RATE[modality],
            lr_schedule="cosine",
            warmup_steps=min(QUICK_WARMUP[modality], model_steps // 2),
            steps=model_steps,
            checkpoint_every=max(1, model_steps // 5),
            eval_every=max(1, model_steps // 10),
            log_every=max(1, model_steps // 20),
            seed=seed + index,
            reference_scores=reference,
            **init,
        )
        train(config)
        output = os.path.join(model_dir, "evaluation")
        print(f"[4/4] evaluating the {modality} model into {output}", flush=True)
        report = evaluate_model(model_dir, records, output, eval_split="dev", test_split=test_split)
        reports[modality] = report
        rows.extend(_summary_rows(modality, report))
    text = format_results(rows)
    with atomic_path(os.path.join(work_dir, "results.json")) as tmp, open(tmp, "w") as stream:
        json.dump({"rows": rows, "test_split": test_split}, stream, indent=2)
    with atomic_path(os.path.join(work_dir, "results.txt")) as tmp, open(tmp, "w") as stream:
        stream.write(text + "\n")
    print("\n" + text)
    if test_split is None:
        print("(the test split has no labels: test columns are empty)")
    print(
        f"\n{time.perf_counter() - started:.0f} s in all; reports, plots and predictions in "
        f"{work_dir}/*_model/evaluation, the table in {work_dir}/results.txt"
    )
    return {"rows": rows, "text": text, "reports": reports}
