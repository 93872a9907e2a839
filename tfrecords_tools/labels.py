"""Continuous arousal / valence label files: readers, writer and resampling.

Two on-disk formats are supported (docs/data.md):

* AVEC 2016 gold standard ARFF (``ratings_gold_standard/{arousal,valence}/train_1.arff``)::

      @relation GoldStandard
      @attribute Instance_name string
      @attribute frameTime numeric
      @attribute GoldStandard numeric
      @data
      'train_1',0.000000,0.123400

* The full RECOLA release's per-subject rating CSVs
  (``Ratings_affective_behaviour_CCC_centred/arousal/P16.csv``): first column the time
  in seconds, then one column per annotator (``time,FM1,FM2,FM3,FF1,FF2,FF3``).

Every reader returns a :class:`LabelTrack` (times in seconds, one value per time) and
raises :class:`LabelError` naming the file, and the line / column where it applies.
:func:`resample_to_frames` puts a track on the model's 40 ms frame grid (Tzirakis et al.
2017 predict one value per 40 ms frame).

This module is pure Python + numpy: it must not import TensorFlow or the training code.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tfrecords_tools import storage

# One label frame (40 ms, the rate of the RECOLA ratings and of the model output) and the
# label dimensions in the order of the model's two outputs.
from tfrecords_tools.schema import FRAME_SECONDS, LABEL_NAMES

__all__ = [
    "FRAME_SECONDS",
    "LABEL_NAMES",
    "LabelError",
    "LabelTrack",
    "label_stats",
    "read_arff",
    "read_ratings_csv",
    "resample_to_frames",
    "write_arff",
]


# Tolerance (seconds) when deciding that a time lies on the frame grid. ARFF / CSV times
# are written with 6 decimals, so anything finer than a microsecond is rounding noise.
_GRID_TOLERANCE = 1e-6

_ARFF_ATTRIBUTES = (
    # (name, accepted type keywords, type written in messages)
    ("Instance_name", ("string",), "string"),
    ("frameTime", ("numeric", "real"), "numeric"),
    ("GoldStandard", ("numeric", "real"), "numeric"),
)
_ARFF_ATTRIBUTE_RE = re.compile(
    r"""^@attribute\s+(?:'([^']*)'|"([^"]*)"|(\S+))\s+(.+?)\s*$""", re.IGNORECASE
)


class LabelError(ValueError):
    """A label file or label array is malformed. The message names the file (and line)."""


@dataclass(frozen=True, eq=False)
class LabelTrack:
    """One continuous label dimension of one recording.

    Attributes:
      times: ``[n]`` float64, seconds, strictly increasing.
      values: ``[n]`` float32, finite.
      source: where the values came from (a file path, or a description), used in
        error messages.

    The arrays are made read-only. Equality is identity (``eq=False``): compare the
    arrays with numpy instead.
    """

    times: np.ndarray
    values: np.ndarray
    source: str = "<array>"

    def __post_init__(self):
        times = np.array(self.times, dtype=np.float64).reshape(-1)
        values = np.array(self.values, dtype=np.float32).reshape(-1)
        if np.ndim(self.times) != 1 or np.ndim(self.values) != 1:
            raise LabelError(
                f"{self.source}: times and values must be 1-D, got shapes "
                f"{np.shape(self.times)} and {np.shape(self.values)}"
            )
        if times.shape != values.shape:
            raise LabelError(
                f"{self.source}: {times.size} times but {values.size} values; they must match"
            )
        if times.size == 0:
            raise LabelError(f"{self.source}: a label track needs at least one value")
        if not (np.all(np.isfinite(times)) and np.all(np.isfinite(values))):
            raise LabelError(f"{self.source}: times and values must be finite")
        bad = np.flatnonzero(np.diff(times) <= 0)
        if bad.size:
            i = int(bad[0])
            raise LabelError(
                f"{self.source}: times must be strictly increasing, but value {i + 1} is at "
                f"{float(times[i + 1])!r} s after {float(times[i])!r} s"
            )
        times.setflags(write=False)
        values.setflags(write=False)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "source", str(self.source))

    def __len__(self) -> int:
        return int(self.values.size)

    def __repr__(self) -> str:
        return (
            f"LabelTrack(n={len(self)}, t=[{self.times[0]:.6g}, {self.times[-1]:.6g}] s, "
            f"source={self.source!r})"
        )


# --------------------------------------------------------------------------------------
# ARFF (AVEC 2016 gold standard)
# --------------------------------------------------------------------------------------


