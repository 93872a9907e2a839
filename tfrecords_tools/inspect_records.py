"""Inspect and validate a directory written by ``tfrecords_tools.writer``.

Reads ``metadata.json`` and every shard, parses every record with the schema, and
checks that the shards hold what the metadata says: frame counts per shard and per
recording, frame indices ``0..n-1`` in order within each recording, label statistics.
Optionally draws a contact sheet of face crops and a plot of one recording's audio
envelope and labels.
"""

from __future__ import annotations

import math
import os

import numpy as np

from tfrecords_tools import schema
from tfrecords_tools.records import (
    RecordsError,
    face_warnings,
    iter_shard,
    load_metadata,
    read_recording,
    read_split,
)

# Flag values a record may hold: version 2 writes found / missing, version 1 reads as unknown.
_FACE_FLAGS = (schema.FACE_FOUND, schema.FACE_MISSING, schema.FACE_UNKNOWN)

# The inspector's errors are the reader's: one class, under the name callers know.
InspectError = RecordsError
__all__ = [
    "InspectError",
    "contact_sheet",
    "format_report",
    "inspect_directory",
    "iter_shard",
    "load_metadata",
    "plot_recording",
    "read_recording",
    "read_split",
]


def inspect_directory(directory, decode_video=True):
    """Validates every shard against the metadata. Returns a report dict.

    Raises:
        InspectError: naming the shard and record at fault.
    """
    metadata = load_metadata(directory)
    report = {"directory": os.path.abspath(directory), "splits": {}}
    for split, info in metadata["splits"].items():
        split_report = {"num_frames": 0, "shards": {}, "recordings": {}}
        sums = np.zeros(2)
        sums_sq = np.zeros(2)
        mins, maxs = np.full(2, np.inf), np.full(2, -np.inf)
        face_frames = {}
        for shard in info["shards"]:
            count = 0
            next_index = {}
            for record in iter_shard(directory, metadata, split, shard["file"], decode_video):
                rid = record["recording_id"].decode()
                where = f"{shard['file']} record {count} (recording {rid!r})"
                if rid not in shard["recordings"]:
                    raise InspectError(
                        f"{where}: recording not listed for this shard in metadata.json"
                    )
                expected = next_index.get(rid, 0)
                if record["frame_index"] != expected:
                    raise InspectError(
                        f"{where}: frame_index {record['frame_index']}, expected {expected}"
                    )
                next_index[rid] = expected + 1
                if "audio" in record and not np.all(np.isfinite(record["audio"])):
                    raise InspectError(f"{where}: non-finite audio")
                if "face" in record:
                    if record["face"] not in _FACE_FLAGS:
                        raise InspectError(f"{where}: face flag {record['face']}, expected 0 or 1")
                    face_frames[rid] = face_frames.get(rid, 0) + (record["face"] != 0)
                if info["labelled"]:
                    values = np.array([record[name] for name in schema.LABEL_NAMES], np.float64)
                    if not np.all(np.isfinite(values)):
                        raise InspectError(f"{where}: non-finite labels {values}")
                    sums += values
                    sums_sq += values**2
                    mins, maxs = np.minimum(mins, values), np.maximum(maxs, values)
                count += 1
            if count != shard["num_frames"]:
                raise InspectError(
                    f"{shard['file']}: {count} records, metadata.json says {shard['num_frames']}"
                )
            for rid in shard["recordings"]:
                if next_index.get(rid, 0) != info["recordings"][rid]:
                    raise InspectError(
                        f"{shard['file']}: recording {rid!r} has {next_index.get(rid, 0)} frames, "
                        f"metadata.json says {info['recordings'][rid]}"
                    )
            split_report["shards"][shard["file"]] = count
            split_report["num_frames"] += count
        for rid in info["recordings"]:
            stated = metadata.get("recordings", {}).get(rid, {}).get("face_frames")
            if stated is not None and face_frames.get(rid, 0) != stated:
                raise InspectError(
                    f"recording {rid!r}: {face_frames.get(rid, 0)} frames flagged with a face, "
                    f"metadata.json says {stated}"
                )
        split_report["recordings"] = dict(info["recordings"])
        if info["labelled"] and split_report["num_frames"]:
            n = split_report["num_frames"]
            stats = {}
            for d, name in enumerate(schema.LABEL_NAMES):
                mean = sums[d] / n
                stats[name] = {
                    "count": n,
                    "mean": mean,
                    "std": math.sqrt(max(sums_sq[d] / n - mean * mean, 0.0)),
                    "min": mins[d],
                    "max": maxs[d],
                }
                stored = info["label_stats"][name]
                if not (math.isclose(stored["mean"], mean, abs_tol=1e-5) and stored["count"] == n):
                    raise InspectError(
                        f"split {split!r}: {name} statistics differ from metadata.json "
                        f"(mean {mean:.6f} vs {stored['mean']:.6f})"
                    )
            split_report["label_stats"] = stats
        report["splits"][split] = split_report
    report["metadata"] = metadata
    return report


