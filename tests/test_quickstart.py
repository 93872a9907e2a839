"""The main job end to end on a tiny built-in corpus, and on a corpus it did not write."""

import json
import os

import pytest

from e2e_emotion import quickstart
from tfrecords_tools import synthetic


def test_three_models_and_the_results_table(tmp_path, capsys):
    result = quickstart.run_quickstart(
        str(tmp_path / "run"), steps=3, seconds=4.0, recordings=(2, 1, 1)
    )
    rows = result["rows"]
    best = json.loads((tmp_path / "run" / "multimodal_model" / "best" / "scores.json").read_text())
    # The multimodal model is rebuilt from the refitted audio model only if it kept its
    # late-fusion start (step 0); a head trained past it is not.
    refitted = ("multimodal, refit",) if best["step"] == 0 else ()
    assert [(r["model"], r["dimension"]) for r in rows] == [
        (model, dimension)
        for model in (
            "audio",
            "audio, refit",
            "visual",
            "multimodal",
            "multimodal, no video",
            *refitted,
        )
        for dimension in ("arousal", "valence")
    ]
    # The multimodal model, trained with its video dropped, is also scored without it.
    without = result["reports"]["multimodal, no video"]
    assert without["removed_streams"] == ["video"]
    assert rows[8]["dev"] == without["dev"]["overall"]["arousal"]["ccc"]
    assert rows[8]["baseline_dev"] is None
    for row in rows[:2] + rows[4:8]:  # raw dev CCC of the model and of the baseline
        for key in ("dev", "baseline_dev"):
            assert -1.0 <= row[key] <= 1.0, row
    # The refits trained on dev: their test CCC only.
    for row in rows[2:4] + rows[10:]:
        assert row["dev"] is None and row["baseline_dev"] is None and row["baseline_test"] is None
    refit = result["reports"]["audio, refit"]
    assert refit["model"].endswith(os.path.join("audio_refit_model", "final", "model.keras"))
    with open(tmp_path / "run" / "audio_refit_model" / "config.json") as stream:
        assert json.load(stream)["train_split"] == "train+dev"
    out = capsys.readouterr().out
    if refitted:
        assert result["reports"]["multimodal, refit"]["model"].endswith(
            os.path.join("multimodal_refit_model", "final", "model.keras")
        )
    else:
        assert f"kept a recurrent head trained to step {best['step']}, not its" in out
    # The table holds the reports' raw (not post-processed) numbers.
    for model, index in (("audio", 0), ("visual", 5), ("audio, refit", 2)):
        report = result["reports"][model]
        dimension = rows[index]["dimension"]
        if model != "audio, refit":
            assert rows[index]["dev"] == report["dev"]["overall"][dimension]["ccc"]
            assert (
                rows[index]["baseline_dev"] == report["baseline_dev"]["overall"][dimension]["ccc"]
            )
        if report.get("test") is not None:
            assert rows[index]["test"] == report["test"]["overall"][dimension]["ccc"]
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["rows"] == rows
    # Test labels are scored only when the corpus has them (test_labels/, withheld).
    labelled = saved["test_split"] == "test"
    assert all((row["test"] is not None) == labelled for row in rows)
    assert "raw CCC (no post-processing; models chosen on dev; a refit is trained on" in out
    # The paper's recipe: the multimodal model starts from the two unimodal ones.
    assert "speech network initialised from" in out and "visual network initialised from" in out
    # ... and its recurrent head from their heads, blended as best on dev (step 0).
    assert "recurrent head = late fusion of the unimodal heads: arousal " in out
    history = (tmp_path / "run" / "multimodal_model" / "logs" / "history.jsonl").read_text()
    assert json.loads(history.splitlines()[0])["step"] == 0
    # A fine-tuned model is kept only if no dimension is below that start on dev.
    first = json.loads(history.splitlines()[0])
    assert best["start"] == {f"ccc_{d}": first[f"dev_ccc_{d}"] for d in ("arousal", "valence")}
    assert all(best[f"ccc_{d}"] >= best["start"][f"ccc_{d}"] for d in ("arousal", "valence"))
    assert (tmp_path / "run" / "results.txt").read_text().strip() == result["text"]


