"""Output paths of the ``bin/`` scripts, checked when the flags are parsed, and the
staging directories that outputs are written in before they are published.

Standard library only (no TensorFlow, no NumPy), so every script can use it without
slowing ``--help``; a ``scheme://`` path (``storage``) imports TensorFlow to ask its
file system. A flag whose path cannot be written (a file where a directory is
needed, a directory where a file is, a parent that is a file or is not writable) is
refused by absl before any work starts, naming the flag and the path at fault. A staging
directory carries its process's PID in its name, so one left by a killed process is told
from one a live process is writing, and reclaimed.
"""

from __future__ import annotations

import errno
import os

from tfrecords_tools import storage


def output_path_problem(path, kind="directory"):
    """Why ``path`` cannot be written as a ``kind`` (``"directory"`` or ``"file"``), or
    ``None``: a file where a directory is needed (the path itself or the nearest existing
    parent), a directory where a file is needed, or a parent that is not writable."""
    if kind not in ("directory", "file"):
        raise ValueError(f"kind must be 'directory' or 'file', got {kind!r}")
    path = os.fspath(path)
    if storage.is_url(path):
        problem = storage.url_problem(path)
        if problem is None and storage.exists(path):
            if kind == "directory" and not storage.isdir(path):
                return f"{path} is a file, not a directory"
            if kind == "file" and storage.isdir(path):
                return f"{path} is a directory, not a file"
        return problem
    absolute = os.path.abspath(path)
    if kind == "file":
        if os.path.isdir(absolute):
            return f"{path} is a directory, not a file"
        absolute = os.path.dirname(absolute)
    elif os.path.exists(absolute) and not os.path.isdir(absolute):
        return f"{path} is a file, not a directory"
    existing = absolute
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"{existing} (a parent of {path}) is a file, not a directory"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def register_output_checks(flags, directories=(), files=(), flag_values=None):
    """Makes the absl ``flags`` module refuse, at flag parsing, an output flag whose path
    cannot be written (:func:`output_path_problem`), naming the flag and the path at
    fault, before any work starts. ``directories`` / ``files``: flag names."""
    flag_values = flags.FLAGS if flag_values is None else flag_values
    for names, kind in ((directories, "directory"), (files, "file")):
        for name in names:

            def check(value, kind=kind):
                problem = output_path_problem(value, kind) if value else None
                if problem:
                    raise flags.ValidationError(problem)
                return True

            flags.register_validator(name, check, flag_values=flag_values)


def process_alive(pid):
    """Whether process ``pid`` of this host is running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def staging_name(prefix):
    """``prefix`` + this process's PID + ``-``: the name of a staging directory (or file)
    that :func:`remove_dead_staging` can tell from another live process's."""
    return f"{prefix}{os.getpid()}-"


def remove_dead_staging(directory, prefix):
    """Removes the entries of ``directory`` named ``prefix`` + PID + ``-`` ... (staging
    directories and files of :func:`staging_name`) whose process is gone: what a killed
    conversion or export left behind. Entries of live processes stay. Returns the removed
    paths. ``directory`` may be a URL (``storage``): its staging entries were made by
    processes of the machine that launched those jobs."""
    removed = []
    try:
        names = sorted(storage.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid != os.getpid() and process_alive(pid):
            continue
        path = storage.join(directory, name)
        if storage.isdir(path) and not os.path.islink(path):
            storage.rmtree(path)
        else:
            storage.remove(path)
        removed.append(path)
    return removed


DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
DISK_FULL_MESSAGES = ("No space left on device", "File too large", "Disk quota exceeded")


def is_disk_full(error):
    """True for OSErrors and TensorFlow file errors (whose errno is lost in a message)
    caused by a full disk, a quota or a file-size limit."""
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return True
    return any(message in str(error) for message in DISK_FULL_MESSAGES)
