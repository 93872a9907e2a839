"""Corpus -> shards -> parse: round trips, alignment, readers, bad inputs, inspection."""

import dataclasses
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from tfrecords_tools import (
    commands,
    conversion,
    corpora,
    faces,
    inspect_records,
    labels,
    media,
    media_writers,
    schema,
    synthetic,
    writer,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PNG = writer.ConversionOptions(name="t", image_format="png", face_mode="detect", num_shards=2)


@pytest.fixture(scope="module")
def corpus(avec_corpus):
    return avec_corpus


@pytest.fixture(scope="module")
def records(corpus, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("records") / "out")
    recordings = corpora.read_avec2016(corpus)
    metadata = writer.convert_corpus(recordings, output, PNG, progress=False)
    return output, metadata, recordings


def all_records(directory):
    metadata = inspect_records.load_metadata(directory)
    out = {}
    for split, info in metadata["splits"].items():
        for shard in info["shards"]:
            for record in inspect_records.iter_shard(directory, metadata, split, shard["file"]):
                out.setdefault(record["recording_id"].decode(), []).append(record)
    return out


def test_round_trip_values_are_identical(records):
    output, metadata, recordings = records
    parsed = all_records(output)
    assert sorted(parsed) == sorted(r.id for r in recordings)
    for recording in recordings:
        frames = parsed[recording.id]
        n = len(frames)
        assert n == 75  # 3 s at 40 ms
        assert [f["frame_index"] for f in frames] == list(range(n))
        audio = media.read_audio(recording.audio_path)
        np.testing.assert_array_equal(
            np.stack([f["audio"] for f in frames]), audio[: n * 640].reshape(n, 640)
        )
        cropper = faces.FaceCropper(size=96, mode="detect")
        expected = [cropper.crop(rgb) for _, rgb in media.iter_video_frames(recording.video_path)]
        np.testing.assert_array_equal(
            np.stack([f["video"] for f in frames]), np.stack(expected[:n])
        )
        if recording.labels is None:
            assert "arousal" not in frames[0]
        else:
            for name in labels.LABEL_NAMES:
                np.testing.assert_array_equal(
                    [f[name] for f in frames], recording.labels[name].values[:n]
                )


def test_read_split_reads_each_shard_once_and_equals_read_recording(records, tmp_path):
    output, metadata, _ = records
    for split, info in metadata["splits"].items():
        frames = inspect_records.read_split(output, split)
        assert list(frames) == list(info["recordings"])  # metadata order
        for rid, arrays in frames.items():
            single = inspect_records.read_recording(output, rid)
            assert sorted(arrays) == sorted(single)
            for key in single:
                np.testing.assert_array_equal(arrays[key], single[key])
            assert len(arrays["audio"]) == info["recordings"][rid]
    with pytest.raises(inspect_records.InspectError, match="split 'valid' is not in .*'train'"):
        inspect_records.read_split(output, "valid")
    broken = json.loads(json.dumps(metadata))
    broken["splits"]["dev"]["recordings"]["ghost"] = 10
    with pytest.raises(inspect_records.InspectError, match=r"split 'dev' lists \['ghost'\]"):
        inspect_records.read_split(output, "dev", broken)


def test_metadata_matches_shards(records):
    output, metadata, _ = records
    with open(os.path.join(output, "metadata.json")) as stream:
        on_disk = json.load(stream)
    assert on_disk["schema_version"] == schema.SCHEMA_VERSION
    assert on_disk["sample_rate"] == 16000 and on_disk["frame_length"] == 640
    assert on_disk["modalities"] == ["audio", "video"]
    assert set(on_disk["splits"]) == {"train", "dev", "test"}
    train = on_disk["splits"]["train"]
    assert [s["file"] for s in train["shards"]] == [
        "t-train.tfrecord-00000-of-00002",
        "t-train.tfrecord-00001-of-00002",
    ]
    assert on_disk["splits"]["test"]["labelled"] is False
    assert on_disk["splits"]["test"]["label_stats"] is None
    files = sorted(f for f in os.listdir(output) if f != "metadata.json")
    listed = sorted(s["file"] for info in on_disk["splits"].values() for s in info["shards"])
    assert files == listed
    for name in files:
        assert re.fullmatch(r"t-(train|dev|test)\.tfrecord-\d{5}-of-\d{5}", name)
    report = inspect_records.inspect_directory(output)
    parsed = all_records(output)
    for split, info in on_disk["splits"].items():
        assert report["splits"][split]["num_frames"] == info["num_frames"]
        for rid, count in info["recordings"].items():
            assert len(parsed[rid]) == count
    stats = on_disk["splits"]["train"]["label_stats"]["arousal"]
    values = np.concatenate([[f["arousal"] for f in parsed[r]] for r in train["recordings"]])
    assert stats["count"] == len(values)
    np.testing.assert_allclose(stats["mean"], values.mean(), atol=1e-6)
    np.testing.assert_allclose(stats["std"], values.std(), atol=1e-6)
    assert on_disk["face_missed_fraction"] < 0.05
    # The corpus figure counts detector runs over all recordings (not a mean of fractions).
    detections = [r["face_detections"] for r in on_disk["recordings"].values()]
    runs, missed = sum(d["run"] for d in detections), sum(d["missed"] for d in detections)
    assert runs == sum(r["num_frames"] for r in on_disk["recordings"].values())
    assert on_disk["face_missed_fraction"] == round(missed / runs, 4)
    assert on_disk["tool_arguments"]["image_format"] == "png"


def test_process_pool_gives_identical_shards(corpus, records, tmp_path):
    output, _, recordings = records
    pooled = str(tmp_path / "pooled")
    options = writer.ConversionOptions(**{**PNG.__dict__, "processes": 2})
    writer.convert_corpus(recordings, pooled, options, progress=False)
    for name in sorted(os.listdir(output)):
        if name != "metadata.json":
            with (
                open(os.path.join(output, name), "rb") as a,
                open(os.path.join(pooled, name), "rb") as b,
            ):
                assert a.read() == b.read(), name


def test_alignment_44k_stereo_audio_and_30fps_video(tmp_path):
    audio_path, video_path = str(tmp_path / "r1.wav"), str(tmp_path / "r1.mp4")
    values = synthetic.write_synthetic_recording(
        "r1",
        seconds=4.0,
        seed=3,
        audio_path=audio_path,
        video_path=video_path,
        sample_rate=44100,
        audio_channels=2,
        fps=30.0,
        image_size=96,
    )
    label_csv = tmp_path / "r1.csv"
    rows = ["time,arousal,valence"] + [
        f"{i * 0.04:.2f},{a:.6f},{v:.6f}" for i, (a, v) in enumerate(values)
    ]
    label_csv.write_text("\n".join(rows) + "\n")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text(
        "recording_id,split,audio_path,video_path,label_path,arousal_column,valence_column\n"
        "r1,train,r1.wav,r1.mp4,r1.csv,arousal,valence\n"
    )
    output = str(tmp_path / "out")
    options = writer.ConversionOptions(name="m", face_mode="centre", image_format="png")
    metadata = commands.make_tfrecords("manifest", str(manifest), output, options, progress=False)
    assert metadata["splits"]["train"]["recordings"] == {"r1": 100}
    frames = all_records(output)["r1"]
    # Audio: 44.1 kHz stereo became 16 kHz mono, frame k = samples [640k, 640k + 640).
    audio = np.stack([f["audio"] for f in frames])
    expected_audio = media.read_audio(audio_path)[: 100 * 640].reshape(100, 640)
    np.testing.assert_array_equal(audio, expected_audio)
    # Video: 30 fps sampled by timestamp: record k holds the last source frame at or
    # before k * 40 ms (floor(1.2 k)), which matches the drawn frame better than its
    # neighbours 33 ms earlier or later.
    video = np.stack([f["video"] for f in frames]).astype(np.float64)
    emotion = synthetic.synthetic_emotion(100, 3)
    drawn = synthetic.synthetic_frames(
        emotion.expressed[:, 1], emotion.expressed[:, 0], fps=30.0, size=96, seed=3
    ).astype(np.float64)
    assert drawn.shape == (120, 96, 96, 3) and video.shape == (100, 96, 96, 3)

    def error(shift):
        indices = np.floor(np.arange(5, 95) * 0.04 * 30 + 1e-9).astype(int) + shift
        return np.abs(video[5:95] - drawn[indices]).mean()

    assert error(0) < 3.0
    assert error(0) < 0.8 * min(error(-1), error(1))


def test_recola_csv_layout_with_audio_inside_mp4(tmp_path):
    root = tmp_path / "RECOLA"
    (root / "Video_recordings_MP4").mkdir(parents=True)
    values = synthetic.write_synthetic_recording(
        "P16",
        seconds=2.0,
        seed=8,
        video_path=str(root / "Video_recordings_MP4" / "P16.mp4"),
        image_size=96,
        audio_in_video=True,
    )
    annotators = ["FM1", "FM2", "FM3", "FF1", "FF2", "FF3"]
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.05, len(annotators))
    for d, dimension in enumerate(labels.LABEL_NAMES):
        folder = root / "Ratings_affective_behaviour_CCC_centred" / dimension
        folder.mkdir(parents=True)
        rows = ["time," + ",".join(annotators)]
        for i, value in enumerate(values[:, d]):
            rows.append(f"{i * 0.04:.2f}," + ",".join(f"{value + o:.6f}" for o in offsets))
        (folder / "P16.csv").write_text("\n".join(rows) + "\n")
    options = writer.ConversionOptions(name="recola", face_mode="centre")
    for annotator, shift in ((None, offsets.mean()), ("FM2", offsets[1])):
        output = str(tmp_path / f"out_{annotator}")
        commands.make_tfrecords(
            "recola",
            str(root),
            output,
            options,
            progress=False,
            recola_splits={"train": ["P16"]},
            recola_annotator=annotator,
        )
        frames = all_records(output)["P16"]
        assert len(frames) == 50
        np.testing.assert_allclose([f["arousal"] for f in frames], values[:, 0] + shift, atol=2e-6)
        assert frames[0]["audio"].shape == (640,)
        assert np.abs(np.stack([f["audio"] for f in frames])).max() > 0.01  # the MP4's audio