def test_withheld_test_labels_are_put_beside_the_others(tmp_path):
    for dimension in ("arousal", "valence"):
        (tmp_path / "test_labels" / dimension).mkdir(parents=True)
        (tmp_path / "test_labels" / dimension / "test_1.arff").write_text(dimension)
    quickstart._score_test_once(str(tmp_path))
    for dimension in ("arousal", "valence"):
        copied = tmp_path / "ratings_gold_standard" / dimension / "test_1.arff"
        assert copied.read_text() == dimension


def test_a_corpus_in_the_avec_layout_without_test_labels(tmp_path):
    corpus = tmp_path / "theirs"
    synthetic.write_synthetic_corpus(corpus, 2, 1, 1, seconds=4.0, seed=3, image_size=96)
    result = quickstart.run_quickstart(
        str(tmp_path / "run"), modalities=("audio",), steps=2, corpus=str(corpus)
    )
    assert [r["model"] for r in result["rows"]] == ["audio"] * 2 + ["audio, refit"] * 2
    assert [r["test"] for r in result["rows"]] == [None] * 4
    assert all(isinstance(r["dev"], float) for r in result["rows"][:2])
    assert [r["dev"] for r in result["rows"][2:]] == [None, None]
    # Without a refit, the model chosen on dev alone.
    alone = quickstart.run_quickstart(
        str(tmp_path / "alone"), modalities=("audio",), steps=2, corpus=str(corpus), refit=False
    )
    assert [r["model"] for r in alone["rows"]] == ["audio", "audio"]
    assert not (tmp_path / "alone" / "audio_refit_model").exists()
    assert "         -" in result["text"]


def test_bad_modality_is_named(tmp_path):
    with pytest.raises(ValueError, match="--modalities: expected some of"):
        quickstart.run_quickstart(str(tmp_path), modalities=("audio", "speech"))


def test_bad_conditions_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"--conditions: expected one of .*got 'harsh'"):
        quickstart.run_quickstart(str(tmp_path / "run"), conditions="harsh")
    with pytest.raises(ValueError, match="--conditions=hard applies to the built-in corpus"):
        quickstart.run_quickstart(str(tmp_path / "run"), corpus=str(tmp_path), conditions="hard")
    assert not (tmp_path / "run").exists()


def test_the_built_in_corpus_is_written_with_the_conditions(tmp_path, monkeypatch):
    asked = {}

    class WrittenError(Exception):
        pass

    def write(root, **options):
        asked.update(options, root=root)
        raise WrittenError  # stop before converting and training

    monkeypatch.setattr(synthetic, "write_synthetic_corpus", write)
    with pytest.raises(WrittenError):
        quickstart.run_quickstart(str(tmp_path / "run"), seconds=5.0, conditions="hard")
    assert asked["conditions"] == "hard" and asked["seconds"] == 5.0
    assert asked["root"] == str(tmp_path / "run" / "corpus")


def test_a_corpus_written_with_other_conditions_is_not_reused(tmp_path):
    corpus = tmp_path / "run" / "corpus"
    corpus.mkdir(parents=True)
    (corpus / synthetic.MARKER_FILE).write_text(json.dumps({"conditions": "hard"}))
    with pytest.raises(ValueError, match="written with --conditions=hard; choose another"):
        quickstart.run_quickstart(str(tmp_path / "run"))
    (corpus / synthetic.MARKER_FILE).write_text(json.dumps({"seed": 0}))  # a default corpus
    with pytest.raises(ValueError, match="--conditions=hard, but .* --conditions=default"):
        quickstart.run_quickstart(str(tmp_path / "run"), conditions="hard")
    assert sorted(path.name for path in (tmp_path / "run").iterdir()) == ["corpus"]


def test_script_names_a_missing_corpus(tmp_path):
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    command = [sys.executable, os.path.join(root, "bin", "quickstart.py")]
    command += [f"--work_dir={tmp_path / 'run'}", f"--corpus={tmp_path / 'missing'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert f"error: AVEC 2016 root directory {tmp_path / 'missing'} does not exist" in result.stderr
