#!/usr/bin/env python
"""Leave-recordings-out cross-validation of a training setting on train + dev.

    python bin/cross_validate.py --records=data/records --work_dir=runs/cv_audio \
        --train_flags="--modality=audio --steps=300"

Splits the train and dev recordings into --folds folds (the test split is never used),
trains with bin/train.py on all folds but one and scores the held-out one, for each fold
in turn, then prints the dev CCC per fold and its mean and standard deviation: `last`
(the last evaluation, no choice made on the fold) and `best` (the evaluation kept, chosen
on the fold itself). With --nested each fold is held out as a test split instead, the run
chooses on a dev split dealt from the other folds, and `held_out` is its kept model's CCC
on the held-out fold. Re-running the same command resumes each fold's run.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import shlex
import subprocess
import sys

from absl import app, flags, logging

from tfrecords_tools.output_paths import register_output_checks

RECORDS = flags.DEFINE_string("records", None, "Directory written by bin/make_tfrecords.py.")
WORK_DIR = flags.DEFINE_string("work_dir", None, "Fold views, one model directory per fold.")
FOLDS = flags.DEFINE_integer("folds", 3, "Folds of the train + dev recordings.", lower_bound=2)
FOLD_SEED = flags.DEFINE_integer("fold_seed", 0, "Seed of the recordings' deal into folds.")
NESTED = flags.DEFINE_boolean(
    "nested",
    False,
    "Score the whole procedure: each fold is held out as a test split, the run chooses on a "
    "dev split dealt from the other folds, and its kept model is scored on the held-out "
    "fold (printed as held_out).",
)
TRAIN_FLAGS = flags.DEFINE_string(
    "train_flags", "", "Flags of bin/train.py for every fold (not --records / --model_dir)."
)
flags.mark_flags_as_required(["records", "work_dir"])
# A nested fold's kept model scored on its held-out recordings: raw CCC only.
EVALUATE_FLAGS = ["--nopostprocess", "--nobaseline", "--noplots"]
register_output_checks(flags, directories=["work_dir"])


def main(argv):
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from e2e_emotion.files import atomic_path
    from e2e_emotion.training import folds
    from tfrecords_tools.records import RecordsError

    extra = shlex.split(TRAIN_FLAGS.value)
    clash = [a for a in extra if a.split("=")[0] in ("--records", "--model_dir")]
    if clash:
        sys.exit(f"error: --train_flags may not set {', '.join(clash)}: each fold sets its own")
    try:
        views = folds.make_fold_views(
            RECORDS.value,
            os.path.join(WORK_DIR.value, "views"),
            FOLDS.value,
            FOLD_SEED.value,
            nested=NESTED.value,
        )
    except (folds.FoldError, RecordsError) as error:
        sys.exit(f"error: {error}")
    here = os.path.dirname(os.path.abspath(__file__))
    train, evaluate = os.path.join(here, "train.py"), os.path.join(here, "evaluate.py")
    scores = []
    for index, view in enumerate(views):
        model_dir = os.path.join(WORK_DIR.value, f"fold_{index}")
        command = [sys.executable, train, f"--records={view}", f"--model_dir={model_dir}", *extra]
        print(f"fold {index + 1}/{len(views)}: {shlex.join(command)}", flush=True)
        if subprocess.run(command).returncode != 0:
            sys.exit(f"error: fold {index} failed; its command is above")
        fold = folds.fold_scores(model_dir)
        if NESTED.value:
            output = os.path.join(model_dir, "held_out")
            command = [sys.executable, evaluate, f"--model={model_dir}", f"--records={view}"]
            command += ["--eval_split=test", f"--output_dir={output}", *EVALUATE_FLAGS]
            if subprocess.run(command).returncode != 0:
                sys.exit(f"error: scoring fold {index} failed; its command is above")
            try:
                fold["held_out"] = folds.held_out_scores(os.path.join(output, "report.json"))
            except folds.FoldError as error:
                sys.exit(f"error: {error}")
        scores.append(fold)
    summary = folds.fold_summary(scores)
    for kind in summary:
        for name, figures in summary[kind].items():
            per_fold = " ".join(f"{value:.3f}" for value in figures["folds"])
            print(
                f"{kind:8s} {name:8s} mean {figures['mean']:.3f} sd {figures['sd']:.3f} "
                f"(folds: {per_fold})"
            )
    result = {"train_flags": extra, "folds": FOLDS.value, "fold_seed": FOLD_SEED.value}
    result["nested"] = NESTED.value
    result["summary"] = summary
    path = os.path.join(WORK_DIR.value, "cross_validation.json")
    with atomic_path(path) as tmp, open(tmp, "w") as stream:
        json.dump(result, stream, indent=2)


if __name__ == "__main__":
    app.run(main)
