"""Corpus readers: find the recordings (media + labels) of a corpus on disk.

Three layouts (docs/data.md):

* :func:`read_avec2016`: the AVEC 2016 release of RECOLA (``recordings_audio/train_1.wav``,
  ``recordings_video/train_1.mp4``, ``ratings_gold_standard/arousal/train_1.arff``).
* :func:`read_recola`: the full RECOLA release used by the authors' code
  (``Video_recordings_MP4/P16.mp4``, ``Ratings_affective_behaviour_CCC_centred/arousal/P16.csv``)
  with a user-given split of subjects.
* :func:`read_manifest`: a CSV listing the recordings of any other corpus.

Each returns a list of :class:`Recording`: paths (absolute) and label tracks, nothing
decoded. Media decoding and the frame alignment of media and labels belong to the writer.
Errors are :class:`CorpusError` naming the missing path / the manifest row; malformed
label files raise :class:`~tfrecords_tools.labels.LabelError` from the label readers.

Pure Python + numpy: this module must not import TensorFlow, PyAV or the training code.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tfrecords_tools import storage
from tfrecords_tools.labels import LabelTrack, read_arff, read_ratings_csv
from tfrecords_tools.schema import LABEL_NAMES, STREAMS

__all__ = [
    "AVEC2016_SPLITS",
    "MANIFEST_COLUMNS",
    "CorpusError",
    "Recording",
    "read_avec2016",
    "read_manifest",
    "read_recola",
    "summarize",
]

logger = logging.getLogger(__name__)

AVEC2016_SPLITS = ("train", "dev", "test")
MANIFEST_COLUMNS = (
    "recording_id",
    "split",
    "audio_path",
    "video_path",
    "label_path",
    "arousal_column",
    "valence_column",
)
# Splits become part of shard file names (NAME-SPLIT.tfrecord-...): keep them simple.
_SPLIT_RE = re.compile(r"^[A-Za-z0-9_]+$")


class CorpusError(ValueError):
    """A corpus is incomplete or inconsistent. The message names the path or manifest row."""


@dataclass(frozen=True)
class Recording:
    """One recording of a corpus.

    Attributes:
      id: unique id within the corpus, e.g. ``"train_3"`` or ``"P16"``.
      split: e.g. ``"train"``, ``"dev"``, ``"test"``.
      audio_path: file with the speech (a .wav, or a video whose audio track is used),
        or None for a video-only recording.
      video_path: the face video, or None for an audio-only recording.
      labels: ``{"arousal": LabelTrack, "valence": LabelTrack}``, or None when the
        recording is unlabelled (e.g. AVEC 2016 test).
    """

    id: str
    split: str
    audio_path: str | None
    video_path: str | None
    labels: dict[str, LabelTrack] | None

    def __post_init__(self):
        if not isinstance(self.id, str) or not self.id.strip():
            raise CorpusError(f"Recording id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.split, str) or not _SPLIT_RE.match(self.split):
            raise CorpusError(
                f"Recording {self.id!r}: split must be letters, digits or '_', got {self.split!r}"
            )
        for name in ("audio_path", "video_path"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise CorpusError(
                    f"Recording {self.id!r}: {name} must be None or a non-empty string, got "
                    f"{value!r}"
                )
        if self.audio_path is None and self.video_path is None:
            raise CorpusError(f"Recording {self.id!r}: needs an audio_path or a video_path")
        if self.labels is not None:
            if not isinstance(self.labels, Mapping) or set(self.labels) != set(LABEL_NAMES):
                keys = sorted(self.labels) if isinstance(self.labels, Mapping) else self.labels
                raise CorpusError(
                    f"Recording {self.id!r}: labels must have exactly the keys {LABEL_NAMES}, "
                    f"got {keys!r}"
                )
            for name, track in self.labels.items():
                if not isinstance(track, LabelTrack):
                    raise CorpusError(
                        f"Recording {self.id!r}: labels[{name!r}] must be a LabelTrack, got "
                        f"{type(track).__name__}"
                    )

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities present, a subset of ``("audio", "video")`` in that order."""
        return tuple(
            m for m, p in zip(STREAMS, (self.audio_path, self.video_path), strict=True) if p
        )


