"""Writing files so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile

from tfrecords_tools import storage
from tfrecords_tools.output_paths import process_alive


def _umask():
    """The process's umask, read without changing it where the system says it (Linux);
    elsewhere set and restored at once."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as stream:
        for line in stream:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode():
    """The mode a new file gets from ``open()`` under the current umask (0644 usually):
    temporary files (created 0600) get it before they are renamed into place, so every
    output has the mode of the others."""
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yields a temporary path beside ``path``; renames it onto ``path`` on success.

    The parent directory is created. On any exception the temporary file is removed and
    ``path`` keeps its old content (or stays absent). ``suffix`` matters to writers that
    pick a format from the file name (``.keras``, ``.png``). The file gets the mode of a
    file created with ``open()`` (the umask's), not ``mkstemp``'s 0600.

    ``path`` may be a URL (``gs://...``, ``tfrecords_tools.storage``): the temporary file
    is then local and copied to ``path`` on success, an object that appears whole.
    """
    path = os.fspath(path)
    if storage.is_url(path):
        with tempfile.TemporaryDirectory(prefix="e2e_emotion-upload-") as local:
            temporary = os.path.join(local, f"{storage.basename(path)}{suffix}")
            yield temporary
            storage.makedirs(storage.dirname(path), exist_ok=True)
            storage.copy(temporary, path)
        return
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=suffix, dir=directory
    )
    os.close(handle)
    try:
        os.chmod(temporary, file_mode())
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


class LockedError(RuntimeError):
    """Another live process holds the lock; the message names it."""


@contextlib.contextmanager
def directory_lock(directory, what="this directory"):
    """Holds an advisory lock on ``directory`` (a ``.lock`` file holding the owner's PID
    and host) while the block runs; removed at the end, even on an exception.

    A lock left by a dead process of this host is stale and taken over. A lock of a live
    process, or of another host (whose processes cannot be checked from here), raises
    :class:`LockedError` naming its owner and the file to delete if that owner is gone.
    """
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, ".lock")
    host = socket.gethostname()
    owner = f"{os.getpid()} {host}\n"
    for _ in range(3):
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(path) as stream:
                    pid_text, _, lock_host = stream.read().strip().partition(" ")
            except FileNotFoundError:
                continue  # released meanwhile
            try:
                pid = int(pid_text)
            except ValueError:
                pid = None
            if lock_host == host and (pid is None or not process_alive(pid)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)  # stale: its process is gone
                continue
            raise LockedError(
                f"{what} is in use by process {pid_text} on {lock_host or 'an unknown host'} "
                f"(lock file {path}); wait for it to finish, or delete the lock file if that "
                "process is gone"
            ) from None
        with os.fdopen(handle, "w") as stream:
            stream.write(owner)
        break
    else:
        raise LockedError(f"could not take the lock {path}: it keeps reappearing")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            with open(path) as stream:
                mine = stream.read() == owner
            if mine:
                os.unlink(path)
