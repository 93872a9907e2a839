"""One corpus conversion's job and its shards: what both runners share.

A ``ConversionJob`` is what every step of a conversion reads; the local process pool
(``writer``) and the Apache Beam pipeline (``writer_beam``) convert each recording to a
part file in the job's staging directory, then join the part files into shards that
each hold whole recordings (``shard_plan``, ``write_shard``: TFRecord files
concatenate) and write ``metadata.json`` (``write_metadata``), its figures summed by
``corpus_totals``. ``assemble`` is the whole of that last step in one process.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import shutil

from tfrecords_tools import corpus_totals, schema, storage
from tfrecords_tools.conversion import ConversionError, ConversionOptions
from tfrecords_tools.records import FACE_WARNING_FRACTION


def assign_shards(recording_frames, num_shards):
    """Whole recordings to at most ``num_shards`` shards, balanced by frames.

    Largest recordings first into the least-filled shard; within a shard recordings keep
    the corpus order. Returns a list of lists of recording ids.
    """
    ids = list(recording_frames)
    count = min(num_shards, len(ids))
    loads = [0] * count
    members = [[] for _ in range(count)]
    for rid in sorted(ids, key=lambda r: (-recording_frames[r], ids.index(r))):
        target = loads.index(min(loads))
        loads[target] += recording_frames[rid]
        members[target].append(rid)
    return [sorted(group, key=ids.index) for group in members]


@dataclasses.dataclass(frozen=True)
class ConversionJob:
    """What every step of one conversion reads, the local pool's and the Beam pipeline's:
    the ``staging`` directory, the ``recordings`` (corpus order), their ``modalities``,
    the ``options``, and for ``metadata.json`` the ``tool_arguments`` and the recordings
    the corpus reader ``skipped``."""

    staging: str
    recordings: list
    modalities: list
    options: ConversionOptions
    tool_arguments: dict | None
    skipped: dict

    @functools.cached_property
    def order(self):
        """``{recording id: place in the corpus}``."""
        return {r.id: index for index, r in enumerate(self.recordings)}

    @property
    def parts_dir(self):
        """Where each recording's frames are written first (removed at the end)."""
        return storage.join(self.staging, "parts")

    @functools.cached_property
    def part_path(self):
        """``{recording id: part file}`` in ``parts_dir``."""
        return {
            r.id: storage.join(self.parts_dir, f"{i:05d}.tfrecord")
            for i, r in enumerate(self.recordings)
        }


def shard_plan(options, split, frames):
    """``[(shard file name, [recording ids])]`` of a split whose recordings have
    ``frames`` (``{id: frames}``, in corpus order)."""
    groups = assign_shards(frames, options.num_shards)
    return [
        (schema.shard_name(options.name, split, index, len(groups)), group)
        for index, group in enumerate(groups)
    ]


def write_shard(job, filename, group, frames):
    """Joins the part files of the recordings ``group`` into the shard ``filename`` (TFRecord
    files concatenate); returns its ``metadata.json`` entry."""
    with storage.open_file(storage.join(job.staging, filename), "wb") as out:
        for rid in group:
            with storage.open_file(job.part_path[rid], "rb") as part:
                shutil.copyfileobj(part, out, 1 << 20)
        storage.sync(out)
    return {"file": filename, "num_frames": sum(frames[r] for r in group), "recordings": group}


def split_entry(split, totals, shards):
    """A split's ``metadata.json`` entry from its ``SplitTotals`` and shard entries."""
    if len(totals["labelled"]) > 1:
        raise ConversionError(f"split {split!r} mixes labelled and unlabelled recordings")
    return {
        "labelled": next(iter(totals["labelled"])),
        "num_recordings": totals["num_recordings"],
        "num_frames": totals["num_frames"],
        "shards": shards,
        "recordings": totals["recordings"],
        "label_stats": totals["label_stats"],
    }


def assemble(job, reports, failures):
    """Joins the recordings' part files into shards and writes ``metadata.json`` in the
    job's staging directory, from the per-recording ``reports`` (``{id: report}``) and
    ``failures`` (``{id: message}``); the part files are removed. Returns the metadata.
    The Beam pipeline (``writer_beam``) does the same with the same functions, spread over
    its workers."""
    splits = {}
    for split in dict.fromkeys(r.split for r in job.recordings):
        members = [
            (r.id, reports[r.id]) for r in job.recordings if r.split == split and r.id in reports
        ]
        if not members:
            continue
        totals = corpus_totals.fold(corpus_totals.SplitTotals(job.order), members)
        frames = totals["recordings"]
        shards = [
            write_shard(job, filename, group, frames)
            for filename, group in shard_plan(job.options, split, frames)
        ]
        splits[split] = split_entry(split, totals, shards)
    faces = corpus_totals.fold(corpus_totals.FaceTotals(), reports.values())
    return write_metadata(job, splits, reports, failures, faces)


def write_metadata(job, splits, reports, failures, faces):
    """Removes the part files and writes ``metadata.json`` in the job's staging directory
    from the split entries, the reports, failures and ``FaceTotals``; returns the
    metadata."""
    recordings, options = job.recordings, job.options
    storage.rmtree(job.parts_dir)
    if not splits:
        raise ConversionError(
            "every recording failed: "
            + "; ".join(failures[r.id] for r in recordings if r.id in failures)
        )
    order = list(dict.fromkeys(r.split for r in recordings))
    splits = {split: splits[split] for split in order if split in splits}
    recording_reports = {}
    for r in recordings:
        if r.id in reports:
            report = dict(reports[r.id])
            report.pop("label_sums", None)
            recording_reports[r.id] = report
    failed = {r.id: failures[r.id] for r in recordings if r.id in failures}
    metadata = {
        "schema_version": schema.SCHEMA_VERSION,
        "name": options.name,
        "sample_rate": schema.SAMPLE_RATE,
        "frame_length": schema.FRAME_LENGTH,
        "frame_seconds": schema.FRAME_SECONDS,
        "image_size": schema.IMAGE_SIZE,
        "image_format": options.image_format,
        "label_names": list(schema.LABEL_NAMES),
        "modalities": job.modalities,
        "splits": splits,
        "recordings": recording_reports,
        "skipped": {**job.skipped, **failed},
        "face_missed_fraction": faces["face_missed_fraction"],
        # Frames whose crop holds a detected face, over the corpus and per recording; the
        # recordings under FACE_WARNING_FRACTION are listed (see face_warnings).
        "face_found_fraction": faces["face_found_fraction"],
        "low_face_recordings": {
            rid: rep["face_found_fraction"]
            for rid, rep in recording_reports.items()
            if rep.get("face_found_fraction", 1.0) < FACE_WARNING_FRACTION
        },
        "tool_arguments": job.tool_arguments or dataclasses.asdict(options),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    path = storage.join(job.staging, schema.METADATA_FILE)
    with storage.open_file(path, "w") as stream:
        json.dump(metadata, stream, indent=2, sort_keys=False)
        storage.sync(stream)
    return metadata
