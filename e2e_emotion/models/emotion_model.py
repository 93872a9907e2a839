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

import keras
import numpy as np
from keras import layers

from e2e_emotion.modalities import LEVEL_INPUT, MODALITIES
from e2e_emotion.models.checks import check_choice, check_positive_int
from e2e_emotion.models.level import LevelNormalization, check_target_db
from e2e_emotion.models.recurrent import recurrent_head
from e2e_emotion.models.speech import SpeechNetwork
from e2e_emotion.models.visual import BN_MOMENTUM, VisualNetwork
from tfrecords_tools.schema import FRAME_LENGTH, LABEL_NAMES

LSTM_TYPES = ("standard", "peephole")

# Constructor arguments of the two feature networks, as they appear in EmotionModel.
SPEECH_ARGS = {
    "speech_preset": "preset",
    "frame_length": "frame_length",
    "conv1_filters": "conv1_filters",
    "conv1_kernel": "conv1_kernel",
    "pool1_size": "pool1_size",
    "conv2_filters": "conv2_filters",
    "conv2_kernel": "conv2_kernel",
    "channel_pool_size": "channel_pool_size",
    "input_dropout": "input_dropout",
    "conv2_method": "conv2_method",
}
# Arguments of the level normalisation in front of the speech network.
LEVEL_ARGS = ("level_norm_frames", "level_norm_db")
VISUAL_ARGS = {
    "image_size": "image_size",
    "stem_filters": "stem_filters",
    "stage_blocks": "stage_blocks",
    "stage_filters": "stage_filters",
    "expansion": "expansion",
    "bn_momentum": "bn_momentum",
}


@keras.saving.register_keras_serializable(package="e2e_emotion")
class EmotionModel(keras.Model):
    """End-to-end continuous emotion model (functional, built in the constructor).

    Args:
        modality: ``"audio"``, ``"visual"`` or ``"multimodal"``.
        speech_preset, frame_length, conv1_filters, conv1_kernel, pool1_size,
            conv2_filters, conv2_kernel, channel_pool_size, input_dropout, conv2_method: the speech
            network's arguments (see ``SpeechNetwork``); ignored by the visual model.
        image_size, stem_filters, stage_blocks, stage_filters, expansion, bn_momentum: the visual
            network's arguments (see ``VisualNetwork``); ignored by the audio model.
        visual_weights: optional local ``.weights.h5`` of a ``VisualNetwork`` of the same
            configuration, loaded once at construction (not stored in the config).
        lstm_units, lstm_layers: the recurrent head (256 units, 2 layers).
        lstm_type: ``"standard"`` (Keras LSTM) or ``"peephole"`` (peepholes and cell
            clipping, as in the authors' code).
        cell_clip: cell-state clipping of the peephole LSTM (100).
    """

    def __init__(
        self,
        modality="multimodal",
        speech_preset="paper",
        frame_length=FRAME_LENGTH,
        conv1_filters=40,
        conv1_kernel=None,
        pool1_size=2,
        conv2_filters=40,
        conv2_kernel=None,
        channel_pool_size=10,
        input_dropout=0.0,
        conv2_method="auto",
        level_norm_frames=0,
        level_norm_db=-30.0,
        image_size=96,
        stem_filters=64,
        stage_blocks=(3, 4, 6, 3),
        stage_filters=(64, 128, 256, 512),
        expansion=4,
        bn_momentum=BN_MOMENTUM,
        visual_weights=None,
        lstm_units=256,
        lstm_layers=2,
        lstm_type="standard",
        cell_clip=100.0,
        name=None,
        **kwargs,
    ):
        check_choice("modality", modality, MODALITIES)
        check_choice("lstm_type", lstm_type, LSTM_TYPES)
        check_positive_int("lstm_units", lstm_units)
        check_positive_int("lstm_layers", lstm_layers)
        if isinstance(level_norm_frames, bool) or not isinstance(level_norm_frames, int):
            raise ValueError(
                f"`level_norm_frames` must be an integer >= 0, received {level_norm_frames!r}"
            )
        if level_norm_frames < 0:
            raise ValueError(f"`level_norm_frames` must be >= 0, received {level_norm_frames}")
        check_target_db("level_norm_db", level_norm_db)
        arguments = dict(locals())
        speech_kwargs = {inner: arguments[outer] for outer, inner in SPEECH_ARGS.items()}
        visual_kwargs = {inner: arguments[outer] for outer, inner in VISUAL_ARGS.items()}

        inputs, features = {}, []
        speech_network = visual_network = level_normalization = None
        if modality in ("audio", "multimodal"):
            speech_network = SpeechNetwork(**speech_kwargs)
            inputs["audio"] = keras.Input(shape=(None, frame_length), name="audio")
            audio = inputs["audio"]
            if level_norm_frames:
                level_normalization = LevelNormalization(
                    level_norm_frames, level_norm_db, name="level_normalization"
                )
                inputs[LEVEL_INPUT] = keras.Input(shape=(2,), name=LEVEL_INPUT)
                audio = level_normalization(audio, inputs[LEVEL_INPUT])
            features.append(speech_network(audio))
        if modality in ("visual", "multimodal"):
            visual_network = VisualNetwork(weights=visual_weights, **visual_kwargs)
            inputs["video"] = keras.Input(shape=(None, image_size, image_size, 3), name="video")
            features.append(visual_network(inputs["video"]))
        if len(features) > 1:
            fused = layers.Concatenate(axis=-1, name="fusion_concatenate")(features)
        else:
            fused = features[0]
        outputs = recurrent_head(
            fused, lstm_units, lstm_layers, lstm_type, cell_clip, num_outputs=len(LABEL_NAMES)
        )
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"{modality}_model", **kwargs)

        self.modality = modality
        self.speech_network = speech_network
        self.visual_network = visual_network
        self.level_normalization = level_normalization
        self.num_features = fused.shape[-1]
        self._config = {
            "modality": modality,
            **{outer: arguments[outer] for outer in SPEECH_ARGS},
            **{name: arguments[name] for name in LEVEL_ARGS},
            **{outer: arguments[outer] for outer in VISUAL_ARGS},
            "lstm_units": lstm_units,
            "lstm_layers": lstm_layers,
            "lstm_type": lstm_type,
            "cell_clip": cell_clip,
        }
        self._config["stage_blocks"] = list(stage_blocks)
        self._config["stage_filters"] = list(stage_filters)

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
            features.append(self.visual_network(inputs["video"], training=training))
        return features[0] if len(features) == 1 else keras.ops.concatenate(features, axis=-1)

    def recurrent_outputs(self, features, training=False):
        """The recurrent head alone: ``[batch, time, F]`` features -> ``[batch, time, 2]``.

        ``model(inputs)`` equals ``recurrent_outputs(frame_features(inputs))``; split in two,
        the head can run over a whole recording whose features were computed in windows.
        """
        x = features
        for layer in self.recurrent_layers:
            x = layer(x, training=training)
        return self.get_layer("predictions")(x, training=training)

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