def _parse_number(cell: str, decimal_comma: bool = False) -> float | None:
    """Returns the float in ``cell``, or None if it is not a plain decimal number."""
    text = cell.strip()
    if decimal_comma and text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    # float() also takes "1_000" and surrounding whitespace; neither belongs in a label file.
    if not text or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        return None


def read_arff(path: str | os.PathLike, expected_instance: str | None = None) -> LabelTrack:
    """Reads one AVEC 2016 gold standard ARFF file.

    The header must declare exactly, in this order, ``Instance_name string``,
    ``frameTime numeric`` and ``GoldStandard numeric`` (keywords and names are matched
    case-insensitively; ``real`` is accepted for ``numeric`` as in the ARFF spec). Blank
    lines, ``%`` comments, quoted or unquoted instance names and CRLF line ends are fine.

    Args:
      path: the ``.arff`` file.
      expected_instance: if given, every row's instance name must equal it (e.g.
        ``"train_1"`` for ``train_1.arff``). Without it, all rows must still share the
        first row's instance name: one file holds one recording.

    Returns:
      A :class:`LabelTrack` of ``frameTime`` (seconds) and ``GoldStandard`` values.

    Raises:
      LabelError: naming the file and, for data rows, the line number.
    """
    path = os.fspath(path)
    try:
        lines = storage.read_text(path).splitlines()
    except OSError as e:
        raise LabelError(f"{path}: cannot read ARFF label file: {e}") from e

    attributes: list[tuple[int, str, str]] = []  # (line number, name, type)
    data_line = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("%"):
            continue
        lower = line.lower()
        if lower.startswith("@relation"):
            if attributes:
                raise LabelError(f"{path}, line {number}: @relation after @attribute")
        elif lower.startswith("@attribute"):
            match = _ARFF_ATTRIBUTE_RE.match(line)
            if not match:
                raise LabelError(
                    f"{path}, line {number}: cannot parse attribute declaration {line!r}"
                )
            name = next(g for g in match.groups()[:3] if g is not None)
            attributes.append((number, name, match.group(4)))
        elif lower.startswith("@data"):
            data_line = number
            break
        else:
            raise LabelError(
                f"{path}, line {number}: expected @relation, @attribute or @data before the "
                f"data section, found {line!r} (is the @data line missing?)"
            )
    if data_line is None:
        raise LabelError(f"{path}: no @data section; is this an ARFF file?")

    expected = ", ".join(f"{n} {t}" for n, _, t in _ARFF_ATTRIBUTES)
    found = ", ".join(f"{n} {t}" for _, n, t in attributes) or "no attributes"
    if len(attributes) != len(_ARFF_ATTRIBUTES):
        raise LabelError(
            f"{path}: expected {len(_ARFF_ATTRIBUTES)} attributes ({expected}), found "
            f"{len(attributes)} ({found})"
        )
    for (number, name, type_), (want_name, want_types, want_type) in zip(
        attributes, _ARFF_ATTRIBUTES, strict=True
    ):
        if name.lower() != want_name.lower() or type_.lower() not in want_types:
            raise LabelError(
                f"{path}, line {number}: expected attribute '{want_name} {want_type}', found "
                f"'{name} {type_}' (header must be: {expected})"
            )

    times: list[float] = []
    values: list[float] = []
    instance = expected_instance
    for number in range(data_line + 1, len(lines) + 1):
        line = lines[number - 1].strip()
        if not line or line.startswith("%"):
            continue
        if line.startswith("@"):
            raise LabelError(f"{path}, line {number}: header keyword {line!r} inside @data")
        cells = next(csv.reader([line], quotechar="'", skipinitialspace=True))
        if len(cells) != 3:
            raise LabelError(
                f"{path}, line {number}: expected 3 comma-separated values "
                f"(Instance_name,frameTime,GoldStandard), found {len(cells)}: {line!r}"
            )
        name = cells[0].strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
        if instance is None:
            instance = name
        elif name != instance:
            what = "expected instance" if expected_instance is not None else "first row has"
            raise LabelError(
                f"{path}, line {number}: instance name {name!r} but {what} {instance!r}"
            )
        row = []
        for column, cell in zip(("frameTime", "GoldStandard"), cells[1:], strict=True):
            value = _parse_number(cell)
            if value is None:
                raise LabelError(
                    f"{path}, line {number}: {column} {cell.strip()!r} is not a number"
                )
            if not math.isfinite(value):
                raise LabelError(f"{path}, line {number}: {column} is {cell.strip()!r}")
            row.append(value)
        if times and row[0] <= times[-1]:
            raise LabelError(
                f"{path}, line {number}: frameTime {row[0]!r} does not increase (previous row "
                f"{times[-1]!r})"
            )
        times.append(row[0])
        values.append(row[1])
    if not times:
        raise LabelError(f"{path}: no data rows after @data (line {data_line})")
    return LabelTrack(np.asarray(times), np.asarray(values), source=path)


