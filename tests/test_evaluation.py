"""Scores, AVEC post-processing and plots of ``e2e_emotion.evaluation``."""

import json
import os

import matplotlib.image
import numpy as np
import pytest

from e2e_emotion.evaluation import (
    PostProcessor,
    bias,
    ccc,
    format_table,
    label_statistics,
    median_filter,
    pearson,
    plot_predictions,
    plot_recordings,
    plot_training_curves,
    read_history,
    rmse,
    score,
    score_recordings,
    sd_ratio,
    shift_earlier,
    write_report,
)


def smooth_curve(frames, seed, amplitude=0.4):
    """A smooth annotation-like curve: a few slow sinusoids (periods 4-40 s at 25 fps)."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / 25.0
    periods = rng.uniform(4.0, 40.0, 4)
    phases = rng.uniform(0, 2 * np.pi, 4)
    weights = rng.uniform(0.3, 1.0, 4)
    curve = sum(
        w * np.sin(2 * np.pi * t / p + f) for w, p, f in zip(weights, periods, phases, strict=True)
    )
    return amplitude * curve / np.abs(curve).max()


def two_dims(frames, seed):
    return np.stack([smooth_curve(frames, seed), smooth_curve(frames, seed + 100)], axis=1)


def reference_ccc(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cov = np.mean((x - x.mean()) * (y - y.mean()))
    return 2 * cov / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)


# -- scores ---------------------------------------------------------------------------


def test_ccc_pearson_rmse_values():
    rng = np.random.default_rng(0)
    y = rng.normal(0.1, 0.3, 500)
    x = 0.7 * y + rng.normal(0.2, 0.2, 500)
    assert ccc(x, y) == pytest.approx(reference_ccc(x, y), abs=1e-12)
    assert ccc(x, y) == pytest.approx(ccc(y, x), abs=1e-15)
    assert pearson(x, y) == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-12)
    assert rmse(x, y) == pytest.approx(np.sqrt(np.mean((x - y) ** 2)), abs=1e-12)
    # Hand-computed: x = [1, 2, 3], y = [2, 3, 4]: var 2/3 each, cov 2/3, bias 1.
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(2 * (2 / 3) / (4 / 3 + 1))
    assert ccc(y, y) == pytest.approx(1.0)
    assert ccc(-y + 2 * y.mean(), y) == pytest.approx(-1.0)
    # CCC punishes bias and scale where Pearson does not.
    assert pearson(3 * y + 1, y) == pytest.approx(1.0)
    assert ccc(3 * y + 1, y) < 0.3


def test_bias_and_sd_ratio_explain_the_ccc_below_pearson():
    rng = np.random.default_rng(4)
    y = rng.normal(0.1, 0.3, 400)
    x = 0.6 * y + 0.25 + rng.normal(0, 0.05, 400)
    assert bias(x, y) == pytest.approx(x.mean() - y.mean(), abs=1e-12)
    assert sd_ratio(x, y) == pytest.approx(x.std() / y.std(), abs=1e-12)
    assert bias([1.0, 2.0, 3.0], [0.0, 0.0, 3.0]) == pytest.approx(1.0)
    assert sd_ratio([0.0, 2.0], [0.0, 1.0]) == pytest.approx(2.0)
    # CCC = PCC * 2 / (s + 1/s + u^2), u = bias / sqrt(sd_x sd_y): the CCC's losses.
    s = sd_ratio(x, y)
    u = bias(x, y) / np.sqrt(x.std() * y.std())
    assert ccc(x, y) == pytest.approx(pearson(x, y) * 2 / (s + 1 / s + u**2), abs=1e-12)
    assert ccc(x, y) < pearson(x, y) - 0.3
    # Constant gold standard: undefined, 0.0 (as the CCC) rather than NaN or infinity.
    assert sd_ratio(np.arange(5.0), np.ones(5)) == 0.0
    with pytest.raises(ValueError, match="sd_ratio: lengths differ"):
        sd_ratio(np.ones(3), np.ones(2))
    result = score(np.stack([x, y], 1), np.stack([y, y], 1), names=["arousal", "valence"])
    assert result["overall"]["arousal"]["bias"] == pytest.approx(bias(x, y))
    assert result["overall"]["valence"]["sd_ratio"] == pytest.approx(1.0)
    assert result["overall"]["valence"]["bias"] == 0.0


def test_zero_variance_cases_return_zero_not_nan():
    assert ccc(np.ones(10), np.ones(10)) == 0.0  # denominator 0
    assert ccc(np.ones(10), 2 * np.ones(10)) == 0.0  # denominator > 0, cov 0
    assert ccc(np.ones(10), np.arange(10.0)) == 0.0
    assert pearson(np.ones(10), np.arange(10.0)) == 0.0
    assert rmse(np.ones(4), np.ones(4)) == 0.0


def test_series_validation_names_the_fault():
    with pytest.raises(ValueError, match="lengths differ, 3 vs 4"):
        ccc(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"non-finite value \(nan\) at index 1"):
        pearson([1.0, np.nan, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="1-D"):
        rmse(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="empty"):
        ccc([], [])


def test_score_overall_per_recording_and_mean_of_recordings():
    rng = np.random.default_rng(1)
    labels = {rid: two_dims(200 + 50 * i, seed=i) for i, rid in enumerate(["dev_1", "dev_2"])}
    preds = {rid: 0.8 * y + rng.normal(0, 0.1, y.shape) for rid, y in labels.items()}
    result = score_recordings({rid: (preds[rid], labels[rid]) for rid in labels})

    all_pred = np.concatenate(list(preds.values()))
    all_labels = np.concatenate(list(labels.values()))
    assert result["num_frames"] == 450
    for index, name in enumerate(["arousal", "valence"]):
        overall = result["overall"][name]
        assert overall["ccc"] == pytest.approx(
            reference_ccc(all_pred[:, index], all_labels[:, index])
        )
        per = [result["per_recording"][rid][name]["ccc"] for rid in ("dev_1", "dev_2")]
        assert per[0] == pytest.approx(
            reference_ccc(preds["dev_1"][:, index], labels["dev_1"][:, index])
        )
        assert result["mean_of_recordings"][name]["ccc"] == pytest.approx(np.mean(per))
        assert overall["ccc"] != pytest.approx(np.mean(per), abs=1e-6)  # two different views
    assert result["overall"]["mean_ccc"] == pytest.approx(
        np.mean([result["overall"][n]["ccc"] for n in ("arousal", "valence")])
    )
    assert list(result["per_recording"]) == ["dev_1", "dev_2"]
    assert result["per_recording"]["dev_2"]["num_frames"] == 250

    # The frame-wise entry point with interleaved ids gives the same numbers.
    ids = np.array(["dev_1"] * 200 + ["dev_2"] * 250)
    order = np.random.default_rng(2).permutation(450)
    same = score(all_pred[order], all_labels[order], ids[order])
    assert set(same["per_recording"]) == {"dev_1", "dev_2"}
    for rid in ("dev_1", "dev_2"):
        assert same["per_recording"][rid]["valence"]["ccc"] == pytest.approx(
            result["per_recording"][rid]["valence"]["ccc"]
        )
    without_ids = score(all_pred, all_labels)
    assert without_ids["per_recording"] == {} and without_ids["mean_of_recordings"] is None
    assert "overall" in format_table(without_ids)


def test_score_agrees_with_streaming_training_metric():
    """The evaluation CCC and the Keras metric used in training are the same number."""
    from e2e_emotion.metrics import ConcordanceCorrelation

    rng = np.random.default_rng(3)
    labels = rng.normal(0.1, 0.3, (2, 300, 2))
    preds = 0.5 * labels + rng.normal(0, 0.2, labels.shape)
    metric = ConcordanceCorrelation()
    for batch in range(2):
        metric.update_state(labels[batch : batch + 1], preds[batch : batch + 1])
    streamed = metric.ccc().numpy()
    result = score(preds.reshape(-1, 2), labels.reshape(-1, 2))
    np.testing.assert_allclose(
        [result["overall"]["arousal"]["ccc"], result["overall"]["valence"]["ccc"]],
        streamed,
        rtol=1e-9,
    )


def test_score_validation_errors():
    good = np.zeros((5, 2))
    with pytest.raises(ValueError, match=r"predictions \(5, 2\) and labels \(4, 2\)"):
        score(good, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"shape \[frames, 2\].*\(5, 3\)"):
        score(np.zeros((5, 3)), np.zeros((5, 3)))
    bad = good.copy()
    bad[3, 1] = np.inf
    with pytest.raises(
        ValueError, match="labels has a non-finite value .* frame 3, dimension 'valence'"
    ):
        score(good, bad)
    with pytest.raises(ValueError, match=r"recording_ids.*\[5\]"):
        score(good, good, recording_ids=["a"] * 4)
    with pytest.raises(ValueError, match="recording 'dev_9'"):
        score_recordings({"dev_9": (np.zeros((3, 2)), np.zeros((4, 2)))})
    with pytest.raises(ValueError, match="no recordings"):
        score_recordings({})


def test_format_table_and_json_report(tmp_path):
    labels = {"dev_1": two_dims(100, 0), "dev_2": two_dims(120, 1)}
    preds = {rid: 0.5 * y + 0.05 for rid, y in labels.items()}
    result = score_recordings({rid: (preds[rid], labels[rid]) for rid in labels})
    table = format_table(result, title="dev, raw")
    main, level, _ = (part.splitlines() for part in table.split("\n\n"))  # delays: test_lag
    assert main[0] == "dev, raw"
    assert any(line.startswith("dev_1") for line in main)
    assert any(line.startswith("mean of recordings") for line in main)
    assert f"{result['overall']['arousal']['ccc']:.4f}" in main[-1]
    assert main[-1].startswith("overall") and main[-1].rstrip().endswith("220")
    assert len({len(line) for line in main[2:] if not line.startswith("-")}) == 1  # aligned
    # Below: bias and sd ratio per dimension, the same rows (0.5 y + 0.05: half the scale).
    assert level[1].split() == [
        "level",
        "and",
        "scale",
        "bias",
        "sd",
        "ratio",
        "bias",
        "sd",
        "ratio",
    ]
    rows = {line[:24].strip(): line[24:].split() for line in level[3:]}
    assert list(rows) == ["dev_1", "dev_2", "mean of recordings", "overall (all frames)"]
    for rid in ("dev_1", "dev_2"):
        for index in range(2):
            expected = preds[rid][:, index].mean() - labels[rid][:, index].mean()
            assert float(rows[rid][2 * index]) == pytest.approx(expected, abs=5e-5)
            assert rows[rid][2 * index + 1] == "0.5000"
    assert len({len(line) for line in level[1:] if not line.startswith("-")}) == 1  # aligned
    # A result scored before bias, sd ratio and delays existed prints without those blocks.
    old = json.loads(json.dumps(result))
    del old["delay"]
    for scores in [old["overall"], old["mean_of_recordings"], *old["per_recording"].values()]:
        for name in ("arousal", "valence"):
            del scores[name]["bias"], scores[name]["sd_ratio"]
    assert format_table(old).splitlines() == main[1:]

    path = tmp_path / "reports" / "dev.json"
    assert write_report(path, result) == str(path)
    loaded = json.loads(path.read_text())
    assert loaded["overall"]["valence"]["ccc"] == pytest.approx(result["overall"]["valence"]["ccc"])
    assert loaded["per_recording"]["dev_2"]["num_frames"] == 120
    assert os.listdir(path.parent) == ["dev.json"]  # no temporary file left behind
    # NumPy values become plain numbers; NaN is refused with its key.
    write_report(path, {"a": np.float32(0.5), "b": np.arange(2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1]}
    with pytest.raises(ValueError, match=r"\['x'\] is nan"):
        write_report(path, {"x": float("nan")})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1]}  # old file intact


# -- post-processing ------------------------------------------------------------------


def test_median_filter_and_shift_values():
    signal = np.array([0.0, 0.0, 5.0, 0.0, 0.0, 1.0, 1.0, -7.0, 1.0, 1.0])
    np.testing.assert_array_equal(median_filter(signal, 3), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    # Edges repeat the end values: a ramp stays a ramp, end values are kept.
    np.testing.assert_array_equal(median_filter(np.arange(6.0), 5), np.arange(6.0))
    np.testing.assert_array_equal(median_filter(signal, 1), signal)
    np.testing.assert_array_equal(shift_earlier(np.arange(5.0), 2), [2, 3, 4, 4, 4])
    np.testing.assert_array_equal(shift_earlier(np.arange(3.0), 7), [2, 2, 2])
    np.testing.assert_array_equal(shift_earlier(np.arange(3.0), 0), [0, 1, 2])
    # Negative: later, the first value repeated in front.
    np.testing.assert_array_equal(shift_earlier(np.arange(5.0), -2), [0, 0, 0, 1, 2])
    np.testing.assert_array_equal(shift_earlier(np.arange(3.0), -7), [0, 0, 0])
    with pytest.raises(ValueError, match=r"median_filter: expected a 1-D array, got shape \(2, 3"):
        median_filter(np.zeros((2, 3)), 3)
    with pytest.raises(ValueError, match=r"shift_earlier: expected a 1-D array, got shape \(\)"):
        shift_earlier(1.0, 1)


def delayed_split(num_recordings, delay, seed, noise=0.05, frames=500):
    """Labels = smooth curves; predictions = the labels ``delay`` frames late, plus noise."""
    rng = np.random.default_rng(seed)
    labels, preds = {}, {}
    for index in range(num_recordings):
        rid = f"rec_{seed}_{index}"
        y = two_dims(frames + delay, seed=seed * 10 + index)
        labels[rid] = y[delay:]  # the gold standard at time t ...
        preds[rid] = y[:frames] + rng.normal(0, noise, (frames, 2))  # ... predicted at t + delay
    return preds, labels


TRAIN_STATS = {"arousal": {"mean": 0.0, "std": 0.25}, "valence": {"mean": 0.0, "std": 0.25}}


def test_fit_recovers_a_known_shift_and_improves_ccc():
    preds, labels = delayed_split(3, delay=12, seed=1, noise=0.02)
    for shifts in (range(0, 101, 4), range(0, 40)):  # the default grid, and every frame
        post = PostProcessor().fit(preds, labels, steps=("shift",), shifts=shifts)
        for name in ("arousal", "valence"):
            assert post.parameters[name] == {
                "median_window": 1,
                "centre": False,
                "scale": False,
                "shift": 12,
            }
            assert post.dev_ccc_after[name] > post.dev_ccc_before[name] + 0.02
    out = post.transform(preds)
    for index, name in enumerate(("arousal", "valence")):
        after = ccc(
            np.concatenate([out[r][:, index] for r in out]),
            np.concatenate([labels[r][:, index] for r in labels]),
        )
        assert after == pytest.approx(post.dev_ccc_after[name])

    # The full chain still finds the shift, and never ends below the raw dev CCC.
    full = PostProcessor().fit(preds, labels, TRAIN_STATS)
    for name in ("arousal", "valence"):
        assert full.parameters[name]["shift"] == 12
        assert full.dev_ccc_after[name] >= full.dev_ccc_before[name]
        assert [entry["step"] for entry in full.search[name]] == list(
            ("median", "centre", "scale", "shift")
        )


def test_centre_and_scale_undo_known_offset_and_gain():
    rng = np.random.default_rng(5)
    labels = {f"dev_{i}": two_dims(400, seed=i) for i in range(3)}
    train_labels = {f"train_{i}": two_dims(400, seed=50 + i) for i in range(4)}
    stats = label_statistics(train_labels)
    preds = {rid: 3.0 * y + 0.7 + rng.normal(0, 0.01, y.shape) for rid, y in labels.items()}
    post = PostProcessor().fit(preds, labels, stats, steps=("centre", "scale"))
    for name in ("arousal", "valence"):
        assert post.parameters[name]["centre"] and post.parameters[name]["scale"]
        assert post.dev_ccc_before[name] < 0.4
        assert post.dev_ccc_after[name] > 0.9
    out = post.transform(preds)
    pooled = np.concatenate(list(out.values()))
    train = np.concatenate(list(train_labels.values()))
    # Split scope: the whole split's mean/std now equal the training labels'.
    np.testing.assert_allclose(pooled.mean(0), train.mean(0), atol=1e-12)
    np.testing.assert_allclose(pooled.std(0), train.std(0), rtol=1e-12)

    # Recording scope: every recording gets the training mean.
    per = PostProcessor(scope="recording").fit(preds, labels, stats, steps=("centre",))
    for values in per.transform(preds).values():
        np.testing.assert_allclose(values.mean(0), train.mean(0), atol=1e-12)


def test_median_step_removes_spikes():
    rng = np.random.default_rng(7)
    labels = {f"dev_{i}": two_dims(600, seed=20 + i) for i in range(2)}
    preds = {}
    for rid, y in labels.items():
        spiky = y.copy()
        spiky[rng.choice(600, 30, replace=False)] += rng.choice([-3.0, 3.0], (30, 2))
        preds[rid] = spiky
    post = PostProcessor().fit(preds, labels, steps=("median",), median_windows=(1, 3, 5, 9))
    for name in ("arousal", "valence"):
        assert post.parameters[name]["median_window"] > 1
        assert post.dev_ccc_before[name] < 0.5 < 0.95 < post.dev_ccc_after[name]
    out = post.transform(preds)
    for rid in labels:
        assert np.max(np.abs(out[rid] - labels[rid])) < 0.1  # every spike gone


def test_parameters_fitted_on_dev_apply_to_test_and_round_trip(tmp_path):
    dev_preds, dev_labels = delayed_split(3, delay=8, seed=2)
    test_preds, test_labels = delayed_split(2, delay=8, seed=3)
    post = PostProcessor().fit(dev_preds, dev_labels, TRAIN_STATS, median_windows=(1, 3, 5))
    assert post.parameters["arousal"]["shift"] == 8
    raw = score_recordings({r: (test_preds[r], test_labels[r]) for r in test_preds})
    processed = post.transform(test_preds)
    better = score_recordings({r: (processed[r], test_labels[r]) for r in processed})
    for name in ("arousal", "valence"):
        assert better["overall"][name]["ccc"] > raw["overall"][name]["ccc"]
    assert "shift" in post.report() and "0.32 s" in post.report()

    path = tmp_path / "post.json"
    write_report(path, post.to_dict())
    again = PostProcessor.from_dict(json.loads(path.read_text()))
    assert again.parameters == post.parameters
    assert again.to_dict() == post.to_dict()
    reloaded = again.transform(test_preds)
    for rid in test_preds:
        np.testing.assert_array_equal(reloaded[rid], processed[rid])


def test_post_processing_errors_are_named():
    preds, labels = delayed_split(2, delay=4, seed=4, frames=60)
    short = dict(labels)
    short["rec_4_1"] = labels["rec_4_1"][:50]
    with pytest.raises(
        ValueError, match="recording 'rec_4_1': predictions have 60 frames, labels 50"
    ):
        PostProcessor().fit(preds, short, steps=("shift",))
    with pytest.raises(ValueError, match="no labels for \\['rec_4_1'\\]"):
        PostProcessor().fit(preds, {"rec_4_0": labels["rec_4_0"]}, steps=("shift",))
    with pytest.raises(ValueError, match="unknown post-processing step.*'smooth'"):
        PostProcessor().fit(preds, labels, steps=("median", "smooth"))
    with pytest.raises(ValueError, match="odd and >= 1.*got 4"):
        PostProcessor().fit(preds, labels, steps=("median",), median_windows=(1, 4))
    with pytest.raises(ValueError, match="odd and >= 1.*got 2"):
        median_filter(np.zeros(5), 2)
    with pytest.raises(ValueError, match="shift must be an integer number of frames, got 1.5"):
        shift_earlier(np.zeros(5), 1.5)
    with pytest.raises(ValueError, match="train_label_stats is required"):
        PostProcessor().fit(preds, labels, steps=("centre",))
    with pytest.raises(ValueError, match="no entry for dimension 'valence'"):
        PostProcessor().fit(preds, labels, {"arousal": {"mean": 0, "std": 1}}, steps=("scale",))
    with pytest.raises(ValueError, match=r"expected shape \[frames, 2\], got \(60,\)"):
        PostProcessor().fit({"a": np.zeros(60)}, {"a": np.zeros(60)}, steps=("shift",))
    with pytest.raises(RuntimeError, match="before fit"):
        PostProcessor().transform(preds)
    with pytest.raises(ValueError, match="scope"):
        PostProcessor(scope="global")
    with pytest.raises(ValueError, match="format"):
        PostProcessor.from_dict({"parameters": {}})


# -- plots ------------------------------------------------------------------------------


def assert_png(path, min_bytes=5000):
    assert os.path.getsize(path) > min_bytes
    with open(path, "rb") as stream:
        assert stream.read(8) == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert image[..., :3].std() > 0.01  # something was drawn
    return image


def test_prediction_plots(tmp_path):
    labels = {"dev_1": two_dims(300, 0), "dev/2": two_dims(200, 1)}
    preds = {rid: 0.7 * y for rid, y in labels.items()}
    path = plot_predictions(tmp_path / "one.png", None, preds["dev_1"], labels["dev_1"], "dev_1")
    image = assert_png(path)
    assert image.shape[:2] == (500, 1000)  # 10 x 5 inches at 100 dpi
    assert_png(plot_predictions(tmp_path / "nolabels.png", np.arange(300) * 0.04, preds["dev_1"]))

    paths = plot_recordings(tmp_path / "per_recording", preds, {"dev_1": labels["dev_1"]})
    assert [os.path.basename(p) for p in paths] == ["dev_1.png", "dev_2.png"]
    for p in paths:
        assert_png(p)
    with pytest.raises(ValueError, match=r"labels \(10, 2\) and predictions \(300, 2\)"):
        plot_predictions(tmp_path / "bad.png", None, preds["dev_1"], np.zeros((10, 2)))
    with pytest.raises(ValueError, match=r"times must have shape \[300\]"):
        plot_predictions(tmp_path / "bad.png", np.arange(5), preds["dev_1"])
    assert not (tmp_path / "bad.png").exists()


def test_training_curves_and_history(tmp_path):
    history = tmp_path / "history.jsonl"
    rows = []
    for step in range(10, 210, 10):
        row = {
            "step": step,
            "loss": 1.0 / (1 + step / 50),
            "learning_rate": 1e-4,
            "frames_per_second": 120,
        }
        if step % 50 == 0:  # dev evaluation only every 50 steps
            row.update(dev_ccc_arousal=step / 250, dev_ccc_valence=step / 400)
        rows.append(row)
    rows[3]["loss"] = float("nan")  # a bad step is a gap, not an error
    history.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n")
    loaded = read_history(history)
    assert len(loaded) == 20 and loaded[4]["dev_ccc_arousal"] == pytest.approx(0.2)
    image = assert_png(plot_training_curves(tmp_path / "curves.png", loaded))
    assert image.shape[:2] == (840, 900)  # three panels: loss, CCC, learning rate
    assert_png(plot_training_curves(tmp_path / "loss_only.png", [{"step": 1, "loss": 2.0}]))

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"step": 1}\n{"step": 2,\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: not valid JSON"):
        read_history(bad)
    with pytest.raises(ValueError, match="row 1 has no numeric 'step'"):
        plot_training_curves(tmp_path / "x.png", [{"step": 1}, {"loss": 1.0}])


def test_default_shifts_also_move_predictions_later_for_a_trailing_gold_standard():
    # The predictions follow the behaviour; the gold standard trails it by 12 frames.
    labels, preds = delayed_split(3, delay=12, seed=2, noise=0.0)
    preds = {
        rid: values + 0.02 * np.sin(np.arange(len(values)))[:, None]
        for rid, values in preds.items()
    }
    post = PostProcessor().fit(preds, labels, steps=("shift",))
    for name in ("arousal", "valence"):
        assert post.parameters[name]["shift"] == -12
        assert post.dev_ccc_after[name] > post.dev_ccc_before[name] + 0.01
