"""File operations on local paths and on the object stores and file systems TensorFlow
reads (``gs://``, ``hdfs://``, ... : any ``scheme://`` path ``tf.io.gfile`` knows).

A cluster's workers (Dataflow's in particular) share no disk with the machine that
launched the job: their records and predictions go to an object store. Local paths keep
the standard library's calls (``fsync``, atomic ``rename``); a URL goes through
``tf.io.gfile``, imported only then, so that the scripts' ``--help`` and the local path
stay light.

An object store has no atomic rename of a directory: what the converter publishes there is
copied file by file, ``metadata.json`` last, and a records directory without
``metadata.json`` is incomplete (every reader refuses it).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil


def is_url(path):
    """Whether ``path`` is a ``scheme://`` path (an object store or a remote file system)."""
    return "://" in os.fspath(path)


def _gfile():
    import tensorflow as tf

    return tf.io.gfile


def _errors():
    import tensorflow as tf

    return tf.errors


def url_problem(path):
    """Why TensorFlow cannot use the URL ``path``, or ``None``: a scheme with no file
    system in this TensorFlow (``s3://`` needs tensorflow-io, which this project cannot
    use), or a store that refuses to be read (no bucket, no credentials)."""
    try:
        _gfile().exists(path)
    except Exception as error:  # TensorFlow's errors carry the store's reason
        scheme = os.fspath(path).split("://", 1)[0]
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if "not implemented" in reason.lower():
            return f"{path}: TensorFlow has no file system for {scheme}:// ({reason})"
        return f"{path}: cannot be reached ({reason})"
    return None


def join(base, *names):
    if is_url(base):
        return posixpath.join(os.fspath(base), *names)
    return os.path.join(base, *names)


def dirname(path):
    path = os.fspath(path)
    if is_url(path):
        scheme, rest = path.split("://", 1)
        return f"{scheme}://{posixpath.dirname(rest.rstrip('/'))}"
    return os.path.dirname(path)


def basename(path):
    path = os.fspath(path)
    return posixpath.basename(path.rstrip("/")) if is_url(path) else os.path.basename(path)


def absolute(path):
    """A local path made absolute; a URL as it is."""
    return os.fspath(path) if is_url(path) else os.path.abspath(path)


def exists(path):
    return _gfile().exists(path) if is_url(path) else os.path.exists(path)


def isdir(path):
    return _gfile().isdir(path) if is_url(path) else os.path.isdir(path)


def isfile(path):
    if is_url(path):
        gfile = _gfile()
        return gfile.exists(path) and not gfile.isdir(path)
    return os.path.isfile(path)


def size(path):
    """Bytes in file ``path``."""
    return _gfile().stat(path).length if is_url(path) else os.path.getsize(path)


def read_text(path):
    """The text of file ``path`` (UTF-8, a byte-order mark dropped), newlines as written."""
    if is_url(path):
        try:
            with _gfile().GFile(path, "rb") as stream:
                data = stream.read()
        except _errors().OpError as error:  # as open() would: an OSError
            raise OSError(error.message) from None
        return data.decode("utf-8-sig")
    with open(path, encoding="utf-8-sig", newline="") as stream:
        return stream.read()


def listdir(path):
    """The names in directory ``path`` (without the trailing ``/`` some stores add)."""
    if is_url(path):
        try:
            names = _gfile().listdir(path)
        except _errors().NotFoundError:  # as os.listdir says it
            raise FileNotFoundError(path) from None
        return [name.rstrip("/") for name in names]
    return os.listdir(path)


def makedirs(path, exist_ok=False):
    if is_url(path):
        if not exist_ok and _gfile().exists(path):
            raise FileExistsError(path)
        _gfile().makedirs(path)
    else:
        os.makedirs(path, exist_ok=exist_ok)


def rmtree(path):
    """Removes directory ``path`` and everything in it; absent is fine."""
    if is_url(path):
        with contextlib.suppress(_errors().NotFoundError):
            if _gfile().exists(path):
                _gfile().rmtree(path)
    else:
        shutil.rmtree(path, ignore_errors=True)


def remove(path):
    """Removes file ``path``; absent is fine."""
    if is_url(path):
        with contextlib.suppress(_errors().NotFoundError):
            _gfile().remove(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def open_file(path, mode="r"):
    """``open`` for local paths, ``tf.io.gfile.GFile`` for URLs."""
    return _gfile().GFile(path, mode) if is_url(path) else open(path, mode)


def sync(stream):
    """Flushes ``stream`` and, for a local file, forces it to disk (a URL's object is
    complete when its stream closes)."""
    stream.flush()
    if hasattr(stream, "fileno"):
        with contextlib.suppress(OSError, ValueError):
            os.fsync(stream.fileno())


def copy(source, target):
    """Copies file ``source`` to ``target``, replacing it (either may be a URL; an
    object appears whole or not at all)."""
    if is_url(source) or is_url(target):
        _gfile().copy(source, target, overwrite=True)
    else:
        shutil.copyfile(source, target)