def _format_value(value: np.float32) -> str:
    # At least 6 decimals (the AVEC style, 0.123400) but as many as float32 needs to
    # round-trip, so write_arff -> read_arff gives back identical values.
    return np.format_float_positional(value, unique=True, trim="k", min_digits=6)


def write_arff(
    path: str | os.PathLike,
    instance_name: str,
    values,
    frame_seconds: float = FRAME_SECONDS,
    start: float = 0.0,
) -> None:
    """Writes values as an AVEC 2016 gold standard ARFF file.

    Rows are ``'train_1',0.040000,0.123400``: frameTime = ``start + k * frame_seconds``
    written with 6 decimals (microseconds), values with at least 6 decimals and as many
    as float32 needs to read back identically.

    Args:
      path: output file (overwritten).
      instance_name: the recording id, e.g. ``"train_1"``.
      values: ``[n]`` finite numbers, n >= 1.
      frame_seconds: spacing of the rows, > 0.
      start: time of the first row, seconds.
    """
    path = os.fspath(path)
    if not isinstance(instance_name, str) or not instance_name or "'" in instance_name:
        raise LabelError(
            f"{path}: instance_name must be a non-empty string without quotes, got "
            f"{instance_name!r}"
        )
    if not (frame_seconds > 0 and math.isfinite(frame_seconds)) or not math.isfinite(start):
        raise LabelError(
            f"{path}: frame_seconds must be finite and > 0 and start finite, got "
            f"frame_seconds={frame_seconds!r}, start={start!r}"
        )
    array = np.asarray(values, dtype=np.float32)
    if array.ndim != 1 or array.size == 0:
        raise LabelError(f"{path}: values must be a non-empty 1-D array, got shape {array.shape}")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        raise LabelError(f"{path}: value {int(bad[0])} is {array[bad[0]]!r}; values must be finite")
    lines = [
        "@relation GoldStandard",
        "",
        "@attribute Instance_name string",
        "@attribute frameTime numeric",
        "@attribute GoldStandard numeric",
        "",
        "@data",
        "",
    ]
    for k, value in enumerate(array):
        lines.append(f"'{instance_name}',{start + k * frame_seconds:.6f},{_format_value(value)}")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(lines) + "\n")


# --------------------------------------------------------------------------------------
# CSV ratings (full RECOLA release)
# --------------------------------------------------------------------------------------


def _sniff_delimiter(first_line: str) -> str:
    # ';' and tab never occur inside a number, so their presence decides; ',' otherwise
    # (a ';'-separated file may use decimal commas, which would fool a count).
    if ";" in first_line:
        return ";"
    if "\t" in first_line:
        return "\t"
    return ","