def format_report(report):
    """A readable table of the report."""
    metadata = report["metadata"]
    lines = [
        f"{report['directory']}: schema v{metadata['schema_version']}, "
        f"modalities {', '.join(metadata['modalities'])}, image {metadata.get('image_format')}",
    ]
    if metadata.get("face_missed_fraction") is not None:
        lines.append(
            f"face-detector runs without a face: {100 * metadata['face_missed_fraction']:.1f}%"
        )
    if metadata.get("face_found_fraction") is not None:
        lines.append(f"frames with a face found: {100 * metadata['face_found_fraction']:.1f}%")
    lines.extend(face_warnings(metadata))
    for split, info in report["splits"].items():
        minutes = info["num_frames"] * schema.FRAME_SECONDS / 60
        lines.append(
            f"  {split:6s} {len(info['recordings']):3d} recordings {info['num_frames']:8d} frames "
            f"({minutes:.1f} min) in {len(info['shards'])} shards"
        )
        for name, stats in (info.get("label_stats") or {}).items():
            lines.append(
                f"         {name:8s} mean {stats['mean']:+.4f} std {stats['std']:.4f} "
                f"min {stats['min']:+.4f} max {stats['max']:+.4f}"
            )
    if metadata.get("skipped"):
        lines.append("skipped recordings:")
        lines.extend(f"  {rid}: {why}" for rid, why in metadata["skipped"].items())
    lines.append("all shards parsed; counts, frame order and label statistics match metadata.json")
    return "\n".join(lines)


def contact_sheet(directory, output_png, per_recording=4, columns=8, metadata=None):
    """Writes a PNG grid of face crops, ``per_recording`` evenly spaced ones per recording."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metadata = metadata or load_metadata(directory)
    if "video" not in metadata["modalities"]:
        raise InspectError(f"{directory}: no video in these records, no contact sheet to draw")
    tiles, titles = [], []
    for split, info in metadata["splits"].items():
        for shard in info["shards"]:
            wanted = {
                rid: set(np.linspace(0, info["recordings"][rid] - 1, per_recording).astype(int))
                for rid in shard["recordings"]
            }
            for record in iter_shard(directory, metadata, split, shard["file"]):
                rid = record["recording_id"].decode()
                if record["frame_index"] in wanted[rid]:
                    tiles.append(record["video"])
                    titles.append(f"{rid} #{record['frame_index']}")
    rows = math.ceil(len(tiles) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.45), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, tile, title in zip(axes.flat, tiles, titles, strict=False):
        ax.imshow(tile)
        ax.set_title(title, fontsize=6)
    figure.tight_layout()
    figure.savefig(output_png, dpi=100)
    plt.close(figure)
    return len(tiles)


def plot_recording(directory, recording_id, output_png, metadata=None):
    """Writes a PNG of one recording's audio envelope (RMS per frame) and its labels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = read_recording(directory, recording_id, metadata)
    seconds = np.arange(len(frames["frame_index"])) * schema.FRAME_SECONDS
    figure, ax = plt.subplots(figsize=(10, 3.5))
    if "audio" in frames:
        rms = np.sqrt(np.mean(frames["audio"].astype(np.float64) ** 2, axis=1))
        ax.plot(seconds, rms / max(rms.max(), 1e-9), color="0.6", label="audio RMS (normalised)")
    for name, colour in zip(schema.LABEL_NAMES, ("tab:red", "tab:blue"), strict=True):
        if name in frames:
            ax.plot(seconds, frames[name], color=colour, label=name)
    ax.set_xlabel("time (s)")
    ax.set_title(f"{recording_id}")
    ax.legend(loc="upper right", fontsize=8)
    figure.tight_layout()
    figure.savefig(output_png, dpi=100)
    plt.close(figure)
    return len(seconds)