def test_audio_only_corpus(corpus, tmp_path):
    recordings = commands.read_corpus("avec2016", corpus, splits=("train",), modalities=("audio",))
    metadata = writer.convert_corpus(recordings, str(tmp_path / "a"), PNG, progress=False)
    assert metadata["modalities"] == ["audio"]
    record = all_records(str(tmp_path / "a"))["train_1"][0]
    assert "video" not in record and record["audio"].shape == (640,)


def test_audio_only_conversion_names_a_missing_wav(corpus, tmp_path):
    """A WAV missing (its video present) fails the audio-only conversion naming it; with
    on_error=skip the others are converted and it is listed in metadata.json."""
    import shutil

    root = tmp_path / "avec"
    shutil.copytree(corpus, root)
    os.remove(root / "recordings_audio" / "train_2.wav")
    options = writer.ConversionOptions(name="t", face_mode="centre")
    with pytest.raises(commands.user_errors, match=r"train_2: audio file \S+train_2\.wav is miss"):
        commands.make_tfrecords(
            "avec2016", str(root), str(tmp_path / "a"), options, False, False, modalities=["audio"]
        )
    assert not (tmp_path / "a").exists()
    options = dataclasses.replace(options, on_error="skip")
    metadata = commands.make_tfrecords(
        "avec2016", str(root), str(tmp_path / "b"), options, False, False, modalities=["audio"]
    )
    assert sorted(metadata["recordings"]) == ["dev_1", "test_1", "train_1"]
    assert list(metadata["skipped"]) == ["train_2"]
    assert "train_2.mp4 exists" in metadata["skipped"]["train_2"]
    with open(tmp_path / "b" / "metadata.json") as stream:
        assert json.load(stream)["skipped"] == metadata["skipped"]