def read_ratings_csv(
    path: str | os.PathLike,
    columns: Sequence[str | int] | str | int | None = None,
    reduce: str = "mean",
    time_column: int | str | None = 0,
    delimiter: str | None = None,
) -> LabelTrack:
    """Reads a per-subject ratings CSV (full RECOLA release) into one track.

    The file has one row per time step; a header row (``time,FM1,FM2,FM3,FF1,FF2,FF3``)
    is detected when any cell of the first row is not a number. Header-less numeric files
    are accepted too; their columns are then addressed by 0-based index (an integer, or
    a string holding one, e.g. ``"2"``).

    Args:
      path: the CSV file.
      columns: rating columns to use. None: every column except the time column. A name
        (or index) or a list of them: those columns, combined with ``reduce``.
      reduce: ``"mean"`` or ``"median"`` across the chosen columns (per row).
      time_column: index or name of the time column (seconds). None: the file has no
        time column and row k is at ``k * FRAME_SECONDS``.
      delimiter: ``","``, ``";"``, ``"\\t"``, or None to sniff it from the first line
        (';' or tab if present, else ','). With ';' or tab, decimal commas (``0,04``) are
        accepted.

    Only the time column and the chosen columns are parsed: an empty or NaN cell there
    raises LabelError naming the file, line and column; other columns are not checked.

    Returns:
      A :class:`LabelTrack`; ``source`` names the file and the columns used.
    """
    path = os.fspath(path)
    if reduce not in ("mean", "median"):
        raise LabelError(f"{path}: reduce must be 'mean' or 'median', got {reduce!r}")
    try:
        text = storage.read_text(path)
    except OSError as e:
        raise LabelError(f"{path}: cannot read ratings CSV: {e}") from e
    first_line = next((line for line in text.splitlines() if line.strip()), None)
    if first_line is None:
        raise LabelError(f"{path}: ratings CSV is empty")
    if delimiter is None:
        delimiter = _sniff_delimiter(first_line)
    elif len(delimiter) != 1:
        raise LabelError(f"{path}: delimiter must be one character, got {delimiter!r}")
    decimal_comma = delimiter != ","

    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        rows.append((reader.line_num, [cell.strip() for cell in cells]))
    width = len(rows[0][1])
    header: list[str] | None = rows[0][1]
    if all(_parse_number(cell, decimal_comma) is not None for cell in header):
        header = None
    else:
        rows = rows[1:]
    if not rows:
        raise LabelError(f"{path}: ratings CSV has a header but no data rows")
    names = header if header is not None else [str(i) for i in range(width)]

    def resolve(column: str | int, role: str) -> int:
        if isinstance(column, (int, np.integer)) and not isinstance(column, bool):
            if 0 <= column < width:
                return int(column)
            raise LabelError(
                f"{path}: {role} index {column} out of range; the file has {width} columns "
                f"({', '.join(names)})"
            )
        if isinstance(column, str):
            if header is not None and column in header:
                if header.count(column) > 1:
                    raise LabelError(f"{path}: column name {column!r} appears twice in the header")
                return header.index(column)
            if header is None and column.strip().isdigit():
                return resolve(int(column), role)
            if header is None:
                raise LabelError(
                    f"{path}: {role} {column!r} given by name but the file has no header row; "
                    f"use 0-based column indices (0..{width - 1})"
                )
        raise LabelError(
            f"{path}: {role} {column!r} not found; available columns: {', '.join(names)}"
        )

    time_index = None if time_column is None else resolve(time_column, "time column")
    if columns is None:
        value_indices = [i for i in range(width) if i != time_index]
    else:
        if isinstance(columns, (str, int, np.integer)):
            columns = [columns]
        columns = list(columns)
        if not columns:
            raise LabelError(f"{path}: columns is empty; give None (all) or column names")
        value_indices = [resolve(c, "column") for c in columns]
    if not value_indices:
        raise LabelError(f"{path}: no rating columns besides the time column ({names})")
    if time_index is not None and time_index in value_indices:
        raise LabelError(
            f"{path}: column {names[time_index]!r} is the time column; it cannot be a rating"
        )

    times = np.empty(len(rows), dtype=np.float64)
    ratings = np.empty((len(rows), len(value_indices)), dtype=np.float64)
    for r, (line, cells) in enumerate(rows):
        if len(cells) != width:
            raise LabelError(
                f"{path}, line {line}: expected {width} {delimiter!r}-separated cells "
                f"(as in the first row), found {len(cells)}"
            )
        wanted = ([time_index] if time_index is not None else []) + value_indices
        parsed = {}
        for i in wanted:
            value = _parse_number(cells[i], decimal_comma)
            if value is None or not math.isfinite(value):
                what = "empty" if not cells[i] else f"{cells[i]!r}, not a finite number"
                raise LabelError(f"{path}, line {line}, column {names[i]!r}: cell is {what}")
            parsed[i] = value
        times[r] = parsed[time_index] if time_index is not None else r * FRAME_SECONDS
        ratings[r] = [parsed[i] for i in value_indices]
    if time_index is not None:
        bad = np.flatnonzero(np.diff(times) <= 0)
        if bad.size:
            line = rows[int(bad[0]) + 1][0]
            raise LabelError(
                f"{path}, line {line}: time {float(times[bad[0] + 1])!r} does not increase "
                f"(previous row {float(times[bad[0]])!r})"
            )
    combined = ratings.mean(axis=1) if reduce == "mean" else np.median(ratings, axis=1)
    used = ",".join(names[i] for i in value_indices)
    source = f"{path} [{reduce} of {used}]" if len(value_indices) > 1 else f"{path} [{used}]"
    return LabelTrack(times, combined.astype(np.float32), source=source)


# --------------------------------------------------------------------------------------
# Frame grid
# --------------------------------------------------------------------------------------


