"""atomic_path: a failed write leaves the old file, a good one replaces it, with the
umask's mode; directory_lock: one owner at a time, stale locks taken over."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_emotion.files import LockedError, atomic_path, directory_lock


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


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_path_gives_the_umask_mode(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with atomic_path(tmp_path / "out.csv") as temporary, open(temporary, "w") as stream:
            stream.write("x")
        with open(tmp_path / "plain.csv", "w") as stream:
            stream.write("x")
    finally:
        os.umask(previous)
    mode = os.stat(tmp_path / "out.csv").st_mode & 0o777
    assert mode == 0o666 & ~umask == os.stat(tmp_path / "plain.csv").st_mode & 0o777


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_directory_lock(tmp_path):
    host = socket.gethostname()
    with directory_lock(tmp_path, "--model_dir=m") as path:
        assert Path(path).read_text() == f"{os.getpid()} {host}\n"
        # Held by a live process (this one): refused, naming it and the file.
        with pytest.raises(LockedError) as held, directory_lock(tmp_path, "--model_dir=m"):
            pass
        assert str(held.value) == (
            f"--model_dir=m is in use by process {os.getpid()} on {host} (lock file {path}); "
            "wait for it to finish, or delete the lock file if that process is gone"
        )
    assert os.listdir(tmp_path) == []  # released
    lock = tmp_path / ".lock"
    # Left by a process of this host that is gone: stale, taken over, then released.
    lock.write_text(f"{_dead_pid()} {host}\n")
    with directory_lock(tmp_path) as path:
        assert Path(path).read_text() == f"{os.getpid()} {host}\n"
    assert not lock.exists()
    # Another host's: cannot be checked from here, so it holds.
    lock.write_text("4242 elsewhere\n")
    with (
        pytest.raises(LockedError, match="in use by process 4242 on elsewhere"),
        directory_lock(tmp_path),
    ):
        pass
    assert lock.read_text() == "4242 elsewhere\n"
    # Released on an exception inside the block.
    lock.unlink()
    with pytest.raises(RuntimeError, match="boom"), directory_lock(tmp_path):
        raise RuntimeError("boom")
    assert not lock.exists()
