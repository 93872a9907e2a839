"""One way into a trained model, whatever its format.

``open_model(path)`` reads a trained model directory (``best/model.keras``, else
``final/model.keras``) or a ``.keras`` file, a SavedModel export (a directory holding
``saved_model.pb``, or an ``EXPORT_BASE/NAME`` directory whose highest numbered version is
taken) or a ``.tflite`` file, and returns an ``OpenedModel`` with the model's modality,
the streams it needs and two interfaces: ``predictor(window)`` for a whole recording
(``bin/predict.py``) and ``stream_model()`` for one 40 ms frame at a time, its state
carried (``bin/live.py``). This module is the only place that tells the formats apart.

Every problem with a model is a ``ModelError`` whose message names the path.
"""

from __future__ import annotations

import os

import numpy as np

from e2e_emotion.frames import check_frames, predict_windows
from e2e_emotion.modalities import LEVEL_INPUT, MODALITY_INPUTS
from tfrecords_tools.schema import FRAME_LENGTH

# Frames per feature-network call when a Keras model predicts a whole recording.
FEATURE_CHUNK = 150
FORMATS = ("keras", "saved_model", "tflite")


class ModelError(ValueError):
    """A model cannot be opened or used; the message names it."""


def one_line(error):
    """The first line of an error's message (libraries' messages run on for pages)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Predictor:
    """``predict(inputs) -> [n, 2]`` for ``{"audio": [n, 640], "video": [n, S, S, 3] uint8}``
    (``OpenedModel.predictor``). Attributes: ``kind``, ``modality``, ``image_size``,
    ``window``, ``needs``."""

    kind = "?"
    window = None

    def __init__(self, opened, window):
        self.opened = opened
        self.path = opened.path
        self.modality = opened.modality
        self.image_size = opened.image_size
        self.window = window

    @property
    def needs(self):
        return self.opened.needs

    def describe(self):
        return f"{self.kind} ({self.modality})"

    def _checked(self, inputs, first_frame=0):
        shapes = {"audio": (FRAME_LENGTH,), "video": (self.image_size, self.image_size, 3)}
        needed = {k: shapes[k] for k in self.needs}
        try:
            return check_frames(inputs, needed, self.describe(), first_frame)
        except ValueError as error:
            raise ModelError(str(error)) from None

    def predict(self, inputs):
        """Checked ``inputs`` (see ``e2e_emotion.frames.check_frames``) -> ``[n, 2]``."""
        return self._predict(self._checked(inputs))

    @property
    def chunk(self):
        """Frames per part :meth:`predict_parts` takes a recording in (None: whole):
        windows are independent of each other, so a windowed prediction goes a window at
        a time."""
        return self.window

    def predict_parts(self, parts):
        """``[n, 2]`` for one recording given as consecutive parts of ``chunk`` frames
        (an iterator, read as it goes: memory for one part, not the recording)."""
        if self.chunk is None:
            parts = list(parts)
            if not parts:
                raise ModelError(f"{self.describe()}: no frames to predict")
            return self.predict({k: np.concatenate([p[k] for p in parts]) for k in parts[0]})
        outputs, first = [], 0
        for part in parts:
            outputs.append(np.asarray(self._predict(self._checked(part, first)), np.float32))
            first += len(outputs[-1])
        if not outputs:
            raise ModelError(f"{self.describe()}: no frames to predict")
        return np.concatenate(outputs)


class _KerasPredictor(Predictor):
    kind = "keras"

    def __init__(self, opened, window):
        super().__init__(opened, window)
        self.model = opened.model

    def _predict(self, inputs):
        from e2e_emotion.models.inference import predict_recording

        return predict_recording(self.model, inputs, self.window, chunk=FEATURE_CHUNK)

    @property
    def chunk(self):
        from e2e_emotion.models.inference import streams_features

        if self.window is None and streams_features(self.model):
            return FEATURE_CHUNK
        return self.window

    def predict_parts(self, parts):
        if self.window is not None or self.chunk is None:
            return super().predict_parts(parts)
        from e2e_emotion.models.inference import predict_recording_chunks

        def checked():
            first = 0
            for part in parts:
                yield self._checked(part, first)
                first += len(next(iter(part.values())))

        return predict_recording_chunks(self.model, checked())


class _SavedModelPredictor(Predictor):
    kind = "saved_model"

    def __init__(self, opened, window):
        super().__init__(opened, window)
        self._signature = opened.signature("serving_default")

    def _call(self, inputs):
        import tensorflow as tf

        outputs = self._signature(**{k: tf.constant(v) for k, v in inputs.items()})
        if "arousal" in outputs and "valence" in outputs:
            return np.stack([outputs["arousal"], outputs["valence"]], axis=-1)
        if len(outputs) == 1:
            return next(iter(outputs.values()))
        raise ModelError(
            f"{self.path}: serving_default returns {sorted(outputs)}; expected arousal, valence"
        )

    def _predict(self, inputs):
        return predict_windows(self._call, inputs, self.window)


class _TFLitePredictor(Predictor):
    def __init__(self, opened, window):
        super().__init__(opened, window)
        self.model = opened.model
        self.kind = f"tflite {self.model.kind}"
        if self.model.kind == "sequence":
            self.window = self.model.sequence_length

    def _predict(self, inputs):
        return self.model.predict(inputs, reset_every=self.window)


def _modality_of(streams):
    """The model kind that reads exactly ``streams`` (None: no such kind)."""
    found = [kind for kind, reads in MODALITY_INPUTS.items() if set(reads) == set(streams)]
    return found[0] if found else None


class OpenedModel:
    """A loaded model: ``path`` (what was loaded), ``format`` (one of ``FORMATS``),
    ``modality``, ``image_size``, ``needs`` (``("audio",)``, ``("video",)`` or both)."""

    format = "?"
    image_size = 96

    @property
    def needs(self):
        return MODALITY_INPUTS[self.modality]

    def predictor(self, window=150):
        """A ``Predictor`` of whole recordings, cut into windows of ``window`` frames
        (each from a zero state), or in one sequence with ``None``."""
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)):
            raise ModelError(f"sequence_length must be an integer or None, got {window!r}")
        if window is not None and window < 1:
            raise ModelError(f"sequence_length must be >= 1, got {window}")
        return self._predictor(window)

    def stream_model(self):
        """A ``StreamModel``: one 40 ms frame per step, the state carried."""
        return StreamModel(self)


class _OpenedKeras(OpenedModel):
    format = "keras"

    def __init__(self, path):
        from e2e_emotion.models import (
            ModelNotFoundError,
            fold_batch_norm,
            load_model,
            resolve_model_path,
        )

        try:
            self.path = resolve_model_path(path)
        except ModelNotFoundError as error:
            raise ModelError(one_line(error)) from None
        try:
            self.model = load_model(self.path)
        except Exception as error:  # Keras raises many types for a bad archive
            raise ModelError(f"{self.path}: cannot load the model ({one_line(error)})") from None
        self.modality = getattr(self.model, "modality", None)
        if self.modality is None:
            raise ModelError(f"{self.path}: not an e2e_emotion model")
        self.model = fold_batch_norm(self.model)
        if self.model.visual_network is not None:
            self.image_size = self.model.visual_network.image_size

    def _predictor(self, window):
        return _KerasPredictor(self, window)

    def setup_stream(self, stream):
        from e2e_emotion.models.stepping import NotStreamableError

        try:
            stream._init_split(self.model)
        except NotStreamableError as error:
            raise ModelError(f"{self.path}: {one_line(error)}") from None


class _OpenedSavedModel(OpenedModel):
    format = "saved_model"

    def __init__(self, path):
        import tensorflow as tf

        self.path = path
        try:
            self.loaded = tf.saved_model.load(path)
        except Exception as error:  # TensorFlow raises many types for a bad directory
            raise ModelError(f"{path}: cannot load the SavedModel ({one_line(error)})") from None
        signatures = self.loaded.signatures
        name = "serving_default" if "serving_default" in signatures else "stream"
        if name not in signatures:
            raise ModelError(f"{path}: the SavedModel has no 'serving_default' signature")
        specs = signatures[name].structured_input_signature[1]
        self.modality = _modality_of({n for n in specs if n in ("audio", "video")})
        if self.modality is None:
            raise ModelError(
                f"{path}: {name} takes {sorted(specs)}; expected 'audio' and/or 'video'"
            )
        video = specs.get("video")
        if video is not None and video.shape[-3] is not None:
            self.image_size = int(video.shape[-3])

    def signature(self, name):
        """The signature ``name`` (``serving_default``: checked to take only frames)."""
        if name not in self.loaded.signatures:
            raise ModelError(f"{self.path}: the SavedModel has no {name!r} signature")
        signature = self.loaded.signatures[name]
        specs = signature.structured_input_signature[1]
        if name == "serving_default" and set(specs) - {"audio", "video"}:
            raise ModelError(
                f"{self.path}: serving_default takes {sorted(specs)}; expected 'audio' "
                "and/or 'video'"
            )
        return signature

    def _predictor(self, window):
        return _SavedModelPredictor(self, window)

    def setup_stream(self, stream):
        """The ``stream`` signature of ``bin/export.py``, one frame per call."""
        import tensorflow as tf

        if "stream" not in self.loaded.signatures:
            raise ModelError(
                f"{self.path}: the SavedModel has no 'stream' signature (exported before it "
                "existed, or a paper-preset model: stream its Keras model or re-export)"
            )
        signature = self.loaded.signatures["stream"]
        specs = signature.structured_input_signature[1]
        frames = tuple(name for name in ("audio", "video") if name in specs)
        shapes = {n: (1, int(s.shape[1])) for n, s in specs.items() if n not in frames}

        def run(**inputs):
            tensors = {name: tf.constant(value) for name, value in inputs.items()}
            outputs = {name: value.numpy() for name, value in signature(**tensors).items()}
            outputs["predictions"] = np.stack([outputs["arousal"], outputs["valence"]], axis=-1)
            return outputs

        stream._use_runner(
            frames, lambda: {n: np.zeros(s, np.float32) for n, s in shapes.items()}, run
        )


class _OpenedTFLite(OpenedModel):
    format = "tflite"

    def __init__(self, path, num_threads=None):
        from e2e_emotion.export.tflite import TFLiteExportError, TFLiteModel

        self.path = path
        try:
            self.model = TFLiteModel(path, num_threads=num_threads)
        except TFLiteExportError as error:
            raise ModelError(one_line(error)) from None
        self.modality = self.model.modality
        if "video" in self.model.frame_shapes:
            self.image_size = int(self.model.frame_shapes["video"][0])

    def _predictor(self, window):
        return _TFLitePredictor(self, window)

    def setup_stream(self, stream):
        lite = self.model
        if lite.kind != "stream":
            raise ModelError(
                f"{self.path}: a sequence model (windows of {lite.sequence_length} frames); "
                "live needs the stream model (bin/convert_tflite.py --kind=stream)"
            )
        stream._use_runner(lite.frame_shapes, lite.zero_state, lite.runner)


def open_model(path, num_threads=None):
    """Opens the model at ``path`` (module docstring); ``num_threads``: a ``.tflite``
    interpreter's threads (None: its default).

    Raises:
        ModelError: missing, unreadable or not a model of this project.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelError(f"{path}: model not found")
    if path.endswith(".tflite"):
        return _OpenedTFLite(path, num_threads)
    if os.path.isdir(path):
        saved_model = saved_model_dir(path)
        if saved_model is not None:
            return _OpenedSavedModel(saved_model)
    return _OpenedKeras(path)