def resample_to_frames(
    track: LabelTrack,
    num_frames: int | None = None,
    frame_seconds: float = FRAME_SECONDS,
    method: str = "linear",
    max_gap: float | None = None,
) -> np.ndarray:
    """Values of ``track`` at the frame times ``t_k = k * frame_seconds``, k = 0..num_frames-1.

    Choice: linear interpolation between the two neighbouring rated times (``method=
    "linear"``, the default) or the nearest rated time (``"nearest"``). RECOLA / AVEC 2016
    labels are already on the 40 ms grid; when every track time lies on the grid (within
    1 microsecond) the values are returned without arithmetic, so the common case is an
    exact identity. Ratings at another rate (e.g. 10 ms) are resampled; no anti-alias
    filter is applied (annotator traces are smooth compared with 25 Hz).

    Frames before the first / after the last rated time hold the edge value, but at most
    one frame beyond the track: asking for more raises LabelError (the labels do not
    cover the media).

    Args:
      track: the label track.
      num_frames: frames wanted. None: every frame whose time is within the track
        (``floor(t_last / frame_seconds) + 1``).
      frame_seconds: frame spacing, seconds.
      method: ``"linear"`` or ``"nearest"``.
      max_gap: seconds between two consecutive rated times above which the track is
        refused (LabelError naming the file and the gap) instead of bridged by
        interpolation; None: any gap is bridged.

    Returns:
      ``[num_frames]`` float32.
    """
    if not isinstance(track, LabelTrack):
        raise LabelError(f"resample_to_frames expects a LabelTrack, got {type(track).__name__}")
    if not (frame_seconds > 0 and math.isfinite(frame_seconds)):
        raise LabelError(f"{track.source}: frame_seconds must be > 0, got {frame_seconds!r}")
    if method not in ("linear", "nearest"):
        raise LabelError(f"{track.source}: method must be 'linear' or 'nearest', got {method!r}")
    times, values = track.times, track.values
    if max_gap is not None and len(times) > 1:
        gaps = np.diff(times)
        widest = int(np.argmax(gaps))
        if gaps[widest] > max_gap + _GRID_TOLERANCE:
            raise LabelError(
                f"{track.source}: no rating between {times[widest]:.3f} s and "
                f"{times[widest + 1]:.3f} s (a {gaps[widest]:.3f} s gap, more than "
                f"{max_gap:g} s); fill it, or raise --label_gap_tolerance to interpolate over it"
            )
    if num_frames is None:
        num_frames = int(math.floor(times[-1] / frame_seconds + _GRID_TOLERANCE)) + 1
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)):
        raise LabelError(f"{track.source}: num_frames must be an int, got {num_frames!r}")
    num_frames = int(num_frames)
    if num_frames < 1:
        raise LabelError(f"{track.source}: num_frames must be >= 1, got {num_frames}")
    if times[0] > frame_seconds + _GRID_TOLERANCE:
        raise LabelError(
            f"{track.source}: labels start at {times[0]:.6f} s; frames start at 0 s and at "
            f"most one frame ({frame_seconds} s) is filled with the first value"
        )
    last_needed = (num_frames - 1) * frame_seconds
    if last_needed > times[-1] + frame_seconds + _GRID_TOLERANCE:
        raise LabelError(
            f"{track.source}: labels end at {times[-1]:.6f} s but {num_frames} frames of "
            f"{frame_seconds} s need values up to {last_needed:.6f} s"
        )

    # Exact path: track times are the frames 0..n-1 (possibly starting later / ending
    # earlier by at most one frame, handled by edge holding below).
    steps = times / frame_seconds
    indices = np.rint(steps)
    if np.all(np.abs(steps - indices) * frame_seconds <= _GRID_TOLERANCE) and np.all(
        np.diff(indices) == 1
    ):
        first = int(indices[0])
        positions = np.clip(np.arange(num_frames) - first, 0, len(values) - 1)
        return values[positions].astype(np.float32, copy=True)

    frame_times = np.arange(num_frames, dtype=np.float64) * frame_seconds
    if method == "linear":
        return np.interp(frame_times, times, values.astype(np.float64)).astype(np.float32)
    if len(times) == 1:
        return np.full(num_frames, values[0], dtype=np.float32)
    right = np.clip(np.searchsorted(times, frame_times), 1, len(times) - 1)
    left = right - 1
    nearest = np.where(
        frame_times - times[left] <= times[right] - frame_times, left, right
    )  # ties go to the earlier rating
    return values[nearest].astype(np.float32, copy=True)


def label_stats(values) -> dict:
    """Summary of a label array or :class:`LabelTrack`: count, mean, std (population),
    min, max, as plain Python floats (``count`` an int)."""
    if isinstance(values, LabelTrack):
        values = values.values
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise LabelError("label_stats: no values")
    if not np.all(np.isfinite(array)):
        raise LabelError("label_stats: values contain NaN or inf")
    return {
        "count": int(array.size),
        "mean": float(array.mean()),
        "std": float(array.std()),
        "min": float(array.min()),
        "max": float(array.max()),
    }
