"""Running a ``.tflite`` written by ``convert`` with the LiteRT interpreter."""

from __future__ import annotations

import os

import numpy as np

from e2e_emotion.export.tflite.base import SIGNATURE_KEY, TFLiteExportError, make_interpreter
from e2e_emotion.frames import check_frames, predict_windows, to_float


class TFLiteModel:
    """A ``.tflite`` written by ``convert``, run with the LiteRT interpreter.

    Attributes (read from the file's signature): ``kind`` (``"sequence"`` / ``"stream"``),
    ``modality``, ``sequence_length`` (``T``, None for stream), ``frame_shapes``
    (``{"audio": (640,), ...}``), ``state_shapes`` (``{"h_1": (1, units), ...}``).
    """

    def __init__(self, path, num_threads=None):
        self.path = os.fspath(path)
        try:
            self.interpreter = make_interpreter(model_path=self.path, num_threads=num_threads)
        except (ValueError, RuntimeError) as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else error
            raise TFLiteExportError(f"{self.path}: not a readable .tflite ({detail})") from None
        signatures = self.interpreter.get_signature_list()
        if SIGNATURE_KEY not in signatures:
            raise TFLiteExportError(f"{self.path}: no {SIGNATURE_KEY!r} signature")
        self.runner = self.interpreter.get_signature_runner(SIGNATURE_KEY)
        details = self.runner.get_input_details()
        shapes = {name: tuple(int(d) for d in detail["shape"]) for name, detail in details.items()}
        media = [name for name in ("audio", "video") if name in shapes]
        if not media:
            raise TFLiteExportError(f"{self.path}: no 'audio' or 'video' input")
        self.modality = {1: {"audio": "audio", "video": "visual"}[media[0]], 2: "multimodal"}[
            len(media)
        ]
        self.state_shapes = {name: shapes[name] for name in sorted(shapes) if name not in media}
        if self.state_shapes:
            self.kind = "stream"
            self.sequence_length = None
            self.frame_shapes = {name: shapes[name][1:] for name in media}
        else:
            self.kind = "sequence"
            self.sequence_length = shapes[media[0]][1]
            self.frame_shapes = {name: shapes[name][2:] for name in media}

    def predict(self, inputs, reset_every=None):
        """Arousal and valence for every frame of a recording.

        Args:
            inputs: ``{"audio": [n, 640], "video": [n, S, S, 3]}`` float32 (video in
                [0, 1]; uint8 video is divided by 255).
            reset_every: frames between LSTM state resets. A sequence model always works
                in windows of its ``T`` frames (the last one zero-padded); a stream model
                carries its state over the whole recording unless this is given.

        Returns:
            float32 ``[n, 2]``.
        """
        frames = _check_inputs(inputs, self.frame_shapes, self.path)
        if self.kind == "sequence":
            return predict_windows(
                lambda chunk: self.runner(**chunk)["predictions"], frames, self.sequence_length
            )
        count = len(next(iter(frames.values())))
        out = np.zeros((count, 2), np.float32)
        state = self.zero_state()
        for index in range(count):
            if reset_every and index % reset_every == 0:
                state = self.zero_state()
            result = self.runner(
                **{k: to_float(v[index : index + 1]) for k, v in frames.items()}, **state
            )
            state = {name: result[f"new_{name}"] for name in self.state_shapes}
            out[index] = result["predictions"][0]
        return out

    def zero_state(self):
        """``{"h_1": zeros [1, units], "c_1": ..., ...}``: the state at the start."""
        return {name: np.zeros(shape, np.float32) for name, shape in self.state_shapes.items()}


def _check_inputs(inputs, frame_shapes, what):
    try:
        return check_frames(inputs, frame_shapes, what)
    except ValueError as error:
        raise TFLiteExportError(str(error)) from None