# --------------------------------------------------------------------------- bad input


def one_recording(tmp_path, rid="r1", seconds=3.0, label_seconds=None, **media_kwargs):
    audio_path, video_path = str(tmp_path / f"{rid}.wav"), str(tmp_path / f"{rid}.mp4")
    values = synthetic.write_synthetic_recording(
        rid,
        seconds=seconds,
        seed=1,
        audio_path=audio_path,
        video_path=video_path,
        image_size=96,
        **media_kwargs,
    )
    if label_seconds is not None:
        values = synthetic.synthetic_labels(round(label_seconds / 0.04), 1)
    tracks = {
        name: labels.LabelTrack(np.arange(len(values)) * 0.04, values[:, d], "test")
        for d, name in enumerate(labels.LABEL_NAMES)
    }
    return corpora.Recording(rid, "train", audio_path, video_path, tracks)


def convert(recordings, output, **overrides):
    options = writer.ConversionOptions(**{"name": "t", "face_mode": "centre", **overrides})
    return writer.convert_corpus(recordings, output, options, progress=False)


def test_length_mismatch_within_tolerance_is_trimmed_and_reported(tmp_path):
    recording = one_recording(tmp_path, seconds=3.0, label_seconds=2.6)
    metadata = convert([recording], str(tmp_path / "out"), length_tolerance=0.5)
    report = metadata["recordings"]["r1"]
    assert report["num_frames"] == 65
    assert report["trimmed_frames"] == {
        f"audio {recording.audio_path}": 10,
        f"video {recording.video_path}": 10,
    }


