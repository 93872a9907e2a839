"""The audio, visual and multimodal models of Tzirakis et al. (2017), assembled from config.

Every model maps per-frame inputs to arousal and valence every 40 ms:

* ``audio``: ``{"audio": [batch, time, 640]}`` -> speech network (1280) -> LSTM head;
* ``visual``: ``{"video": [batch, time, 96, 96, 3]}`` -> ResNet-50 (2048) -> LSTM head;
* ``multimodal``: both, features concatenated (1280 + 2048 = 3328) -> LSTM head.

With ``level_norm_frames > 0`` the waveform is level-normalised before the speech network
(``e2e_emotion.models.level``) and the model also reads ``audio_level`` ``[batch, 2]``,
the normaliser's state at the sequence's first frame (zeros when not given).

Output: ``[batch, time, 2]``, arousal then valence. The time axis may be ``None``.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from keras import layers

from e2e_emotion.config import (
    LSTM_TYPES,
    SPEECH_MODEL_NAMES,
    HeadConfig,
    LevelConfig,
    SpeechConfig,
    VisualConfig,
)
from e2e_emotion.modalities import LEVEL_INPUT, MODALITIES
from e2e_emotion.models.checks import check_choice, check_positive_int, check_unit_interval
from e2e_emotion.models.level import LevelNormalization, check_target_db
from e2e_emotion.models.recurrent import FacePresence, readout_layer, recurrent_layers
from e2e_emotion.models.speech import SpeechNetwork
from e2e_emotion.models.visual import VisualNetwork, fold_into
from tfrecords_tools.schema import LABEL_NAMES

# The model's settings: each part's config, and the model's name of a field where it is
# not the field's own. Defaults, checks and flags live with the configs.
PARTS = (
    ("speech", SpeechConfig, SPEECH_MODEL_NAMES),
    ("level", LevelConfig, {}),
    ("visual", VisualConfig, {}),
    ("head", HeadConfig, {}),
)


def part_arguments():
    """``[(part, config type, field name, model argument name)]`` of every setting."""
    return [
        (part, config_type, field.name, renamed.get(field.name, field.name))
        for part, config_type, renamed in PARTS
        for field in dataclasses.fields(config_type)
    ]


def part_configs(arguments):
    """``({part: config}, rest)``: ``EmotionModel`` arguments (its names) as the parts'
    configs, and the arguments that are no setting."""
    rest = dict(arguments)
    values = {part: {} for part, _, _ in PARTS}
    for part, _, field, outer in part_arguments():
        if outer in rest:
            values[part][field] = rest.pop(outer)
    configs = {part: config_type(**values[part]) for part, config_type, _ in PARTS}
    return configs, rest


@keras.saving.register_keras_serializable(package="e2e_emotion")
class EmotionModel(keras.Model):
    """End-to-end continuous emotion model (functional, built in the constructor).

    Args:
        modality: ``"audio"``, ``"visual"`` or ``"multimodal"``.
        visual_weights: optional local ``.weights.h5`` of a ``VisualNetwork`` of the same
            configuration, loaded once at construction (not stored in the config).
        folded_batch_norm: an inference-only model whose ResNet has no BatchNorm layers
            (``fold_batch_norm`` makes one from a trained model).
        **settings: the parts' settings by name, each defaulting to its config's:
            ``SpeechConfig`` (``speech_preset`` for its ``preset``; ignored by the visual
            model), ``LevelConfig``, ``VisualConfig`` (ignored by the audio model) and
            ``HeadConfig`` (``lstm_units``, ``lstm_layers``, ``lstm_type``,
            ``cell_clip``, ``voice_units``,
            ``speech_feature_dropout``).
    """

    def __init__(
        self,
        modality="multimodal",
        visual_weights=None,
        name=None,
        folded_batch_norm=False,
        **settings,
    ):
        check_choice("modality", modality, MODALITIES)
        configs, keras_kwargs = part_configs(settings)
        head, level = configs["head"], configs["level"]
        check_choice("lstm_type", head.lstm_type, LSTM_TYPES)
        check_positive_int("lstm_units", head.lstm_units)
        check_positive_int("lstm_layers", head.lstm_layers)
        if head.voice_units and not (
            modality == "multimodal" and head.voice_units <= head.lstm_units
        ):
            raise ValueError(
                f"`voice_units` ({head.voice_units}) is for the multimodal model, at most its "
                f"`lstm_units` ({head.lstm_units}); received modality {modality!r}"
            )
        frames = level.level_norm_frames
        if isinstance(frames, bool) or not isinstance(frames, int):
            raise ValueError(f"`level_norm_frames` must be an integer >= 0, received {frames!r}")
        if frames < 0:
            raise ValueError(f"`level_norm_frames` must be >= 0, received {frames}")
        check_target_db("level_norm_db", level.level_norm_db)
        speech_dropout = head.speech_feature_dropout
        check_unit_interval("speech_feature_dropout", speech_dropout)

        inputs, features = {}, []
        speech_network = visual_network = level_normalization = None
        frame_length = configs["speech"].frame_length
        if modality in ("audio", "multimodal"):
            speech_network = SpeechNetwork(configs["speech"])
            inputs["audio"] = keras.Input(shape=(None, frame_length), name="audio")
            audio = inputs["audio"]
            if frames:
                # float32 under mixed precision too: a running sum of frame powers over a
                # recording would lose most of its digits in bfloat16.
                level_normalization = LevelNormalization(
                    frames, level.level_norm_db, name="level_normalization", dtype="float32"
                )
                inputs[LEVEL_INPUT] = keras.Input(shape=(2,), name=LEVEL_INPUT)
                audio = level_normalization(audio, inputs[LEVEL_INPUT])
            speech = speech_network(audio)
            if speech_dropout:
                speech = layers.Dropout(speech_dropout, name="speech_feature_dropout")(speech)
            features.append(speech)
        if modality in ("visual", "multimodal"):
            visual_network = VisualNetwork(
                configs["visual"], weights=visual_weights, folded=folded_batch_norm
            )
            size = configs["visual"].image_size
            inputs["video"] = keras.Input(shape=(None, size, size, 3), name="video")
            features.append(visual_network(inputs["video"]))
            if head.voice_units:
                features.append(FacePresence(name="face_presence")(inputs["video"]))
        if len(features) > 1:
            fused = layers.Concatenate(axis=-1, name="fusion_concatenate")(features)
        else:
            fused = features[0]
        h = recurrent_layers(fused, head)
        outputs = readout_layer(h, fused, head, num_outputs=len(LABEL_NAMES))
        super().__init__(
            inputs=inputs, outputs=outputs, name=name or f"{modality}_model", **keras_kwargs
        )

        self.modality = modality
        self.speech_network = speech_network
        self.visual_network = visual_network
        self.level_normalization = level_normalization
        self.num_features = fused.shape[-1]
        self.voice_units = head.voice_units
        self._config = {"modality": modality}
        if folded_batch_norm:
            self._config["folded_batch_norm"] = True
        for part, _, field, outer in part_arguments():
            value = getattr(configs[part], field)
            self._config[outer] = list(value) if isinstance(value, (list, tuple)) else value

    def __call__(self, inputs, *args, **kwargs):
        return super().__call__(self.with_level(inputs), *args, **kwargs)

    def with_level(self, inputs):
        """``inputs`` as the model takes them: the level state ``[0, 0]`` (a recording's
        start) added when the model normalises the level and ``audio_level`` is missing,
        and dropped when the model does not read it (the data pipeline always gives it)."""
        if not isinstance(inputs, dict):
            return inputs
        if self.level_normalization is None:
            return {name: value for name, value in inputs.items() if name != LEVEL_INPUT}
        if LEVEL_INPUT in inputs or "audio" not in inputs:
            return inputs
        audio = inputs["audio"]
        if isinstance(audio, np.ndarray):
            zeros = np.zeros((audio.shape[0], 2), np.float32)
        else:
            zeros = keras.ops.zeros((keras.ops.shape(audio)[0], 2), "float32")
        return {**inputs, LEVEL_INPUT: zeros}

    def normalised_audio(self, inputs, training=False):
        """``inputs["audio"]`` as the speech network reads it (level-normalised or not)."""
        if self.level_normalization is None:
            return inputs["audio"]
        inputs = self.with_level(inputs)
        return self.level_normalization(inputs["audio"], inputs[LEVEL_INPUT], training=training)

    def frame_features(self, inputs, training=False):
        """The fused per-frame features the recurrent head reads: ``[batch, time, F]``.

        ``inputs`` holds ``"audio"`` and/or ``"video"`` as for the model itself (and
        ``audio_level``, see ``with_level``); speech features come before visual ones, as
        in the model's concatenation.
        """
        features = []
        if self.speech_network is not None:
            audio = self.normalised_audio(inputs, training=training)
            features.append(self.speech_network(audio, training=training))
        if self.visual_network is not None:
            features.append(self.video_features(inputs["video"], training=training))
        return features[0] if len(features) == 1 else keras.ops.concatenate(features, axis=-1)

    def video_features(self, video, training=False):
        """The per-frame features of ``video`` crops ``[batch, time, S, S, 3]`` the head
        reads: the visual network's, then (with ``voice_units``) the face flag."""
        features = self.visual_network(video, training=training)
        if self.voice_units:
            presence = self.get_layer("face_presence")(video)
            features = keras.ops.concatenate([features, presence], axis=-1)
        return features

    def readout(self, h, features, training=False):
        """The head's output layer on the last LSTM layer's output ``h``; ``features``:
        what the head read (the face flag, for a model with ``voice_units``)."""
        layer = self.get_layer("predictions")
        if self.voice_units:
            return layer([h, features], training=training)
        return layer(h, training=training)

    def recurrent_outputs(self, features, training=False):
        """The recurrent head alone: ``[batch, time, F]`` features -> ``[batch, time, 2]``.

        ``model(inputs)`` equals ``recurrent_outputs(frame_features(inputs))``; split in two,
        the head can run over a whole recording whose features were computed in windows.
        """
        x = features
        for layer in self.recurrent_layers:
            x = layer(x, training=training)
        return self.readout(x, features, training=training)

    @property
    def recurrent_layers(self):
        """The head's recurrent layers ``temporal_lstm_1..k``, bottom first."""
        found = []
        while True:
            try:
                found.append(self.get_layer(f"temporal_lstm_{len(found) + 1}"))
            except ValueError:
                return found

    @property
    def input_names(self):
        """Names of the model's inputs, in the order of ``model.inputs``."""
        return [tensor.name for tensor in self.inputs]

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, **self._config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def fold_batch_norm(model, dtype_policy="float32"):
    """The inference twin of ``model``: its ResNet's BatchNorm layers folded into the
    convolutions before them (``visual.fold_into``), every other weight copied, computed
    under ``dtype_policy``.

    Predictions equal ``model(inputs, training=False)`` to rounding, one op fewer per
    convolution; prediction, evaluation, the exports and the benchmarks infer with it.
    A model trained in ``mixed_bfloat16`` thus predicts in float32, as fast on a CPU
    without bfloat16 units as any other. Training needs the BatchNorm layers, so the
    trained model is what is saved. A model with nothing to fold, already of that policy,
    is returned as it is.
    """
    visual_network = getattr(model, "visual_network", None)
    policies = {layer.dtype_policy.name for layer in model.layers if layer.weights}
    policies.discard("float32")  # the recurrent head and readout are float32 always
    nothing_to_fold = visual_network is None or visual_network.folded
    if nothing_to_fold and policies <= {dtype_policy}:
        return model
    config = {
        key: value
        for key, value in model.get_config().items()
        if key not in ("trainable", "folded_batch_norm")
    }
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(dtype_policy)
    try:
        twin = EmotionModel(**config, folded_batch_norm=visual_network is not None)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    for layer in model.layers:
        if layer is visual_network and not visual_network.folded:
            fold_into(visual_network, twin.visual_network)
        elif layer.weights:
            twin.get_layer(layer.name).set_weights(layer.get_weights())
    return twin


