"""The delay between predictions and gold standard that maximises the CCC (rater lag)."""

import json

import numpy as np
import pytest

from e2e_emotion.evaluation import (
    best_delay,
    ccc,
    format_table,
    score,
    score_recordings,
    write_report,
)
from e2e_emotion.evaluation.postprocess import shift_earlier
from e2e_emotion.evaluation.scores import delay_frames


def annotation(frames, seed):
    """A smooth, non-periodic annotation-like curve: a random walk under a 1 s mean."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(0, 1, frames + 24))
    curve = np.convolve(walk, np.ones(25) / 25, mode="valid")
    return 0.4 * (curve - curve.mean()) / np.abs(curve - curve.mean()).max()


def gold_lagging(gold, frames):
    """Predictions whose frame t equals the gold standard at t + frames (any sign): the
    gold standard lags them by ``frames``; the frames without a partner repeat the edge."""
    if frames >= 0:
        return shift_earlier(gold, frames)
    return np.concatenate([np.full(-frames, gold[0]), gold[:frames]])


@pytest.mark.parametrize("lag", [0, 1, 10, 30, 50, -1, -20, -50])
def test_a_known_lag_is_found_with_ccc_one_there(lag):
    gold = annotation(700, seed=abs(lag))
    predictions = gold_lagging(gold, lag)
    found = best_delay(predictions, gold, max_frames=50)
    assert found["delay_frames"] == lag
    assert found["delay_frames"] * 0.04 == pytest.approx(lag * 0.04)
    assert found["ccc"] == pytest.approx(1.0, abs=1e-12)
    assert found["range_frames"] == (-50, 50) and not found["limited"]
    if lag:
        assert ccc(predictions, gold) < found["ccc"] - 1e-5  # the raw CCC pays for the lag


def test_zero_lag_gives_zero_and_the_raw_ccc():
    rng = np.random.default_rng(3)
    gold = annotation(800, seed=3)
    predictions = gold + rng.normal(0, 0.1 * gold.std(), gold.shape)
    found = best_delay(predictions, gold, max_frames=50)
    assert found["delay_frames"] == 0
    assert found["ccc"] == ccc(predictions, gold)  # the same moments, the same number
    # A constant gold standard has CCC 0 at every delay: the tie goes to no delay.
    assert best_delay(predictions, np.full(800, 0.2), 50) == {
        "delay_frames": 0,
        "ccc": 0.0,
        "range_frames": (-50, 50),
        "limited": False,
    }


@pytest.mark.parametrize("seed", range(4))
def test_noise_keeps_the_estimate_within_one_frame(seed):
    rng = np.random.default_rng(100 + seed)
    lag = int(rng.integers(5, 45))  # 0.2 .. 1.8 s, raters' lags and beyond
    gold = annotation(2000, seed=seed)
    # Noise of 0.2 gold standard deviations (14 dB SNR): the CCC peak of a curve this
    # smooth is flat, so much heavier white noise moves it by more than a frame.
    predictions = gold_lagging(gold, lag) + rng.normal(0, 0.2 * gold.std(), gold.shape)
    found = best_delay(predictions, gold, max_frames=50)
    assert abs(found["delay_frames"] - lag) <= 1
    assert found["ccc"] > ccc(predictions, gold)


def test_negative_delays_can_be_left_out():
    gold = annotation(600, seed=8)
    predictions = gold_lagging(gold, -12)  # the predictions lag
    assert best_delay(predictions, gold, 50)["delay_frames"] == -12
    only_positive = best_delay(predictions, gold, 50, negative=False)
    assert only_positive["range_frames"] == (0, 50)
    assert only_positive["delay_frames"] >= 0 and only_positive["ccc"] < 0.999
    assert best_delay(gold_lagging(gold, 12), gold, 50, negative=False)["delay_frames"] == 12


def test_a_short_recording_is_searched_over_less_and_says_so():
    gold = annotation(40, seed=5)
    found = best_delay(gold_lagging(gold, 7), gold, max_frames=50)
    # 40 frames leave the minimum overlap of 25 frames up to a delay of 15.
    assert found["range_frames"] == (-15, 15) and found["limited"]
    assert found["delay_frames"] == 7 and found["ccc"] == pytest.approx(1.0, abs=1e-12)
    assert best_delay(gold, gold, 50, min_overlap=10)["range_frames"] == (-30, 30)
    # At most the minimum overlap: only delay 0, the raw CCC, rather than an error.
    tiny = annotation(20, seed=6)
    predictions = gold_lagging(tiny, 3)
    found = best_delay(predictions, tiny, max_frames=50)
    assert found == {
        "delay_frames": 0,
        "ccc": ccc(predictions, tiny),
        "range_frames": (0, 0),
        "limited": True,
    }
    assert best_delay(gold, gold, 0) == {
        "delay_frames": 0,
        "ccc": pytest.approx(1.0),
        "range_frames": (0, 0),
        "limited": False,
    }


def test_bad_arguments_are_named():
    gold = annotation(100, seed=1)
    with pytest.raises(ValueError, match="best_delay: max_frames must be >= 0 frames, got -1"):
        best_delay(gold, gold, -1)
    with pytest.raises(ValueError, match="max_frames must be an integer number of frames, got 2.5"):
        best_delay(gold, gold, 2.5)
    with pytest.raises(ValueError, match="max_frames must be an integer .* got True"):
        best_delay(gold, gold, True)
    with pytest.raises(ValueError, match="best_delay: min_overlap must be >= 1 frames, got 0"):
        best_delay(gold, gold, 10, min_overlap=0)
    with pytest.raises(ValueError, match="best_delay: lengths differ, 100 vs 99"):
        best_delay(gold, gold[:99], 10)
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at index 4"):
        best_delay(np.where(np.arange(100) == 4, np.nan, gold), gold, 10)
    for value in (-0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=f"max_delay_seconds must be .* got {value}"):
            delay_frames(value)
    with pytest.raises(ValueError, match="max_delay_seconds must be a number of seconds, got '2'"):
        delay_frames("2")
    pair = (np.stack([gold, gold], 1), np.stack([gold, gold], 1))
    with pytest.raises(ValueError, match="max_delay_seconds .* got -1.0"):
        score_recordings({"dev_1": pair}, max_delay_seconds=-1.0)


def test_delay_seconds_to_whole_frames():
    assert delay_frames(2.0) == 50
    assert delay_frames(0.12) == 3  # 0.12 / 0.04 is 2.9999999999999996 in floats
    assert delay_frames(0.5) == 12  # not a multiple of 40 ms: rounded down, 0.48 s
    assert delay_frames(0) == 0


def split_with_known_lags():
    """Three recordings whose arousal / valence predictions the gold standard lags by
    known frames: dev_1 +10 / -5, dev_2 +20 / 0, dev_3 +2 / +2 (30 frames: searched
    only up to 5 frames either way, leaving the minimum overlap of 25)."""
    lags = {"dev_1": (10, -5), "dev_2": (20, 0), "dev_3": (2, 2)}
    sizes = {"dev_1": 500, "dev_2": 400, "dev_3": 30}
    recordings = {}
    for index, (rid, pair) in enumerate(lags.items()):
        gold = np.stack([annotation(sizes[rid], seed=10 * index + d) for d in (0, 1)], 1)
        predictions = np.stack([gold_lagging(gold[:, d], pair[d]) for d in (0, 1)], 1)
        recordings[rid] = (predictions, gold)
    return recordings, lags


def test_score_recordings_reports_delays_beside_the_raw_scores(tmp_path):
    recordings, lags = split_with_known_lags()
    result = score_recordings(recordings)
    for rid, (predictions, gold) in recordings.items():
        scores = result["per_recording"][rid]
        for index, name in enumerate(("arousal", "valence")):
            assert scores[name]["best_delay_seconds"] == pytest.approx(lags[rid][index] * 0.04)
            assert scores[name]["ccc_at_best_delay"] == pytest.approx(1.0, abs=1e-12)
            # The headline CCC is the one at zero delay; the delay is never applied to it.
            assert scores[name]["ccc"] == ccc(predictions[:, index], gold[:, index])
        assert scores["delay_range_seconds"] == ([-2.0, 2.0] if rid != "dev_3" else [-0.2, 0.2])
    for name in ("arousal", "valence"):
        assert result["per_recording"]["dev_1"][name]["ccc"] < 0.999
    summary = result["delay"]
    assert summary["median_of_recordings"]["arousal"]["best_delay_seconds"] == pytest.approx(0.4)
    assert summary["median_of_recordings"]["valence"]["best_delay_seconds"] == pytest.approx(0.0)
    assert summary["max_delay_seconds"] == 2.0 and summary["range_seconds"] == [-2.0, 2.0]
    assert summary["negative_delays"] and summary["min_overlap_frames"] == 25
    assert "gold standard at frame t + delay" in summary["convention"]
    # The concatenated recordings are not one series: no delay for the overall scores.
    assert "best_delay_seconds" not in result["overall"]["arousal"]
    # Every other score is what it was: the same as score() of the same frames.
    assert result["overall"]["valence"]["ccc"] == pytest.approx(
        ccc(
            np.concatenate([pair[0][:, 1] for pair in recordings.values()]),
            np.concatenate([pair[1][:, 1] for pair in recordings.values()]),
        ),
        abs=1e-15,
    )

    path = tmp_path / "dev.json"
    write_report(path, result)
    loaded = json.loads(path.read_text())
    assert loaded["per_recording"]["dev_1"]["valence"]["best_delay_seconds"] == -0.2
    assert loaded["per_recording"]["dev_2"]["arousal"]["best_delay_seconds"] == 0.8
    assert loaded["delay"] == json.loads(json.dumps(summary))

    positive = score_recordings(recordings, max_delay_seconds=0.6, negative_delays=False)
    assert positive["delay"]["range_seconds"] == [0.0, 0.6]
    assert positive["per_recording"]["dev_1"]["arousal"]["best_delay_seconds"] == 0.4
    assert positive["per_recording"]["dev_2"]["arousal"]["best_delay_seconds"] == 0.6  # edge
    assert positive["per_recording"]["dev_1"]["valence"]["best_delay_seconds"] >= 0.0


def test_table_block_of_delays():
    recordings, _ = split_with_known_lags()
    result = score_recordings(recordings)
    blocks = format_table(result, "dev").split("\n\n")
    assert len(blocks) == 3
    delay = blocks[2].splitlines()
    assert delay[1].split() == ["best", "delay", *(["delay", "s", "CCC", "at", "d"] * 2)]
    rows = {line[:24].strip(): line[24:].split() for line in delay[3:-2]}
    assert rows == {
        "dev_1": ["+0.40", "1.0000", "-0.20", "1.0000"],
        "dev_2": ["+0.80", "1.0000", "+0.00", "1.0000"],
        "dev_3": ["+0.08", "1.0000", "+0.08", "1.0000"],
        "median of recordings": ["+0.40", "1.0000", "+0.00", "1.0000"],
    }
    assert len({len(line) for line in delay[1:-2] if not line.startswith("-")}) == 1  # aligned
    assert delay[-2].startswith("delay: the gold standard at t + delay against the prediction")
    assert delay[-1] == (
        "searched -2.00 .. +2.00 s; short recordings over less: dev_3 (-0.20 .. +0.20 s)"
    )
    # The raw CCC columns above are unchanged by the delays.
    main = blocks[0].splitlines()
    dev_1 = [line for line in main if line.startswith("dev_1")][0]
    assert f"{result['per_recording']['dev_1']['arousal']['ccc']:.4f}" in dev_1
    # score() of frames with ids (not necessarily in time order) has no delay block.
    ids = np.concatenate([np.full(len(pair[0]), rid) for rid, pair in recordings.items()])
    plain = score(
        np.concatenate([pair[0] for pair in recordings.values()]),
        np.concatenate([pair[1] for pair in recordings.values()]),
        ids,
    )
    assert len(format_table(plain).split("\n\n")) == 2


def test_the_evaluation_writes_the_delays_to_report_json(tmp_path, monkeypatch):
    """``evaluate_model`` on records, the model's predictions replaced by the gold
    standard at known lags: report.json and report.txt state those lags."""
    from conftest import write_records

    import e2e_emotion
    from e2e_emotion import training
    from e2e_emotion.evaluation.report import EvaluationError, evaluate_model

    records = write_records(
        str(tmp_path / "data"), modalities=("audio",), seconds=6.0, counts=(1, 2, 0)
    )[0]
    model_path = str(tmp_path / "audio.keras")
    e2e_emotion.build_model("audio", speech_preset="reference", lstm_units=8).save(model_path)
    lags = {"dev_1": (10, -5), "dev_2": (0, 20)}  # frames, (arousal, valence)
    predict_split = training.predict_split
    made = {}

    def lagged_gold(model, source, split, *args, **kwargs):
        _, labels = predict_split(model, source, split, *args, **kwargs)
        for rid, gold in labels.items():
            gold = gold.astype(np.float64)
            made[rid] = (
                np.stack([gold_lagging(gold[:, d], lags[rid][d]) for d in (0, 1)], 1),
                gold,
            )
        return {rid: pair[0] for rid, pair in made.items()}, labels

    monkeypatch.setattr(training, "predict_split", lagged_gold)
    output = tmp_path / "eval"
    evaluate_model(model_path, records, str(output), baseline=False, plots=False)
    report = json.loads((output / "report.json").read_text())
    dev = report["dev"]
    assert set(dev["per_recording"]) == {"dev_1", "dev_2"}
    for rid, (predictions, gold) in made.items():
        assert len(gold) == 150
        for index, name in enumerate(("arousal", "valence")):
            scores = dev["per_recording"][rid][name]
            assert scores["best_delay_seconds"] == pytest.approx(lags[rid][index] * 0.04)
            assert scores["ccc_at_best_delay"] == pytest.approx(1.0, abs=1e-9)
            assert scores["ccc"] == pytest.approx(ccc(predictions[:, index], gold[:, index]))
        assert dev["per_recording"][rid]["delay_range_seconds"] == [-2.0, 2.0]
    assert dev["per_recording"]["dev_1"]["arousal"]["ccc"] < 0.99  # raw: the lag costs
    medians = dev["delay"]["median_of_recordings"]
    assert medians["arousal"]["best_delay_seconds"] == pytest.approx(0.2)  # of 0.4 and 0
    assert medians["valence"]["best_delay_seconds"] == pytest.approx(0.3)  # of -0.2 and 0.8
    assert dev["delay"]["range_seconds"] == [-2.0, 2.0]
    # The post-processed scores state the delays left after the chain too.
    assert "best_delay_seconds" in report["dev_postprocessed"]["per_recording"]["dev_1"]["valence"]
    text = (output / "report.txt").read_text()
    assert "best delay" in text and "searched -2.00 .. +2.00 s" in text

    # The search range is the caller's; a bad one is refused before anything is written.
    evaluate_model(
        model_path,
        records,
        str(tmp_path / "positive"),
        postprocess=False,
        baseline=False,
        plots=False,
        max_delay_seconds=0.6,
        negative_delays=False,
    )
    positive = json.loads((tmp_path / "positive" / "report.json").read_text())["dev"]
    assert positive["delay"]["range_seconds"] == [0.0, 0.6]
    assert positive["per_recording"]["dev_1"]["arousal"]["best_delay_seconds"] == 0.4
    assert positive["per_recording"]["dev_2"]["valence"]["best_delay_seconds"] == 0.6  # edge
    with pytest.raises(EvaluationError, match="max_delay_seconds .* got -1.0"):
        evaluate_model(model_path, records, str(tmp_path / "bad"), max_delay_seconds=-1.0)
    assert not (tmp_path / "bad").exists()
