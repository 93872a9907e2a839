"""The benchmark command runs with tiny shapes and emits valid JSON (no timing checks)."""

import json
import os
import platform
import subprocess
import sys

import pytest

from e2e_emotion.cpu import CPU_FLAGS, cpu_info, describe, xla_trains_audio_faster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmark_command_emits_valid_json(small_records, tmp_path):
    output = tmp_path / "bench.json"
    command = [
        sys.executable,
        os.path.join(ROOT, "bin", "benchmark.py"),
        "--tiny",
        "--batch=1",
        "--frames=4",
        "--repeats=1",
        "--warmup=0",
        "--models=audio_paper_fft,audio_paper_direct,visual",
        f"--records={small_records}",
        f"--json={output}",
        "--conv_kernels=9,40",
        "--conversion_seconds=1",
        "--conversion_image_size=128",
        "--conversion_fps=30",
    ]
    temporary = tmp_path / "tmp"  # the benchmark's own temporary files go here
    temporary.mkdir()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TMPDIR": str(temporary)}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not [p.name for p in temporary.iterdir() if p.name.startswith("e2e_emotion_")]
    data = json.loads(output.read_text())
    assert [row["model"] for row in data["models"]] == [
        "audio_paper_fft",
        "audio_paper_direct",
        "visual",
    ]
    for row in data["models"]:
        assert row["train_frames_per_s"] > 0 and row["infer_frames_per_s"] > 0
        assert row["batch"] == 1 and row["frames"] == 4
    # Both audio variants count the FLOPs of the same (direct) computation.
    assert data["models"][0]["forward_gflop"] == data["models"][1]["forward_gflop"] > 0
    fft, direct = data["models"][0], data["models"][1]
    assert data["fft_speedup"] == {
        "train": fft["train_frames_per_s"] / direct["train_frames_per_s"],
        "infer": fft["infer_frames_per_s"] / direct["infer_frames_per_s"],
    }
    assert "audio paper, FFT over direct convolution: train " in result.stdout
    assert {row["modality"] for row in data["pipeline"]} == {"audio", "visual"}
    split = data["time_split"][0]
    assert split["model"] == "audio_paper_fft"
    assert list(split["parts_s"]) == ["conv1 + pool1", "conv2", "channel pool", "recurrent head"]
    assert all(seconds >= 0 for seconds in split["parts_s"].values())
    assert [row["kernel_size"] for row in data["long_conv"]] == [9, 40]
    for row in data["long_conv"]:
        assert row["frames"] == 4
        assert all(row[f"{m}_{k}_s"] > 0 for m in ("fft", "direct") for k in ("forward", "train"))
    assert "conv2 alone, 40 taps: forward FFT" in result.stdout
    assert data["environment"]["tensorflow"].startswith("2.")
    flags = data["environment"]["cpu_flags"]
    assert flags is None or set(flags) <= set(CPU_FLAGS)
    assert "; flags: " in result.stdout
    conversion = data["conversion"]
    assert conversion["frames"] == 25 and conversion["image_size"] == 128
    assert conversion["fps"] == 30 and conversion["video_fps"] == 30  # the file's rate
    assert conversion["frames_per_second"] > 0 and 0 <= conversion["face_missed_fraction"] <= 1
    assert "conversion to records (1 s of 128-pixel 30 fps video" in result.stdout
    assert data["matmul_gflop_per_s"] > 0
    assert "audio_paper_fft" in result.stdout and "input pipeline (visual)" in result.stdout


def test_cpu_info_reads_the_flags_that_matter():
    text = (
        "processor\t: 0\nmodel name\t: AMD EPYC 9R14\n"
        "flags\t\t: fpu sse2 avx2 fma avx512f avx512_bf16 avx512_vnni\n\n"
        "processor\t: 1\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu amx_tile\n"
    )
    assert cpu_info(text) == {
        "model": "AMD EPYC 9R14",
        "flags": ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16"],
    }
    assert cpu_info("processor\t: 0\n") == {"model": None, "flags": []}


def test_xla_is_chosen_for_the_audio_step_by_the_cpu_kind():
    assert xla_trains_audio_faster(["avx2", "fma"]) is True
    assert xla_trains_audio_faster(["avx2", "fma", "avx512f", "avx512_bf16"]) is True
    assert xla_trains_audio_faster(["avx512f", "amx_tile", "amx_bf16"]) is False
    assert xla_trains_audio_faster([]) is True
    assert describe(["avx2", "fma"]) == "avx2, fma"
    assert describe([]).startswith("none of avx2, fma, avx512f")


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("--models=resnet152", "unknown ['resnet152']"),
        ("--conv_kernels=64,big", "--conv_kernels: expected positive integers, got 'big'"),
    ],
)
def test_benchmark_rejects_bad_flags(flag, message):
    command = [sys.executable, os.path.join(ROOT, "bin", "benchmark.py"), flag]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert message in result.stderr


def test_timed_runs_counts_calls_and_checks_arguments():
    from e2e_emotion.timing import timed_runs

    calls = []
    times = timed_runs(lambda: calls.append(1), repeats=3, warmup=2)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)
    with pytest.raises(ValueError, match="repeats must be >= 1, got 0"):
        timed_runs(lambda: None, repeats=0)
    with pytest.raises(ValueError, match="warmup must be >= 0, got -1"):
        timed_runs(lambda: None, repeats=1, warmup=-1)


def _onednn_setting_after_import(env):
    code = "import os, e2e_emotion; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_importing_the_package_turns_onednn_on_unless_the_user_chose():
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    assert _onednn_setting_after_import(env) == ("1" if x86 else "None")
    assert _onednn_setting_after_import({**env, "TF_ENABLE_ONEDNN_OPTS": "0"}) == "0"


def test_bfloat16_gradients_reach_the_reference_network_only():
    from e2e_emotion import benchmark

    results = benchmark.run(
        ["audio_reference", "audio_paper_direct"],
        batch=1,
        frames=4,
        repeats=1,
        warmup=0,
        tiny=True,
        bfloat16_gradients=True,
        pipeline=False,
        time_split=False,
    )
    assert results["bfloat16_gradients"] is True
    rows = {row["model"]: row for row in results["models"]}
    # The paper network has no FrameConv2D: measured as it is, not refused.
    assert rows["audio_reference"]["bfloat16_gradients"] is True
    assert rows["audio_paper_direct"]["bfloat16_gradients"] is False
    assert all(row["train_frames_per_s"] > 0 for row in rows.values())
    with pytest.raises(ValueError, match="audio_paper_direct has no `reference` speech"):
        benchmark.benchmark_model(
            "audio_paper_direct", 1, 4, 1, 0, benchmark.TINY, bfloat16_gradients=True
        )
