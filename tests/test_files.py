"""atomic_path: a failed write leaves the old file, a good one replaces it."""

import os

import pytest

from e2e_emotion.files import atomic_path


def test_atomic_path_replaces_on_success_and_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "sub" / "report.json"
    with atomic_path(target) as temporary:
        assert os.path.dirname(temporary) == str(target.parent)
        with open(temporary, "w") as stream:
            stream.write("first")
    assert target.read_text() == "first"
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as temporary:
        with open(temporary, "w") as stream:
            stream.write("half")
        raise RuntimeError("boom")
    assert target.read_text() == "first"
    assert sorted(os.listdir(target.parent)) == ["report.json"]