def saved_model_dir(path):
    """``path`` if it holds saved_model.pb, else its highest numbered version, else None."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [
        name
        for name in os.listdir(path)
        if name.isdigit() and os.path.isfile(os.path.join(path, name, "saved_model.pb"))
    ]
    if versions:
        return os.path.join(path, max(versions, key=int))
    return None


# ---------------------------------------------------------------------------- streaming


class StreamModel:
    """One 40 ms step of a model with its LSTM state carried between calls.

    Made by ``OpenedModel.stream_model``: a stream ``.tflite`` (``convert_tflite.py
    --kind=stream``), a SavedModel's ``stream`` signature, or a Keras model run in parts
    by the same one-frame step. Attributes: ``modality``, ``needs`` (``("audio",)``,
    ``("video",)`` or both), ``image_size``, ``lookahead``.
    """

    def __init__(self, opened):
        self.path = opened.path
        self.modality = opened.modality
        self.image_size = opened.image_size
        self.lookahead = 0  # frames of future audio a frame's prediction waits for
        self._window = None  # the Keras path's pending features (_init_split)
        self._speech = None  # the paper preset's IncrementalSpeech
        opened.setup_stream(self)
        self.needs = tuple(name for name in ("audio", "video") if name in self._frame_names)
        self.reset()

    def _use_runner(self, frame_names, zero, run):
        """A model whose whole step is one call: ``run(**frames, **state)``."""
        self._frame_names = tuple(frame_names)
        self._zero = zero
        self._run = run

    def _init_split(self, model):
        """A Keras model run in parts: the speech features of each frame (the ``paper``
        preset's computed incrementally by ``e2e_emotion.models.speech_stream``, each
        frame's once its look-ahead, 7 frames or 0.28 s with the paper's kernels, has
        arrived), the visual features of each frame (reused, not recomputed, for a dropped
        video frame), then one step of the LSTM head with its state."""
        import tensorflow as tf

        from e2e_emotion.models.level import level_after
        from e2e_emotion.models.speech_stream import IncrementalSpeech
        from e2e_emotion.models.stepping import head_step, recurrent_cells, stream_state_sizes

        self._model = model
        speech, visual = model.speech_network, model.visual_network
        self._frame_names = tuple(
            name for name, net in (("audio", speech), ("video", visual)) if net is not None
        )
        lstms = recurrent_cells(model)
        self._speech = self._speech_frame = None
        if speech is not None and speech.preset == "paper":
            self._speech = IncrementalSpeech(speech)
            self.lookahead = self._speech.lookahead
        elif speech is not None:
            per_frame = tf.function(lambda audio: speech(audio, training=False))
            self._speech_frame = lambda samples: per_frame(samples[None, None])[0, 0].numpy()
        if visual is not None:
            self.image_size = int(visual.image_size)
            self._visual = tf.function(lambda video: model.video_features(video, training=False))

        self._head = tf.function(
            lambda features, state: head_step(lstms, model.readout, features, state)
        )
        self._level = None
        level = model.level_normalization
        if level is not None:  # the audio level normaliser and its state, carried
            self._level = tf.function(
                lambda audio, state: (level(audio, state), level_after(audio, state))
            )
        shapes = {name: (1, size) for name, size in stream_state_sizes(model).items()}
        self._zero = lambda: {n: np.zeros(s, np.float32) for n, s in shapes.items()}
        self._window = {"next": 0, "visual": [], "last_visual": None}
        self.visual_runs = 0  # frames whose visual features were computed

    def _normalised(self, samples):
        """One frame's samples as the speech network reads them (level-normalised, the
        normaliser's state carried, when the Keras model normalises the level)."""
        samples = np.asarray(samples, np.float32)
        if self._level is None:
            return samples
        normalised, level = self._level(samples[None, None], self.state[LEVEL_INPUT])
        self.state[LEVEL_INPUT] = level.numpy()
        return normalised.numpy()[0, 0]

    def reset(self):
        """Zero state, the LSTMs' and the audio level's (the start of a stream)."""
        self.state = self._zero()
        if self._window is not None:
            self._window = {"next": 0, "visual": [], "last_visual": None}
            if self._speech is not None:
                self._speech.reset()

    def push(self, index, frame, dropped=False):
        """Frame ``index`` (``{"audio": float32 [640], "video": uint8 [S, S, 3]}``) in;
        the frames whose predictions are now complete out: ``[(index, arousal, valence)]``
        (this frame for a frame-local model; frame ``index - lookahead`` for the paper
        preset). ``dropped``: the video frame was dropped; a Keras model reuses the last
        visual features instead of running its visual network (a ``.tflite`` runs whole)."""
        if self._window is None:
            return [(index, *self._step(frame))]
        window = self._window
        if "video" in self.needs:
            if not (dropped and window["last_visual"] is not None):
                video = (frame["video"].astype(np.float32) / np.float32(255.0))[None, None]
                window["last_visual"] = self._visual(video)[0, 0].numpy()
                self.visual_runs += 1
            window["visual"].append(window["last_visual"])
        if self._speech is not None:
            ready = self._speech.push(self._normalised(frame["audio"]))
        elif self._speech_frame is not None:
            ready = [self._speech_frame(self._normalised(frame["audio"]))]
        else:
            ready = [None]  # a visual model: nothing to wait for
        return [self._predict_next(features) for features in ready]

    def finish(self):
        """End of stream: the frames still waiting for look-ahead (their future is the
        zero padding the offline computation has at the recording's end)."""
        if self._speech is None:  # frame-local features: nothing waits
            return []
        return [self._predict_next(features) for features in self._speech.finish()]

    def _predict_next(self, speech_features):
        window = self._window
        k = window["next"]
        parts = [] if speech_features is None else [speech_features]
        if window["visual"]:
            parts.append(window["visual"].pop(0))
        features = np.concatenate(parts)[None].astype(np.float32)
        predictions, state = self._head(features, self.state)
        # The head's new LSTM state; the level state was carried by _normalised.
        self.state.update({name[len("new_") :]: value.numpy() for name, value in state.items()})
        window["next"] = k + 1
        arousal, valence = (float(v) for v in predictions[0])
        return k, arousal, valence

    def _step(self, frame):
        """One frame-local step: ``(arousal, valence)``, the LSTM state carried."""
        inputs = {}
        if "audio" in self.needs:
            inputs["audio"] = np.asarray(frame["audio"], np.float32)[np.newaxis]
        if "video" in self.needs:
            inputs["video"] = (frame["video"].astype(np.float32) / np.float32(255.0))[np.newaxis]
        result = self._run(**inputs, **self.state)
        self.state = {name: result[f"new_{name}"] for name in self.state}
        arousal, valence = (float(v) for v in result["predictions"][0])
        return arousal, valence
