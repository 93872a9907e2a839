"""Output paths of the ``bin/`` scripts, checked when the flags are parsed.

Standard library only (no TensorFlow, no NumPy), so every script can use it without
slowing ``--help``. A flag whose path cannot be written (a file where a directory is
needed, a directory where a file is, a parent that is a file or is not writable) is
refused by absl before any work starts, naming the flag and the path at fault.
"""

from __future__ import annotations

import os


def output_path_problem(path, kind="directory"):
    """Why ``path`` cannot be written as a ``kind`` (``"directory"`` or ``"file"``), or
    ``None``: a file where a directory is needed (the path itself or the nearest existing
    parent), a directory where a file is needed, or a parent that is not writable."""
    if kind not in ("directory", "file"):
        raise ValueError(f"kind must be 'directory' or 'file', got {kind!r}")
    path = os.fspath(path)
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