def level_setting(model):
    """The audio level normalisation of ``model``, as words: ``"off"`` or
    ``"level_norm_frames=250, level_norm_db=-30.0"`` (models saved before it existed: off)."""
    config = model.get_config()
    frames = config.get("level_norm_frames", 0)
    if not frames:
        return "off"
    return f"level_norm_frames={frames}, level_norm_db={config.get('level_norm_db', -30.0)}"


def build_model(modality, speech_preset="paper", **kwargs):
    """Builds the ``audio``, ``visual`` or ``multimodal`` model of the paper.

    Args:
        modality: ``"audio"``, ``"visual"`` or ``"multimodal"``.
        speech_preset: ``"paper"`` (continuous waveform, 1x80 and 1x4000 convolutions)
            or ``"reference"`` (per-frame 1x20 and 1x40, the authors' code).
        **kwargs: any other ``EmotionModel`` argument (sizes of every layer).

    Returns:
        An ``EmotionModel`` (a ``keras.Model``) taking a dict with ``"audio"``
        ``[batch, time, 640]`` and/or ``"video"`` ``[batch, time, 96, 96, 3]`` float32
        and returning ``[batch, time, 2]`` (arousal, valence).
    """
    return EmotionModel(modality=modality, speech_preset=speech_preset, **kwargs)


def load_model(path):
    """Loads a model saved with ``model.save("x.keras")`` (safe mode, no Lambda layers)."""
    return keras.saving.load_model(path, safe_mode=True)
