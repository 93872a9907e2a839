"""Tests for tfrecords_tools.labels: ARFF / CSV readers, writer, resampling, stats."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tfrecords_tools.labels import (
    FRAME_SECONDS,
    LABEL_NAMES,
    LabelError,
    LabelTrack,
    label_stats,
    read_arff,
    read_ratings_csv,
    resample_to_frames,
    write_arff,
)

HEADER = (
    "@relation GoldStandard\n\n"
    "@attribute Instance_name string\n"
    "@attribute frameTime numeric\n"
    "@attribute GoldStandard numeric\n\n"
    "@data\n\n"
)


def _write(path, text, newline="\n"):
    path.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return path


def test_constants():
    assert FRAME_SECONDS == 0.04
    assert LABEL_NAMES == ("arousal", "valence")
    assert issubclass(LabelError, ValueError)


# ------------------------------------------------------------------------------ ARFF


def test_arff_round_trip(tmp_path):
    values = np.random.default_rng(0).uniform(-1, 1, 251).astype(np.float32)
    path = tmp_path / "train_1.arff"
    write_arff(path, "train_1", values)
    text = path.read_text()
    assert "@attribute Instance_name string\n@attribute frameTime numeric\n" in text
    assert "\n'train_1',0.000000," in text and "\n'train_1',0.040000," in text
    track = read_arff(path, expected_instance="train_1")
    assert isinstance(track, LabelTrack)
    assert track.values.dtype == np.float32 and track.times.dtype == np.float64
    np.testing.assert_array_equal(track.values, values)  # bit-identical
    np.testing.assert_allclose(track.times, np.arange(251) * 0.04, atol=1e-9)
    assert track.source == str(path)
    assert len(track) == 251
    assert not track.values.flags.writeable


def test_write_arff_style_and_start(tmp_path):
    path = tmp_path / "a.arff"
    write_arff(path, "dev_2", [0.1234, -1.0, 0.5], frame_seconds=0.02, start=1.0)
    rows = [line for line in path.read_text().splitlines() if line.startswith("'")]
    assert rows == [
        "'dev_2',1.000000,0.123400",
        "'dev_2',1.020000,-1.000000",
        "'dev_2',1.040000,0.500000",
    ]
    track = read_arff(path)
    np.testing.assert_allclose(track.times, [1.0, 1.02, 1.04])


def test_write_arff_rejects_bad_values(tmp_path):
    with pytest.raises(LabelError, match=r"a\.arff: value 1 is .*nan"):
        write_arff(tmp_path / "a.arff", "x", [0.0, np.nan])
    with pytest.raises(LabelError, match="non-empty 1-D"):
        write_arff(tmp_path / "a.arff", "x", [])
    with pytest.raises(LabelError, match="instance_name"):
        write_arff(tmp_path / "a.arff", "it's", [0.0])
    with pytest.raises(LabelError, match="frame_seconds"):
        write_arff(tmp_path / "a.arff", "x", [0.0], frame_seconds=0)


def test_arff_tolerant_parsing(tmp_path):
    text = (
        "% AVEC 2016 gold standard\n"
        "@RELATION GoldStandard\n\n"
        "@ATTRIBUTE instance_name STRING\n"
        "% a comment between attributes\n"
        "@Attribute 'frameTime' Numeric\n"
        "@attribute GoldStandard REAL\n"
        "@DATA\n"
        "\n"
        "'train_1',0.000000,0.1\n"
        "% comment inside data\n"
        '"train_1", 0.04, -0.2\n'
        "\n"
        "'train_1',0.080000,3e-1\n"
    )
    path = _write(tmp_path / "crlf.arff", text, newline="\r\n")
    track = read_arff(path, expected_instance="train_1")
    np.testing.assert_array_equal(track.values, np.float32([0.1, -0.2, 0.3]))
    np.testing.assert_array_equal(track.times, [0.0, 0.04, 0.08])


@pytest.mark.parametrize(
    "header, message",
    [
        (
            "@attribute Instance_name string\n@attribute frameTime numeric\n@data\n",
            r"expected 3 attributes \(Instance_name string, frameTime numeric, GoldStandard "
            r"numeric\), found 2 \(Instance_name string, frameTime numeric\)",
        ),
        (
            HEADER.replace("@data", "@attribute Extra numeric\n@data"),
            "expected 3 attributes .* found 4",
        ),
        (
            HEADER.replace("GoldStandard numeric", "Arousal numeric"),
            r"line 5: expected attribute 'GoldStandard numeric', found 'Arousal numeric'",
        ),
        (
            HEADER.replace("frameTime numeric", "frameTime string"),
            r"line 4: expected attribute 'frameTime numeric', found 'frameTime string'",
        ),
        (
            HEADER.replace("Instance_name string", "Instance_name numeric"),
            r"line 3: expected attribute 'Instance_name string', found 'Instance_name numeric'",
        ),
        (HEADER.replace("@data\n", ""), r"line 8: .*found \"'train_1',0.0,0.1\" \(is the @data"),
        ("hello\n" + HEADER, r"line 1: expected @relation, @attribute or @data"),
        (HEADER.replace("@attribute frameTime numeric", "@attribute"), r"line 4: cannot parse"),
    ],
)
def test_arff_header_errors(tmp_path, header, message):
    path = _write(tmp_path / "bad_header.arff", header + "'train_1',0.0,0.1\n")
    with pytest.raises(LabelError, match=message) as info:
        read_arff(path)
    assert str(path) in str(info.value)


# HEADER occupies lines 1-8; the first data row is line 9.
@pytest.mark.parametrize(
    "rows, message",
    [
        ("'train_1',0.0,0.1\n'train_1',0.04,nan\n", r"line 10: GoldStandard is 'nan'"),
        ("'train_1',0.0,inf\n", r"line 9: GoldStandard is 'inf'"),
        ("'train_1',0.0,0.1\n'train_1',0.04,abc\n", r"line 10: GoldStandard 'abc' is not a number"),
        ("'train_1',zero,0.1\n", r"line 9: frameTime 'zero' is not a number"),
        ("'train_1',0.0,?\n", r"line 9: GoldStandard '\?' is not a number"),
        ("'train_1',0.0,0.1\n'train_1',0.04\n", r"line 10: expected 3 comma-separated values"),
        ("'train_1',0.0,0.1,7\n", r"line 9: expected 3 comma-separated values .* found 4"),
        ("'train_1',0.04,0.1\n'train_1',0.04,0.2\n", r"line 10: frameTime 0.04 does not increase"),
        ("'train_1',0.0,0.1\n'train_2',0.04,0.2\n", r"line 10: instance name 'train_2'"),
        ("", r"no data rows after @data \(line 7\)"),
        ("% only a comment\n\n", r"no data rows"),
        ("'train_1',0.0,0.1\n@attribute x numeric\n", r"line 10: header keyword"),
    ],
)
def test_arff_data_errors(tmp_path, rows, message):
    path = _write(tmp_path / "train_1.arff", HEADER + rows)
    with pytest.raises(LabelError, match=message) as info:
        read_arff(path)
    assert str(info.value).startswith(str(path))


def test_arff_expected_instance(tmp_path):
    path = _write(tmp_path / "dev_1.arff", HEADER + "'train_1',0.0,0.1\n")
    with pytest.raises(
        LabelError, match=r"dev_1\.arff, line 9: instance name 'train_1' but expected .*'dev_1'"
    ):
        read_arff(path, expected_instance="dev_1")
    assert read_arff(path, expected_instance="train_1").values.tolist() == [
        pytest.approx(0.1, abs=1e-7)
    ]


def test_arff_without_data_section(tmp_path):
    path = _write(tmp_path / "nodata.arff", HEADER.replace("@data\n", ""))
    with pytest.raises(LabelError, match=r"nodata\.arff: no @data section"):
        read_arff(path)


def test_arff_missing_file(tmp_path):
    with pytest.raises(LabelError, match=re.escape(str(tmp_path / "none.arff"))):
        read_arff(tmp_path / "none.arff")


# ------------------------------------------------------------------------------ CSV

ANNOTATORS = ("FM1", "FM2", "FM3", "FF1", "FF2", "FF3")


def _ratings(n=5):
    rng = np.random.default_rng(1)
    times = np.arange(n) * 0.04
    ratings = np.round(rng.uniform(-0.5, 0.5, (n, 6)), 4)
    return times, ratings


def _write_ratings(path, times, ratings, delimiter=",", header=True, decimal=".", names=None):
    lines = []
    if header:
        lines.append(delimiter.join(["time", *(names or ANNOTATORS)]))
    for t, row in zip(times, ratings, strict=True):
        cells = [f"{t:.2f}", *(f"{v:.4f}" for v in row)]
        lines.append(delimiter.join(c.replace(".", decimal) for c in cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_ratings_mean_and_single_annotator(tmp_path):
    times, ratings = _ratings()
    path = _write_ratings(tmp_path / "P16.csv", times, ratings)
    mean = read_ratings_csv(path)
    np.testing.assert_allclose(mean.values, ratings.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(mean.times, times)
    assert "mean of FM1,FM2,FM3,FF1,FF2,FF3" in mean.source
    one = read_ratings_csv(path, columns=["FM2"])
    np.testing.assert_allclose(one.values, ratings[:, 1], atol=1e-7)
    assert one.source == f"{path} [FM2]"
    assert np.array_equal(read_ratings_csv(path, columns="FM2").values, one.values)
    two = read_ratings_csv(path, columns=["FM1", "FF3"])
    np.testing.assert_allclose(two.values, ratings[:, [0, 5]].mean(axis=1), atol=1e-6)
    median = read_ratings_csv(path, reduce="median")
    np.testing.assert_allclose(median.values, np.median(ratings, axis=1), atol=1e-6)


def test_ratings_semicolon_and_decimal_comma(tmp_path):
    times, ratings = _ratings()
    semi = _write_ratings(tmp_path / "semi.csv", times, ratings, delimiter=";")
    comma = _write_ratings(tmp_path / "semi_dc.csv", times, ratings, delimiter=";", decimal=",")
    tab = _write_ratings(tmp_path / "tab.csv", times, ratings, delimiter="\t")
    for path in (semi, comma, tab):
        np.testing.assert_allclose(
            read_ratings_csv(path).values, ratings.mean(axis=1), atol=1e-6, err_msg=str(path)
        )
    np.testing.assert_allclose(
        read_ratings_csv(semi, columns=["FF1"], delimiter=";").values, ratings[:, 3], atol=1e-7
    )
    with pytest.raises(LabelError, match=r"semi\.csv: no rating columns besides the time"):
        read_ratings_csv(semi, delimiter=",")


def test_ratings_bom_crlf(tmp_path):
    path = tmp_path / "win.csv"
    path.write_bytes(b"\xef\xbb\xbftime,FM1,FM2\r\n0.00,0.1,0.3\r\n\r\n0.04,0.2,0.4\r\n")
    track = read_ratings_csv(path)
    np.testing.assert_allclose(track.values, [0.2, 0.3], atol=1e-7)
    assert read_ratings_csv(path, columns="FM1", time_column="time").values[1] == np.float32(0.2)


def test_modules_do_not_import_heavy_dependencies():
    code = (
        "import sys, tfrecords_tools.labels, tfrecords_tools.corpora; "
        "bad = [m for m in ('tensorflow', 'keras', 'av', 'e2e_emotion') if m in sys.modules]; "
        "assert not bad, bad"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_ratings_headerless(tmp_path):
    times, ratings = _ratings()
    path = _write_ratings(tmp_path / "P17.csv", times, ratings, header=False)
    np.testing.assert_allclose(read_ratings_csv(path).values, ratings.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(read_ratings_csv(path, columns=[2]).values, ratings[:, 1], atol=1e-7)
    np.testing.assert_allclose(read_ratings_csv(path, columns="2").values, ratings[:, 1], atol=1e-7)
    with pytest.raises(LabelError, match=r"P17\.csv: column 'FM1' given by name but .* no header"):
        read_ratings_csv(path, columns=["FM1"])
    with pytest.raises(LabelError, match=r"column index 9 out of range; the file has 7 columns"):
        read_ratings_csv(path, columns=[9])


def test_ratings_no_time_column(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("0.1\n0.2\n0.3\n")
    track = read_ratings_csv(path, time_column=None)
    np.testing.assert_allclose(track.times, [0.0, 0.04, 0.08])
    np.testing.assert_allclose(track.values, [0.1, 0.2, 0.3])


def test_ratings_errors(tmp_path):
    times, ratings = _ratings()
    path = _write_ratings(tmp_path / "P16.csv", times, ratings)
    with pytest.raises(LabelError) as info:
        read_ratings_csv(path, columns=["FM4"])
    assert str(info.value) == (
        f"{path}: column 'FM4' not found; available columns: time, FM1, FM2, FM3, FF1, FF2, FF3"
    )
    with pytest.raises(LabelError, match="'time' is the time column"):
        read_ratings_csv(path, columns=["time"])
    with pytest.raises(LabelError, match="reduce must be"):
        read_ratings_csv(path, reduce="max")

    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[2], "nan")  # row 3, FM2
    _write(tmp_path / "nan.csv", "\n".join(lines) + "\n")
    with pytest.raises(
        LabelError, match=r"nan\.csv, line 4, column 'FM2': cell is 'nan', not a finite number"
    ):
        read_ratings_csv(tmp_path / "nan.csv")
    # A bad cell in a column that is not used does not matter.
    np.testing.assert_allclose(
        read_ratings_csv(tmp_path / "nan.csv", columns=["FF3"]).values, ratings[:, 5], atol=1e-7
    )

    lines = path.read_text().splitlines()
    cells = lines[2].split(",")
    cells[6] = ""
    lines[2] = ",".join(cells)
    _write(tmp_path / "empty.csv", "\n".join(lines) + "\n")
    with pytest.raises(LabelError, match=r"empty\.csv, line 3, column 'FF3': cell is empty"):
        read_ratings_csv(tmp_path / "empty.csv")

    lines = path.read_text().splitlines()
    lines[2] = lines[2] + ",0.5"
    _write(tmp_path / "wide.csv", "\n".join(lines) + "\n")
    with pytest.raises(
        LabelError, match=r"wide\.csv, line 3: expected 7 ','-separated cells .*found 8"
    ):
        read_ratings_csv(tmp_path / "wide.csv")

    _write(tmp_path / "order.csv", "time,a\n0.0,1\n0.08,2\n0.04,3\n")
    with pytest.raises(LabelError, match=r"order\.csv, line 4: time 0.04 does not increase"):
        read_ratings_csv(tmp_path / "order.csv")
    _write(tmp_path / "blank.csv", "\n\n")
    with pytest.raises(LabelError, match=r"blank\.csv: ratings CSV is empty"):
        read_ratings_csv(tmp_path / "blank.csv")
    _write(tmp_path / "header_only.csv", "time,FM1\n")
    with pytest.raises(LabelError, match="header but no data rows"):
        read_ratings_csv(tmp_path / "header_only.csv")


# ------------------------------------------------------------------------------ resampling


def test_resample_identity_on_grid():
    values = np.random.default_rng(2).normal(size=7501).astype(np.float32)
    # Times as parsed from "%.6f" text: not exactly k * 0.04 in binary.
    times = np.array([float(f"{k * 0.04:.6f}") for k in range(7501)])
    track = LabelTrack(times, values, "grid")
    out = resample_to_frames(track)
    assert out.dtype == np.float32 and out.shape == (7501,)
    np.testing.assert_array_equal(out, values)
    np.testing.assert_array_equal(resample_to_frames(track, num_frames=100), values[:100])
    # One frame past the end holds the last value.
    np.testing.assert_array_equal(resample_to_frames(track, num_frames=7502)[-2:], values[[-1, -1]])


def test_resample_from_10ms_and_offsets():
    times = np.arange(0, 1.0001, 0.01)
    values = np.sin(times * 3).astype(np.float32)
    track = LabelTrack(times, values, "fast")
    out = resample_to_frames(track)
    assert out.shape == (26,)
    np.testing.assert_allclose(out, np.sin(np.arange(26) * 0.04 * 3), atol=1e-6)
    nearest = resample_to_frames(track, method="nearest")
    np.testing.assert_allclose(nearest, out, atol=1e-6)

    # Off-grid times (start at 0.02 s, 40 ms apart): linear interpolation and edge hold.
    track = LabelTrack([0.01, 0.05, 0.09], [0.0, 1.0, 2.0], "offset")
    np.testing.assert_allclose(resample_to_frames(track, num_frames=3), [0.0, 0.75, 1.75])
    np.testing.assert_allclose(resample_to_frames(track, 3, method="nearest"), [0.0, 1.0, 2.0])


def test_resample_errors():
    track = LabelTrack(np.arange(10) * 0.04, np.zeros(10), "short")
    with pytest.raises(LabelError, match=r"short: labels end at 0.360000 s but 12 frames"):
        resample_to_frames(track, num_frames=12)
    with pytest.raises(LabelError, match="num_frames must be >= 1"):
        resample_to_frames(track, num_frames=0)
    late = LabelTrack([1.0, 1.04], [0.0, 1.0], "late")
    with pytest.raises(LabelError, match=r"late: labels start at 1.000000 s"):
        resample_to_frames(late)


def test_a_hole_in_the_ratings_is_refused_beyond_the_tolerance():
    times = np.concatenate([np.arange(50) * 0.04, 4.0 + np.arange(50) * 0.04])  # 2.04 s hole
    track = LabelTrack(times, np.linspace(0, 1, 100), "a.arff")
    with pytest.raises(LabelError) as error:
        resample_to_frames(track, max_gap=0.5)
    assert str(error.value) == (
        "a.arff: no rating between 1.960 s and 4.000 s (a 2.040 s gap, more than 0.5 s); "
        "fill it, or raise --label_gap_tolerance to interpolate over it"
    )
    bridged = resample_to_frames(track, max_gap=2.5)
    assert bridged.shape == (150,) and np.all(np.diff(bridged[49:101]) > 0)
    # Ratings every 0.5 s are not a hole at a 0.5 s tolerance.
    sparse = LabelTrack(np.arange(5) * 0.5, np.arange(5.0), "sparse")
    assert resample_to_frames(sparse, max_gap=0.5).shape == (51,)


def test_label_track_validation():
    with pytest.raises(LabelError, match="x: 2 times but 3 values"):
        LabelTrack([0, 1], [0, 1, 2], "x")
    with pytest.raises(LabelError, match=r"x: times must be strictly increasing.* value 2"):
        LabelTrack([0, 1, 1], [0, 1, 2], "x")
    with pytest.raises(LabelError, match="finite"):
        LabelTrack([0, 1], [0, np.nan], "x")
    with pytest.raises(LabelError, match="at least one"):
        LabelTrack([], [], "x")


def test_label_stats():
    stats = label_stats(np.float32([1, 2, 3, 4]))
    assert stats == {
        "count": 4,
        "mean": 2.5,
        "std": pytest.approx(1.118034),
        "min": 1.0,
        "max": 4.0,
    }
    assert all(type(v) is float for k, v in stats.items() if k != "count")
    assert type(stats["count"]) is int
    assert label_stats(LabelTrack([0, 0.04], [0.5, -0.5]))["mean"] == 0.0
    with pytest.raises(LabelError, match="no values"):
        label_stats([])
    with pytest.raises(LabelError, match="NaN"):
        label_stats([1.0, np.nan])
