"""Output flags of every bin/ script: a path that cannot be written is refused at flag
parsing, naming the flag and the path at fault (``tfrecords_tools.output_paths``)."""

import os
import re
import subprocess
import sys

import pytest
from absl import flags

from tfrecords_tools.output_paths import output_path_problem, register_output_checks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_output_path_problem(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    assert output_path_problem(tmp_path / "new" / "deeper") is None  # created later
    assert output_path_problem(tmp_path) is None
    assert output_path_problem(tmp_path / "new.csv", "file") is None
    assert output_path_problem(a_file, "file") is None  # replaced later
    assert output_path_problem(a_file) == f"{a_file} is a file, not a directory"
    assert output_path_problem(a_file / "x" / "y") == (
        f"{a_file} (a parent of {a_file / 'x' / 'y'}) is a file, not a directory"
    )
    assert output_path_problem(tmp_path, "file") == f"{tmp_path} is a directory, not a file"
    assert output_path_problem(a_file / "out.csv", "file") == (
        f"{a_file} (a parent of {a_file / 'out.csv'}) is a file, not a directory"
    )
    with pytest.raises(ValueError, match="kind must be 'directory' or 'file', got 'dir'"):
        output_path_problem(tmp_path, "dir")
    assert a_file.read_text() == "keep"


def test_registered_checks_name_the_flag(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    values = flags.FlagValues()
    flags.DEFINE_string("output_dir", None, "", flag_values=values)
    flags.DEFINE_string("output_csv", None, "", flag_values=values)
    register_output_checks(flags, ["output_dir"], ["output_csv"], flag_values=values)
    values(["script"])  # unset flags are not checked
    assert values.output_dir is None
    values.unparse_flags()
    values(["script", f"--output_dir={tmp_path / 'run'}", f"--output_csv={tmp_path / 'a.csv'}"])
    values.unparse_flags()
    message = f"--output_dir={a_file}: {a_file} is a file, not a directory"
    with pytest.raises(flags.IllegalFlagValueError, match=re.escape(message)):
        values(["script", f"--output_dir={a_file}"])
    values.unparse_flags()
    message = f"--output_csv={tmp_path}: {tmp_path} is a directory, not a file"
    with pytest.raises(flags.IllegalFlagValueError, match=re.escape(message)):
        values(["script", f"--output_csv={tmp_path}"])


# Every script with an output flag, and the other flags it requires (values never read).
SCRIPTS = [
    ("train", "model_dir", "directory", ["--records=r"]),
    ("evaluate", "output_dir", "directory", ["--model=m", "--records=r"]),
    ("export", "export_base", "directory", ["--model=m", "--model_name=n"]),
    ("convert_tflite", "output_dir", "directory", ["--model=m"]),
    ("make_tfrecords", "output_dir", "directory", ["--input=i"]),
    ("make_synthetic_corpus", "output_dir", "directory", []),
    ("quickstart", "work_dir", "directory", []),
    ("predict", "output_csv", "file", ["--media=m.wav", "--model=m"]),
    ("predict", "output_png", "file", ["--media=m.wav", "--model=m", "--output_csv=o.csv"]),
    ("live", "output_csv", "file", ["--source=s.mp4", "--model=m"]),
    ("serving_client", "output_csv", "file", ["--media=m.wav", "--model_name=n"]),
    ("benchmark", "json", "file", []),
    ("benchmark_tflite", "json", "file", ["--tflite=t"]),
    ("benchmark_tfrecords", "json", "file", []),
    ("inspect_tfrecords", "contact_sheet", "file", ["--records=r"]),
    ("inspect_tfrecords", "plot", "file", ["--records=r"]),
]


@pytest.mark.parametrize(("script", "flag", "kind", "required"), SCRIPTS)
def test_every_script_refuses_an_unwritable_output(tmp_path, script, flag, kind, required):
    a_file = tmp_path / "a_file"
    a_file.write_text("keep")
    bad = a_file if kind == "directory" else tmp_path
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bin", f"{script}.py"), f"--{flag}={bad}", *required],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode != 0
    expected = "is a file, not a directory" if kind == "directory" else "is a directory, not a file"
    assert f"flag --{flag}={bad}: {bad} {expected}" in result.stderr
    assert a_file.read_text() == "keep" and sorted(os.listdir(tmp_path)) == ["a_file"]