def _check_names(value: Sequence[str], allowed: Sequence[str], what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    value = tuple(value)
    unknown = [v for v in value if v not in allowed]
    if not value or unknown or len(set(value)) != len(value):
        raise CorpusError(
            f"{what} must be a non-empty list of distinct names from {allowed}, got {value!r}"
        )
    return value


def _check_label_pair(recording_id: str, labels: dict[str, LabelTrack]) -> dict[str, LabelTrack]:
    """Arousal and valence of one recording must cover the same times."""
    arousal, valence = labels["arousal"], labels["valence"]
    if len(arousal) != len(valence):
        raise CorpusError(
            f"recording {recording_id!r}: arousal has {len(arousal)} values ({arousal.source}) "
            f"but valence has {len(valence)} ({valence.source})"
        )
    return labels


# --------------------------------------------------------------------------------------
# AVEC 2016
# --------------------------------------------------------------------------------------

_AVEC_MEDIA = {"audio": ("recordings_audio", ".wav"), "video": ("recordings_video", ".mp4")}
_AVEC_LABELS = "ratings_gold_standard"
_AVEC_NAME_RE = re.compile(r"^(train|dev|test)_(\d+)$")


def read_avec2016(
    root: str | os.PathLike,
    splits: Sequence[str] = AVEC2016_SPLITS,
    modalities: Sequence[str] = STREAMS,
    dropped: dict | None = None,
) -> list[Recording]:
    """Lists the recordings of the AVEC 2016 (RECOLA) release under ``root``.

    Layout: ``recordings_audio/{split}_{n}.wav``, ``recordings_video/{split}_{n}.mp4`` and
    ``ratings_gold_standard/{arousal,valence}/{split}_{n}.arff``. The set of recordings is
    every ``{split}_{n}`` media file of the requested splits found in the requested
    modalities' directories; each must exist in every requested modality. A directory of
    a modality that was not requested may be missing (audio-only / video-only corpora).

    Labels are required for train and dev (a missing ARFF is an error naming the expected
    path) and optional for test (used when both dimensions are present).

    Media files whose name is not ``{train|dev|test}_{n}`` and label files without media
    are skipped, with one ``logging.warning`` listing them (logger
    ``tfrecords_tools.corpora``); hidden files (``.*``) are ignored silently.

    A recording with a media file of any modality (requested or not) but without one of
    the requested modalities is an error naming the missing file; when ``dropped`` is a
    dict, it is left out and ``dropped[id]`` says why instead (``--on_error=skip``), so
    no recording disappears without a word.

    Args:
      root: the release's top directory.
      splits: splits to return, from ("train", "dev", "test"). Each must have at least
        one recording.
      modalities: ("audio",), ("video",) or both.
      dropped: None (a missing media file is an error), or a dict that receives the
        recordings left out for one.

    Returns:
      Recordings ordered by split (in the order of ``splits``), then naturally by number
      (train_2 before train_10). Paths are absolute.
    """
    splits = _check_names(splits, AVEC2016_SPLITS, "splits")
    modalities = _check_names(modalities, STREAMS, "modalities")
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise CorpusError(f"AVEC 2016 root directory {root} does not exist")

    found: dict[str, dict[str, str]] = {}  # modality -> id -> path
    unknown: list[str] = []
    for modality in modalities:
        directory, extension = _AVEC_MEDIA[modality]
        directory = os.path.join(root, directory)
        if not os.path.isdir(directory):
            raise CorpusError(
                f"{directory} does not exist: needed for modality {modality!r} (pass "
                f"modalities=({', '.join(repr(m) for m in STREAMS if m != modality)},) "
                f"for a corpus without it)"
            )
        found[modality] = {}
        for name in sorted(os.listdir(directory)):
            if name.startswith("."):
                continue
            stem, ext = os.path.splitext(name)
            match = _AVEC_NAME_RE.match(stem)
            if ext.lower() != extension or not match:
                unknown.append(os.path.join(directory, name))
            elif match.group(1) in splits:
                found[modality][stem] = os.path.join(directory, name)

    # Media of a modality that was not requested still says which recordings exist.
    others = {}
    for modality in STREAMS:
        directory, extension = _AVEC_MEDIA[modality]
        directory = os.path.join(root, directory)
        if modality in modalities or not os.path.isdir(directory):
            continue
        for name in os.listdir(directory):
            stem, ext = os.path.splitext(name)
            match = _AVEC_NAME_RE.match(stem)
            if ext.lower() == extension and match and match.group(1) in splits:
                others.setdefault(stem, os.path.join(directory, name))
    ids = sorted(
        {i for paths in found.values() for i in paths} | set(others),
        key=lambda i: (splits.index(i.split("_")[0]), int(i.split("_")[1]), i),
    )
    empty = [s for s in splits if not any(i.startswith(s + "_") for i in ids)]
    if empty:
        searched = ", ".join(os.path.join(root, _AVEC_MEDIA[m][0]) for m in modalities)
        raise CorpusError(
            f"no recordings of split(s) {', '.join(empty)} in {searched} (expected files like "
            f"{empty[0]}_1{_AVEC_MEDIA[modalities[0]][1]}); pass splits= to choose the splits"
        )

    recordings = []
    for recording_id in ids:
        paths, reason = {}, None
        for modality in modalities:
            directory, extension = _AVEC_MEDIA[modality]
            path = found[modality].get(recording_id)
            if path is None:
                expected = os.path.join(root, directory, recording_id + extension)
                present = [found[m].get(recording_id) for m in modalities]
                present = [p for p in (*present, others.get(recording_id)) if p]
                reason = (
                    f"recording {recording_id}: {modality} file {expected} is missing "
                    f"({', '.join(present)} exists)"
                )
                break
            paths[modality] = path
        if reason is not None:
            if dropped is None:
                raise CorpusError(
                    f"{reason}; add it, or pass --on_error=skip to convert the others"
                )
            dropped[recording_id] = reason
            continue
        split = recording_id.split("_")[0]
        label_paths = {
            name: os.path.join(root, _AVEC_LABELS, name, recording_id + ".arff")
            for name in LABEL_NAMES
        }
        present = {name: os.path.isfile(p) for name, p in label_paths.items()}
        labels = None
        if split != "test" or any(present.values()):
            missing = [p for name, p in label_paths.items() if not present[name]]
            if missing:
                raise CorpusError(
                    f"recording {recording_id}: label file {', '.join(missing)} is missing"
                )
            labels = _check_label_pair(
                recording_id,
                {
                    name: read_arff(p, expected_instance=recording_id)
                    for name, p in label_paths.items()
                },
            )
        recordings.append(
            Recording(
                id=recording_id,
                split=split,
                audio_path=paths.get("audio"),
                video_path=paths.get("video"),
                labels=labels,
            )
        )

    known = set(ids)
    for name in LABEL_NAMES:
        directory = os.path.join(root, _AVEC_LABELS, name)
        if not os.path.isdir(directory):
            continue
        for file_name in sorted(os.listdir(directory)):
            stem, ext = os.path.splitext(file_name)
            match = _AVEC_NAME_RE.match(stem)
            if file_name.startswith(".") or (match and match.group(1) not in splits):
                continue
            if ext.lower() != ".arff" or stem not in known:
                unknown.append(os.path.join(directory, file_name))
    if unknown:
        logger.warning(
            "AVEC 2016 corpus %s: %d file(s) skipped (not {train,dev,test}_N with media): %s",
            root,
            len(unknown),
            ", ".join(unknown),
        )
    return recordings


# --------------------------------------------------------------------------------------
# Full RECOLA release
# --------------------------------------------------------------------------------------


def read_recola(
    root: str | os.PathLike,
    splits: Mapping[str, Sequence[str]],
    label_dir: str | None = "Ratings_affective_behaviour_CCC_centred",
    video_dir: str | None = "Video_recordings_MP4",
    audio_dir: str | None = None,
    annotator: str | Sequence[str] | None = None,
) -> list[Recording]:
    """Lists recordings of the full RECOLA release for a user-given subject split.

    Files per subject (e.g. ``P16``): ``{video_dir}/P16.mp4`` (the face video; also the
    audio source unless ``audio_dir`` is given, then ``{audio_dir}/P16.wav``) and
    ``{label_dir}/{arousal,valence}/P16.csv`` read with
    :func:`~tfrecords_tools.labels.read_ratings_csv`.

    Args:
      root: the release's top directory.
      splits: split name -> subject ids, e.g. ``{"train": ["P16", "P17"], "dev": ["P19"]}``.
        Order is kept as given. A subject may appear only once overall.
      label_dir: directory of the rating CSVs, relative to ``root``.
      video_dir: directory of the MP4 files; None for an audio-only corpus (then
        ``audio_dir`` is required).
      audio_dir: directory of ``{subject}.wav`` files, or None to take the audio from the
        video.
      annotator: None for the mean of all annotator columns, a column name (``"FM2"``) for
        one annotator, or a list of names to average.

    Labels are required for every split except one named ``"test"``, where they are used
    if both files exist.

    Raises:
      CorpusError: naming every expected file that is missing for a subject.
    """
    root = os.path.abspath(os.fspath(root))
    if not os.path.isdir(root):
        raise CorpusError(f"RECOLA root directory {root} does not exist")
    if video_dir is None and audio_dir is None:
        raise CorpusError("read_recola: video_dir and audio_dir cannot both be None")
    if not isinstance(splits, Mapping) or not splits:
        raise CorpusError(
            f"splits must map split names to subject ids, e.g. {{'train': ['P16']}}, got {splits!r}"
        )
    columns = [annotator] if isinstance(annotator, str) else annotator
    seen: dict[str, str] = {}
    recordings = []
    for split, subjects in splits.items():
        if not isinstance(split, str) or not _SPLIT_RE.match(split):
            raise CorpusError(f"split name must be letters, digits or '_', got {split!r}")
        if isinstance(subjects, str) or not subjects:
            raise CorpusError(
                f"split {split!r}: expected a non-empty list of subject ids, got {subjects!r}"
            )
        if label_dir is None and split != "test":
            raise CorpusError(
                f"split {split!r}: label_dir is None but labels are required outside 'test'"
            )
        for subject in subjects:
            if not isinstance(subject, str) or not subject or re.search(r"[\\/]", subject):
                raise CorpusError(f"split {split!r}: invalid subject id {subject!r}")
            if subject in seen:
                raise CorpusError(
                    f"subject {subject!r} is listed in split {seen[subject]!r} and in {split!r}"
                )
            seen[subject] = split

            video = os.path.join(root, video_dir, subject + ".mp4") if video_dir else None
            audio = os.path.join(root, audio_dir, subject + ".wav") if audio_dir else video
            label_paths = (
                {n: os.path.join(root, label_dir, n, subject + ".csv") for n in LABEL_NAMES}
                if label_dir
                else {}
            )
            media = [p for p in dict.fromkeys((video, audio)) if p]
            missing = [p for p in media if not os.path.isfile(p)]
            labels_present = [p for p in label_paths.values() if os.path.isfile(p)]
            need_labels = split != "test" or bool(labels_present)
            if need_labels:
                missing += [p for p in label_paths.values() if not os.path.isfile(p)]
            if missing:
                expected = media + list(label_paths.values())
                raise CorpusError(
                    f"subject {subject!r} (split {split!r}): missing {', '.join(missing)}; "
                    f"expected {', '.join(expected)}"
                )
            labels = None
            if need_labels and label_paths:
                labels = _check_label_pair(
                    subject,
                    {n: read_ratings_csv(p, columns=columns) for n, p in label_paths.items()},
                )
            recordings.append(
                Recording(
                    id=subject, split=split, audio_path=audio, video_path=video, labels=labels
                )
            )
    return recordings


# --------------------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------------------

_MANIFEST_REQUIRED = ("recording_id", "split", "audio_path", "video_path")


def read_manifest(path: str | os.PathLike) -> list[Recording]:
    """Reads a CSV manifest describing any corpus.

    Header (comma-separated; extra columns are ignored)::

        recording_id,split,audio_path,video_path,label_path,arousal_column,valence_column

    ``recording_id``, ``split``, ``audio_path`` and ``video_path`` are required columns;
    the three label columns may be omitted for an unlabelled corpus. Per row:

    * ``recording_id``: unique, non-empty. ``split``: non-empty, letters/digits/'_'.
    * ``audio_path`` / ``video_path``: may be empty (video-only / audio-only), not both.
      Relative paths are relative to the manifest's directory; ``~`` is expanded. Any
      path may be a URL of an object store TensorFlow reads (``gs://...``), as may the
      manifest's own: a cluster's workers then read the media from there.
    * ``label_path``: empty for an unlabelled recording. It may contain ``{dimension}``,
      formatted with ``arousal`` / ``valence`` to give one file per dimension.

      - ``.arff``: AVEC 2016 gold standard, read with ``read_arff``; needs
        ``{dimension}`` (one ARFF holds one dimension); the column fields must be empty.
      - anything else: a ratings CSV read with ``read_ratings_csv``. ``arousal_column`` /
        ``valence_column`` name the column(s) to use (several joined by ``|`` are
        averaged; 0-based indices for a header-less file). Empty: with ``{dimension}``,
        the mean of all non-time columns; without, the columns named ``arousal`` and
        ``valence``.

    Returns:
      Recordings in manifest order, with absolute paths.

    Raises:
      CorpusError: naming the manifest, the line and the offending path or value.
    """
    path = storage.absolute(path)
    base = storage.dirname(path)
    try:
        text = storage.read_text(path)
    except OSError as e:
        raise CorpusError(f"cannot read manifest {path}: {e}") from e
    reader = csv.reader(text.splitlines())
    header = None
    recordings: list[Recording] = []
    first_line: dict[str, int] = {}
    for cells in reader:
        line = reader.line_num
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if header is None:
            header = cells
            missing = [c for c in _MANIFEST_REQUIRED if c not in header]
            if missing:
                raise CorpusError(
                    f"{path}, line {line}: header lacks required column(s) "
                    f"{', '.join(missing)} (found: {', '.join(header)}; expected: "
                    f"{','.join(MANIFEST_COLUMNS)})"
                )
            duplicated = sorted({c for c in header if header.count(c) > 1})
            if duplicated:
                raise CorpusError(f"{path}, line {line}: duplicate header column(s) {duplicated}")
            continue
        if len(cells) != len(header):
            raise CorpusError(
                f"{path}, line {line}: {len(cells)} fields but the header has {len(header)}"
            )
        row = dict(zip(header, cells, strict=True))
        where = f"{path}, line {line}"
        recording_id = row["recording_id"]
        if not recording_id:
            raise CorpusError(f"{where}: recording_id is empty")
        if recording_id in first_line:
            raise CorpusError(
                f"{where}: duplicate recording_id {recording_id!r} (first on line "
                f"{first_line[recording_id]})"
            )
        first_line[recording_id] = line
        split = row["split"]
        if not split:
            raise CorpusError(f"{where}: split is empty for recording {recording_id!r}")
        if not _SPLIT_RE.match(split):
            raise CorpusError(f"{where}: split {split!r} must be letters, digits or '_'")

        def resolve(value: str, column: str, *, where=where, recording_id=recording_id) -> str:
            full = _manifest_path(base, value)
            if not storage.isfile(full):
                raise CorpusError(
                    f"{where}: {column} {value!r} of recording {recording_id!r} not found "
                    f"(looked for {full})"
                )
            return full

        audio = resolve(row["audio_path"], "audio_path") if row["audio_path"] else None
        video = resolve(row["video_path"], "video_path") if row["video_path"] else None
        if audio is None and video is None:
            raise CorpusError(
                f"{where}: recording {recording_id!r} has neither audio_path nor video_path"
            )
        labels = _manifest_labels(row, where, recording_id, resolve)
        recordings.append(
            Recording(
                id=recording_id, split=split, audio_path=audio, video_path=video, labels=labels
            )
        )
    if header is None:
        raise CorpusError(f"{path}: manifest is empty (expected a header row)")
    if not recordings:
        raise CorpusError(f"{path}: manifest has a header but no recordings")
    return recordings


def _manifest_path(base, value):
    """A manifest cell's path: a URL as it is, else relative to the manifest's folder
    (a URL's folder too: a manifest on an object store can list its neighbours)."""
    if storage.is_url(value):
        return value
    if storage.is_url(base):
        return storage.join(base, value) if not value.startswith("/") else value
    return os.path.normpath(os.path.join(base, os.path.expanduser(value)))


def _manifest_labels(row: dict, where: str, recording_id: str, resolve):
    label_path = row.get("label_path", "")
    if not label_path:
        return None
    per_dimension = "{dimension}" in label_path
    column_fields = {n: row.get(f"{n}_column", "") for n in LABEL_NAMES}
    paths = {n: label_path.replace("{dimension}", n) for n in LABEL_NAMES}
    is_arff = label_path.lower().endswith(".arff")
    if is_arff:
        if not per_dimension:
            raise CorpusError(
                f"{where}: ARFF label_path {label_path!r} must contain {{dimension}} (one ARFF "
                f"file holds one dimension)"
            )
        if any(column_fields.values()):
            raise CorpusError(
                f"{where}: arousal_column / valence_column must be empty for ARFF labels"
            )
        labels = {n: read_arff(resolve(p, "label_path")) for n, p in paths.items()}
    else:
        labels = {}
        for n, p in paths.items():
            field = column_fields[n]
            if field:
                columns = [c.strip() for c in field.split("|")]
            else:
                columns = None if per_dimension else [n]
            labels[n] = read_ratings_csv(resolve(p, "label_path"), columns=columns)
    return _check_label_pair(recording_id, labels)


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------


def summarize(recordings: Sequence[Recording]) -> dict:
    """Counts per split and modality, for logs and ``metadata.json``.

    Returns::

        {"num_recordings": 5,
         "splits": {"train": {"recordings": 3, "audio": 3, "video": 2,
                              "audiovisual": 2, "labelled": 3, "label_values": 22503},
                    ...}}

    ``label_values`` is the number of arousal values (= valence values) over the
    labelled recordings. Splits appear in order of first occurrence.
    """
    splits: dict[str, dict[str, int]] = {}
    for recording in recordings:
        if not isinstance(recording, Recording):
            raise CorpusError(f"summarize expects Recordings, got {type(recording).__name__}")
        counts = splits.setdefault(
            recording.split,
            {
                "recordings": 0,
                "audio": 0,
                "video": 0,
                "audiovisual": 0,
                "labelled": 0,
                "label_values": 0,
            },
        )
        counts["recordings"] += 1
        counts["audio"] += recording.audio_path is not None
        counts["video"] += recording.video_path is not None
        counts["audiovisual"] += len(recording.modalities) == 2
        if recording.labels is not None:
            counts["labelled"] += 1
            counts["label_values"] += len(recording.labels["arousal"])
    return {"num_recordings": len(recordings), "splits": splits}