def test_a_hole_in_the_labels_is_an_error_unless_allowed(tmp_path):
    recording = one_recording(tmp_path, seconds=3.0)
    keep = np.r_[0:20, 70:75]  # no rating from 0.76 s to 2.8 s
    tracks = {
        name: labels.LabelTrack(track.times[keep], track.values[keep], f"{name}.arff")
        for name, track in recording.labels.items()
    }
    holed = dataclasses.replace(recording, labels=tracks)
    with pytest.raises(writer.ConversionError, match=r"arousal\.arff: no rating between 0\.760 s"):
        convert([holed], str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    metadata = convert([holed], str(tmp_path / "out"), label_gap_tolerance=2.5)
    assert metadata["recordings"]["r1"]["num_frames"] == 75


def test_length_mismatch_beyond_tolerance_names_the_files(tmp_path):
    recording = one_recording(tmp_path, seconds=3.0, label_seconds=1.0)
    output = str(tmp_path / "out")
    with pytest.raises(writer.ConversionError, match=r"'r1'.*lengths differ by 50 frames.*r1.wav"):
        convert([recording], output, length_tolerance=1.0)
    assert not os.path.exists(output)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".out")]


def test_bad_media_each_gives_an_error_naming_the_file(tmp_path):
    good = one_recording(tmp_path, "good")
    truncated = one_recording(tmp_path, "cut")
    with open(truncated.video_path, "rb") as stream:
        data = stream.read()
    with open(truncated.video_path, "wb") as stream:
        stream.write(data[: len(data) // 2])
    silent = one_recording(tmp_path, "silent")
    media_writers.write_wav(silent.audio_path, np.zeros(3 * 16000, np.float32), 16000)
    no_audio = one_recording(tmp_path, "noaudio")
    no_audio = corpora.Recording(
        "noaudio", "train", no_audio.video_path, no_audio.video_path, no_audio.labels
    )  # an MP4 without audio as the audio source
    garbage = one_recording(tmp_path, "garbage")
    with open(garbage.audio_path, "w") as stream:
        stream.write("this is not a wav file")
    empty_video = one_recording(tmp_path, "empty")
    open(empty_video.video_path, "wb").close()  # zero-length video file
    missing = one_recording(tmp_path, "missing")
    os.remove(missing.video_path)
    cases = [
        (truncated, "cut.mp4"),
        (silent, "silent.wav.*silent"),
        (no_audio, "noaudio.mp4.*no audio"),
        (garbage, "garbage.wav"),
        (empty_video, "empty.mp4"),
        (missing, "missing.mp4"),
    ]
    for recording, pattern in cases:
        output = str(tmp_path / f"out_{recording.id}")
        with pytest.raises(writer.ConversionError, match=pattern):
            convert([good, recording], output)
        assert not os.path.exists(output)
    # With on_error=skip the bad recordings are reported and the good one is written.
    bad = [recording for recording, _ in cases]
    metadata = convert([good, *bad], str(tmp_path / "skip"), on_error="skip")
    assert list(metadata["recordings"]) == ["good"]
    assert sorted(metadata["skipped"]) == sorted(r.id for r in bad)
    assert "silent" in metadata["skipped"]["silent"]


def test_nan_labels_and_bad_arff_are_reported_by_file(tmp_path, corpus):
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(corpus, broken)
    arff = broken / "ratings_gold_standard" / "arousal" / "train_1.arff"
    lines = arff.read_text().splitlines()
    lines[-3] = lines[-3].rsplit(",", 1)[0] + ",nan"
    arff.write_text("\n".join(lines) + "\n")
    with pytest.raises(labels.LabelError, match=r"train_1.arff.*line"):
        commands.read_corpus("avec2016", str(broken))
    arff.write_text(arff.read_text().replace("GoldStandard", "Gold"))
    with pytest.raises(labels.LabelError, match=r"train_1.arff"):
        commands.read_corpus("avec2016", str(broken))


def test_existing_output_refused_then_replaced_with_overwrite(records, tmp_path):
    _, _, recordings = records
    output = tmp_path / "out"
    output.mkdir()
    (output / "precious.txt").write_text("keep me")
    with pytest.raises(writer.ConversionError, match="not empty; pass --overwrite"):
        convert(recordings[:1], str(output))
    assert (output / "precious.txt").read_text() == "keep me"
    options = writer.ConversionOptions(name="again", face_mode="centre")
    writer.convert_corpus(recordings[:1], str(output), options, overwrite=True, progress=False)
    assert sorted(os.listdir(output)) == ["again-train.tfrecord-00000-of-00001", "metadata.json"]


def test_interrupted_run_leaves_nothing_that_looks_complete(records, tmp_path, monkeypatch):
    _, _, recordings = records
    calls = []
    original = conversion.convert_recording

    def interrupted(recording, part_path, options):
        calls.append(recording.id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(recording, part_path, options)

    monkeypatch.setattr(conversion, "convert_recording", interrupted)
    output = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        convert(recordings, str(output))
    assert os.listdir(tmp_path) == []


def test_staging_of_a_killed_conversion_is_reclaimed_a_live_ones_kept(tmp_path):
    """A conversion killed midway leaves its staging directory; the next conversion beside
    it removes those of dead processes (the old name without the trailing dash too) and
    keeps one a running process is writing."""
    (tmp_path / "media").mkdir()
    recording = one_recording(tmp_path / "media")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        leftovers = [f".out.partial-{dead.pid}-", f".out.partial-{dead.pid}"]
        for name in leftovers:
            (tmp_path / name / "parts").mkdir(parents=True)
            (tmp_path / name / "parts" / "00000.tfrecord").write_bytes(b"x" * 1000)
        running = tmp_path / f".out.partial-{live.pid}-"
        running.mkdir()
        convert([recording], str(tmp_path / "out"))
        assert sorted(os.listdir(tmp_path)) == sorted(["media", "out", running.name])
    finally:
        live.kill()
        live.wait()


def test_an_output_published_meanwhile_is_not_replaced_without_overwrite(tmp_path, monkeypatch):
    """Two conversions to one directory: the one that finishes second does not replace
    the first's output unless --overwrite was given."""
    (tmp_path / "media").mkdir()
    recording = one_recording(tmp_path / "media")
    output = tmp_path / "out"
    original = writer._convert_into

    def other_run_publishes_meanwhile(staging, *args):
        metadata = original(staging, *args)
        output.mkdir()
        (output / "metadata.json").write_text("{}")
        return metadata

    monkeypatch.setattr(writer, "_convert_into", other_run_publishes_meanwhile)
    with pytest.raises(writer.ConversionError, match="is not empty; pass --overwrite"):
        convert([recording], str(output))
    assert (output / "metadata.json").read_text() == "{}"
    assert sorted(os.listdir(tmp_path)) == ["media", "out"]


def test_full_disk_is_a_clear_error_and_leaves_nothing(corpus, tmp_path):
    """A real write failure: the converter runs with a 200 kB file-size limit."""
    output = tmp_path / "out"
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))\n"
        "sys.argv = ['make_tfrecords.py'] + sys.argv[1:]\n"
        f"exec(open({os.path.join(ROOT, 'bin', 'make_tfrecords.py')!r}).read())\n"
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            f"--input={corpus}",
            f"--output_dir={output}",
            "--processes=1",
            "--face_mode=centre",
            "--image_format=png",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "error: disk full while writing" in result.stderr
    assert str(output) in result.stderr
    assert "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


def test_corrupted_shard_is_named_when_inspecting(records, tmp_path):
    import shutil

    output, metadata, _ = records
    copy = tmp_path / "copy"
    shutil.copytree(output, copy)
    shard = metadata["splits"]["train"]["shards"][0]["file"]
    data = bytearray((copy / shard).read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\x00" * 64
    (copy / shard).write_bytes(bytes(data))
    with pytest.raises(inspect_records.InspectError, match=re.escape(shard) + ".*corrupted"):
        inspect_records.inspect_directory(str(copy))
    (copy / shard).write_bytes(bytes(data[: len(data) // 3]))
    with pytest.raises(inspect_records.InspectError, match=re.escape(shard)):
        inspect_records.inspect_directory(str(copy))
    os.remove(copy / shard)
    with pytest.raises(inspect_records.InspectError, match=re.escape(shard) + ", which is missing"):
        inspect_records.inspect_directory(str(copy))


def test_schema_rejects_bad_values_naming_feature_and_record():
    with pytest.raises(schema.SchemaError, match=r"audio: shape \(320,\).*'r9' frame 4"):
        schema.encode_example("r9", 4, audio=np.zeros(320))
    with pytest.raises(schema.SchemaError, match=r"valence: value nan.*'r9' frame 2"):
        schema.encode_example("r9", 2, labels=[0.1, float("nan")])
    with pytest.raises(schema.SchemaError, match=r"video: .*neither JPEG nor PNG"):
        schema.encode_example("r9", 0, image=b"GIF89a")
    jpeg = faces.encode_image(np.zeros((96, 96, 3), np.uint8))
    with pytest.raises(schema.SchemaError, match=r"face: expected True or False, got 1 .*frame 3"):
        schema.encode_example("r9", 3, image=jpeg, face=1)
    with pytest.raises(schema.SchemaError, match=r"face: given without an image at .*frame 5"):
        schema.encode_example("r9", 5, audio=np.zeros(640), face=True)


def test_command_line_round_trip_and_error(corpus, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    output = tmp_path / "records"
    run = [
        sys.executable,
        os.path.join(ROOT, "bin", "make_tfrecords.py"),
        f"--input={corpus}",
        f"--output_dir={output}",
        "--processes=1",
        "--splits=train,dev",
        "--name=syn",
    ]
    result = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "train: 2 recordings, 150 frames, 2 shards" in result.stdout
    again = subprocess.run(run, capture_output=True, text=True, env=env, timeout=300)
    assert again.returncode == 1 and "pass --overwrite" in again.stderr
    sheet, plot = tmp_path / "sheet.png", tmp_path / "plot.png"
    inspect = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "bin", "inspect_tfrecords.py"),
            f"--records={output}",
            f"--contact_sheet={sheet}",
            f"--plot={plot}",
            "--recording=dev_1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert inspect.returncode == 0, inspect.stderr[-2000:]
    assert "match metadata.json" in inspect.stdout
    assert sheet.read_bytes()[:4] == b"\x89PNG" and plot.read_bytes()[:4] == b"\x89PNG"
    import matplotlib.image

    assert matplotlib.image.imread(str(sheet)).shape[2] in (3, 4)


def test_conversion_benchmark_reports_figures(tmp_path):
    figures = commands.benchmark_conversion(
        seconds=1.0, image_size=96, face_mode="centre", work_dir=str(tmp_path)
    )
    assert figures["frames"] == 25 and figures["video_steps"] == 25
    assert figures["frames_per_second"] > 0 and figures["convert_total_s"] > 0
    assert figures["shard_mb"] > 0
    json.dumps(figures)  # plain numbers only


def test_face_flag_per_frame_found_fraction_and_warning(tmp_path):
    recording = one_recording(tmp_path, rid="gone", seconds=3.0)
    shown = synthetic.synthetic_frames(np.zeros(30), np.zeros(30), size=96, seed=1)
    blank = [np.full((96, 96, 3), 70, np.uint8)] * 45  # the face leaves after 1.2 s
    media_writers.write_video(recording.video_path, list(shown) + blank, fps=25)
    output = str(tmp_path / "out")
    metadata = convert([recording], output, face_mode="detect")
    flags = np.array([f["face"] for f in all_records(output)["gone"]])
    assert len(flags) == 75 and set(flags) <= {0, 1}
    # The face is held for two frames after it was last found.
    assert flags[:32].mean() >= 0.9 and not flags[32:].any()
    report = metadata["recordings"]["gone"]
    assert report["face_frames"] == flags.sum()
    assert report["face_found_fraction"] == round(flags.mean(), 4)
    assert metadata["face_found_fraction"] == report["face_found_fraction"]
    assert metadata["low_face_recordings"] == {"gone": report["face_found_fraction"]}
    (warning,) = inspect_records.face_warnings(metadata)
    assert warning.startswith(f"warning: recording 'gone' ({recording.video_path}): a face was")
    assert "under 90%" in warning
    report = inspect_records.inspect_directory(output)
    assert warning in inspect_records.format_report(report)
    # The inspector checks the flags against metadata.json.
    path = os.path.join(output, "metadata.json")
    with open(path) as stream:
        stated = json.load(stream)
    stated["recordings"]["gone"]["face_frames"] += 1
    with open(path, "w") as stream:
        json.dump(stated, stream)
    with pytest.raises(inspect_records.InspectError, match="'gone': .* flagged with a face"):
        inspect_records.inspect_directory(output)
    # A centre crop is not a detection: no found fraction, no warning, every frame flagged.
    centred = convert([recording], str(tmp_path / "centre"))
    assert centred["face_found_fraction"] is None and centred["low_face_recordings"] == {}
    assert all(f["face"] == 1 for f in all_records(str(tmp_path / "centre"))["gone"])


def test_version_1_records_still_read_with_the_face_unknown(records, tmp_path):
    import tensorflow as tf

    output, _, _ = records
    old = str(tmp_path / "v1")
    os.makedirs(old)
    with open(os.path.join(output, "metadata.json")) as stream:
        metadata = json.load(stream)
    metadata["schema_version"] = 1
    for key in ("face_found_fraction", "low_face_recordings"):
        metadata.pop(key)
    for report in metadata["recordings"].values():
        report.pop("face_frames"), report.pop("face_found_fraction")
    with open(os.path.join(old, "metadata.json"), "w") as stream:
        json.dump(metadata, stream)
    for info in metadata["splits"].values():  # the same records without the flag
        for shard in info["shards"]:
            with tf.io.TFRecordWriter(os.path.join(old, shard["file"])) as out:
                for serialized in tf.data.TFRecordDataset(os.path.join(output, shard["file"])):
                    example = tf.train.Example.FromString(serialized.numpy())
                    del example.features.feature["face"]
                    out.write(example.SerializeToString())
    frames = inspect_records.read_split(old, "train")
    current = inspect_records.read_split(output, "train")
    for rid, arrays in frames.items():
        assert np.all(arrays["face"] == schema.FACE_UNKNOWN)
        np.testing.assert_array_equal(arrays["video"], current[rid]["video"])
    assert inspect_records.inspect_directory(old)["metadata"]["schema_version"] == 1
    metadata["schema_version"] = 3
    with open(os.path.join(old, "metadata.json"), "w") as stream:
        json.dump(metadata, stream)
    with pytest.raises(inspect_records.InspectError, match="schema version 3, this code reads"):
        inspect_records.load_metadata(old)
