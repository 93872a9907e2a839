"""The whole path on a corpus, in a few minutes on 2 CPU cores.

corpus (built-in synthetic one, or yours in the AVEC 2016 layout) -> TFRecords (face
detection) -> training of the audio, visual and multimodal models (CCC loss, raw dev CCC
at every evaluation, best model kept) -> evaluation (raw dev and test CCC beside the
handcrafted baseline, AVEC post-processing, plots) -> one results table. Steps whose
output already exists are reused, so a second run only trains further or re-evaluates.

Models are chosen on dev only; the test split is scored once, at the end, and never
used for any choice. The audio model is then refitted on train + dev with the same
settings, and the multimodal model's late-fusion start rebuilt from it with the blend
chosen on dev (``e2e_emotion.training.refit``): these final models have no held-out dev
figure, only a test one.
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
from e2e_emotion.training.recipes import recipe
from e2e_emotion.training.refit import RefitError, late_fusion_refit, refit_config
from tfrecords_tools import commands, synthetic, writer

# Models trained, in this order (the multimodal model starts from the other two).
QUICK_MODALITIES = MODALITIES
# Every training setting is the training recipe's (e2e_emotion.training.recipes), as
# bin/train.py --recipe=small uses it; the quickstart adds the evaluation cadence.
QUICK_RECIPE = "small"
# Built-in corpus: recordings per split and their length.
QUICK_CORPUS = {"num_train": 6, "num_dev": 3, "num_test": 3}
# The results row of the multimodal model scored with its video removed.
WITHOUT_VIDEO = "multimodal, no video"
# The rows of the final models refitted on train + dev (e2e_emotion.training.refit): their
# dev CCC is not held out, so only their test CCC is shown.
AUDIO_REFIT = "audio, refit"
MULTIMODAL_REFIT = "multimodal, refit"


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


def _summary_rows(modality, report, held_out_dev=True):
    """Rows (model, dimension, dev, test, baseline dev, baseline test) of one report;
    ``held_out_dev=False``: the model trained on dev, whose dev CCC is then left out."""
    rows = []
    for dimension in ("arousal", "valence"):

        def value(key, dimension=dimension):
            part = report.get(key)
            return None if part is None else part["overall"][dimension]["ccc"]

        rows.append(
            {
                "model": modality,
                "dimension": dimension,
                "dev": value("dev") if held_out_dev else None,
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

    width = max([11] + [len(row["model"]) + 1 for row in rows])
    header = (
        f"{'model':<{width}}{'dimension':<10}{'dev':>10}{'test':>10}{'baseline':>10}"
        f"{'baseline':>10}"
    )
    second = f"{'':<{width + 10}}{'':>10}{'':>10}{'dev':>10}{'test':>10}"
    lines = ["raw CCC (no post-processing; models chosen on dev)", header, second]
    if any(row["model"] in (AUDIO_REFIT, MULTIMODAL_REFIT) for row in rows):
        lines[0] = (
            "raw CCC (no post-processing; models chosen on dev; a refit is trained on train + "
            "dev with the same settings, so it has no dev figure)"
        )
    lines.append("-" * len(header))
    for row in rows:
        lines.append(
            f"{row['model']:<{width}}{row['dimension']:<10}{cell(row['dev'])}{cell(row['test'])}"
            f"{cell(row['baseline_dev'])}{cell(row['baseline_test'])}"
        )
    return "\n".join(lines)


def _raw_report(model_dir, what, output, records, test_split, remove_streams=()):
    """The raw CCC report alone (no post-processing, baseline or plots) of a second look
    at a model: the refitted ones (only their test CCC counts: they trained on dev), or
    one with a stream removed."""
    output = os.path.join(model_dir, output)
    print(f"[4/4] evaluating {what} into {output}", flush=True)
    return evaluate_model(
        model_dir,
        records,
        output,
        eval_split="dev",
        test_split=test_split,
        postprocess=False,
        baseline=False,
        plots=False,
        remove_streams=remove_streams,
    )


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
    refit=True,
):
    """Runs every stage; returns ``{"rows": [...], "text": table, "reports": {...}}``.

    Args:
        work_dir: everything is written here.
        modalities: models to train, in order; the multimodal model is initialised from
            the audio and visual models when they are trained in the same run.
        steps: training steps for every model (default: the recipe's).
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
        refit: also refit the audio model on train + dev with the same settings, and
            rebuild the multimodal model's late-fusion start (its blend as chosen on dev)
            from it (``e2e_emotion.training.refit``): the final models, scored on test.
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
        settings = recipe(QUICK_RECIPE, modality, len(init) == 2, steps)
        model_steps = settings["steps"]
        config = TrainConfig(
            records=records,
            model_dir=model_dir,
            modality=modality,
            checkpoint_every=max(1, model_steps // 5),
            eval_every=max(1, model_steps // 10),
            log_every=max(1, model_steps // 20),
            seed=seed + index,
            reference_scores=reference,
            **settings,
            **init,
        )
        train(config)
        output = os.path.join(model_dir, "evaluation")
        print(f"[4/4] evaluating the {modality} model into {output}", flush=True)
        report = evaluate_model(model_dir, records, output, eval_split="dev", test_split=test_split)
        reports[modality] = report
        rows.extend(_summary_rows(modality, report))
        if refit and modality == "audio":
            refit_dir = os.path.join(work_dir, "audio_refit_model")
            print(f"[3/4] refitting the audio model on train + dev in {refit_dir}", flush=True)
            train(refit_config(config, refit_dir))
            model_dirs[AUDIO_REFIT] = refit_dir
            reports[AUDIO_REFIT] = _raw_report(
                refit_dir, "the refitted model", "evaluation", records, test_split
            )
            rows.extend(_summary_rows(AUDIO_REFIT, reports[AUDIO_REFIT], held_out_dev=False))
        if modality == "multimodal" and settings["sequence"].get("video_dropout"):
            # Trained to go on without a face: scored so too (the video removed).
            report = _raw_report(
                model_dir,
                "it with the video removed",
                "evaluation_without_video",
                records,
                test_split,
                remove_streams=("video",),
            )
            reports[WITHOUT_VIDEO] = report
            rows.extend(_summary_rows(WITHOUT_VIDEO, report))
        if modality == "multimodal" and AUDIO_REFIT in model_dirs and len(init) == 2:
            refit_dir = os.path.join(work_dir, "multimodal_refit_model")
            try:
                late_fusion_refit(
                    model_dir, model_dirs[AUDIO_REFIT], init["init_visual"], refit_dir
                )
            except RefitError as error:
                print(f"      no multimodal refit: {error}", flush=True)
            else:
                print(f"[3/4] its late fusion rebuilt from the refitted audio model in {refit_dir}")
                reports[MULTIMODAL_REFIT] = _raw_report(
                    refit_dir, "the refitted model", "evaluation", records, test_split
                )
                rows.extend(
                    _summary_rows(MULTIMODAL_REFIT, reports[MULTIMODAL_REFIT], held_out_dev=False)
                )
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
