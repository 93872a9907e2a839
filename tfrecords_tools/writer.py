"""Corpus -> TFRecord shards + ``metadata.json``.

Each recording is converted on its own (``tfrecords_tools.conversion``, in a process
pool) to a part file; part files are then joined (TFRecord files concatenate) into
shards that each hold whole recordings, so a sequence reader never needs two shards for
one recording. This module runs a conversion: the checks, the process pool, the
progress bar and publishing; the job, its shards and ``metadata.json`` are
``corpus_job``'s, shared with the same run as an Apache Beam pipeline (``writer_beam``).

Everything is written into a hidden staging directory beside the output and renamed
at the very end: an interrupted run never leaves a directory that looks complete, and
with ``overwrite`` the previous output is only removed once the new one is in place.
An output on an object store (``gs://...``, ``storage``) is staged the same way and then
copied in, ``metadata.json`` last: until that file is there, readers refuse the output.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import shutil
import sys
import time

from tfrecords_tools import conversion, schema, storage

# The per-recording side, under the names callers know (writer.ConversionOptions, ...).
from tfrecords_tools.conversion import (
    ConversionError,
    ConversionOptions,
    DiskFullError,
    convert_recording,
)
from tfrecords_tools.corpus_job import ConversionJob, assemble
from tfrecords_tools.output_paths import is_disk_full, remove_dead_staging, staging_name

__all__ = [
    "ConversionError",
    "ConversionOptions",
    "DiskFullError",
    "convert_corpus",
    "convert_recording",
]


class _Progress:
    """Recordings done, frames written and frames/s, on Keras' progress bar (the one the
    trainer shows); nothing is shown when ``enabled`` is False."""

    def __init__(self, total, enabled):
        self.done, self.frames = 0, 0
        self.started = time.perf_counter()
        self.bar = None
        if enabled:
            from keras.utils import Progbar  # Keras is installed with TensorFlow

            metrics = ["frames", "frames/s"]
            self.bar = Progbar(total, unit_name="recording", stateful_metrics=metrics)

    def update(self, frames):
        self.done += 1
        self.frames += frames
        if self.bar is None:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.frames / elapsed if elapsed > 0 else 0.0
        self.bar.update(self.done, [("frames", self.frames), ("frames/s", rate)])


def _check_output(output_dir, overwrite):
    if storage.exists(output_dir):
        if not storage.isdir(output_dir):
            raise ConversionError(f"output {output_dir} exists and is not a directory")
        names = storage.listdir(output_dir)
        if names and not overwrite:
            # Shards without metadata.json: a publish to an object store that was cut short.
            incomplete = schema.METADATA_FILE not in names and any(
                ".tfrecord" in name for name in names
            )
            raise ConversionError(
                f"output directory {output_dir} is not empty"
                + (" (records without metadata.json: an incomplete output)" if incomplete else "")
                + "; pass --overwrite to replace it"
            )


def _publish(staging, output_dir, overwrite):
    """Renames ``staging`` to ``output_dir``, replacing an old output only at the end.
    The output is checked again here: another conversion may have published it since
    this one started."""
    _check_output(output_dir, overwrite)
    if storage.is_url(output_dir):
        _publish_to_store(staging, output_dir)
        return
    backup = None
    if os.path.exists(output_dir):
        backup = f"{staging}.previous"
        os.rename(output_dir, backup)
    os.rename(staging, output_dir)
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)


def _publish_to_store(staging, output_dir):
    """An object store has no atomic rename of a directory: the old output's
    ``metadata.json`` goes first (from then on readers see it incomplete), then its other
    files, then the new shards are copied in and ``metadata.json`` last, the mark of a
    complete output."""
    old = storage.listdir(output_dir) if storage.exists(output_dir) else []
    if schema.METADATA_FILE in old:
        storage.remove(storage.join(output_dir, schema.METADATA_FILE))
    for name in old:
        path = storage.join(output_dir, name)
        if storage.isdir(path):
            storage.rmtree(path)
        else:
            storage.remove(path)
    storage.makedirs(output_dir, exist_ok=True)
    names = sorted(storage.listdir(staging), key=lambda name: name == schema.METADATA_FILE)
    for name in names:
        storage.copy(storage.join(staging, name), storage.join(output_dir, name))
    storage.rmtree(staging)


RUNNERS = ("local", "beam")


def convert_corpus(
    recordings,
    output_dir,
    options=None,
    overwrite=False,
    progress=True,
    tool_arguments=None,
    skipped=None,
    runner="local",
    beam_args=(),
):
    """Converts ``recordings`` (a list of ``Recording``) into shards in ``output_dir``.

    ``skipped``: ``{recording id: reason}`` of recordings the corpus reader left out
    (listed in ``metadata.json``'s ``skipped`` with those that fail to convert).

    ``runner``: ``local`` (a process pool of ``options.processes``) or ``beam`` (an Apache
    Beam pipeline, one element per recording, run with the pipeline options ``beam_args``,
    e.g. ``["--direct_running_mode=multi_processing", "--direct_num_workers=2"]``): the
    same per-recording conversion and the same shards and metadata either way.

    ``options``: a ``ConversionOptions`` (None: the defaults). Returns the metadata dict
    that was written to ``output_dir/metadata.json``.

    Raises:
        ConversionError: the output exists (without ``overwrite``), a recording failed
            (with ``on_error="fail"``), or the disk filled up. Nothing is left behind
            in any of these cases.
    """
    options = ConversionOptions() if options is None else options
    options.check()
    if runner not in RUNNERS:
        raise ConversionError(f"--runner={runner!r}: expected one of {RUNNERS}")
    pipeline_options = None
    if runner == "beam":  # before any work: the extra may be missing, an option wrong
        pipeline_options = _beam_options(beam_args)
    if not recordings:
        raise ConversionError("no recordings to convert")
    ids = [r.id for r in recordings]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConversionError(f"duplicate recording ids: {duplicates}")
    modalities = sorted(
        {m for r in recordings for m, p in (("audio", r.audio_path), ("video", r.video_path)) if p}
    )
    for r in recordings:
        missing = [
            m
            for m, p in (("audio", r.audio_path), ("video", r.video_path))
            if m in modalities and not p
        ]
        if missing:
            raise ConversionError(
                f"recording {r.id!r} has no {' or '.join(missing)} while others do: a directory "
                "holds one set of modalities (convert audio-only recordings separately)"
            )
    output_dir = storage.absolute(output_dir)
    _check_output(output_dir, overwrite)
    parent = storage.dirname(output_dir)
    storage.makedirs(parent, exist_ok=True)
    # Staging directories of conversions that were killed are reclaimed; a live one's stay.
    prefix = f".{storage.basename(output_dir)}.partial-"
    remove_dead_staging(parent, prefix)
    staging = storage.join(parent, staging_name(prefix))
    storage.rmtree(staging)
    job = ConversionJob(staging, recordings, modalities, options, tool_arguments, skipped or {})
    try:
        if runner == "beam":
            from tfrecords_tools.writer_beam import convert_with_beam

            metadata = convert_with_beam(job, pipeline_options)
        else:
            metadata = _convert_into(job, progress)
        _publish(staging, output_dir, overwrite)
    except (OSError, DiskFullError) as error:
        storage.rmtree(staging)
        if is_disk_full(error):
            detail = str(error).rsplit("; ", 1)[-1]
            if isinstance(error, OSError):
                detail = error.strerror
            raise ConversionError(
                f"disk full while writing {output_dir} ({detail}); nothing was written"
                + (" and the previous output is untouched" if storage.exists(output_dir) else "")
            ) from error
        raise
    except BaseException:
        storage.rmtree(staging)
        raise
    return metadata


def _beam_options(args):
    from tfrecords_tools.beam_options import pipeline_options

    try:
        return pipeline_options(args)
    except ValueError as error:
        raise ConversionError(str(error)) from None


def _convert_into(job, progress):
    recordings, options, part_path = job.recordings, job.options, job.part_path
    storage.makedirs(job.parts_dir)
    reports, failures = {}, {}
    bar = _Progress(len(recordings), progress)

    def collect(result):
        rid, report, error = result
        if error is not None:
            if options.on_error == "fail":
                raise ConversionError(error)
            failures[rid] = error
            if progress:
                sys.stderr.write(f"\nskipped: {error}\n")
        else:
            reports[rid] = report
        bar.update(report["num_frames"] if report else 0)

    if options.processes == 1 or len(recordings) == 1:
        for r in recordings:
            collect(conversion.convert_safely(r, part_path[r.id], options))
    else:
        context = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
        workers = min(options.processes, len(recordings))
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            convert = conversion.convert_safely
            futures = [pool.submit(convert, r, part_path[r.id], options) for r in recordings]
            try:
                for future in concurrent.futures.as_completed(futures):
                    collect(future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    return assemble(job, reports, failures)
