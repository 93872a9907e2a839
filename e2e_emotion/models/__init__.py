"""Keras 3 functional models of Tzirakis et al. (2017)."""

try:
    import tensorflow  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without TensorFlow
    raise ImportError(
        "e2e_emotion needs TensorFlow 2.21. Install the project with an extra that picks "
        "the build: `pip install -e '.[cpu]'` (CPU) or `pip install -e '.[gpu]'` (CUDA)."
    ) from error

# ruff: noqa: E402
from e2e_emotion.config import HeadConfig, LevelConfig, SpeechConfig, VisualConfig
from e2e_emotion.models.emotion_model import (
    LABEL_NAMES,
    MODALITIES,
    EmotionModel,
    build_model,
    fold_batch_norm,
    load_model,
)
from e2e_emotion.models.long_conv import LongConv1D
from e2e_emotion.models.paths import ModelNotFoundError, resolve_model_path
from e2e_emotion.models.recurrent import FusedLSTM, PeepholeLSTMCell
from e2e_emotion.models.speech import (
    SPEECH_PRESETS,
    ChannelMaxPool,
    FrameConv2D,
    SpeechNetwork,
    set_gradient_dtype,
)
from e2e_emotion.models.time_layers import FoldTime, UnfoldTime
from e2e_emotion.models.visual import FusedBatchNormalization, VisualNetwork

__all__ = [
    "LABEL_NAMES",
    "MODALITIES",
    "SPEECH_PRESETS",
    "ChannelMaxPool",
    "EmotionModel",
    "FoldTime",
    "FrameConv2D",
    "LongConv1D",
    "ModelNotFoundError",
    "FusedBatchNormalization",
    "FusedLSTM",
    "HeadConfig",
    "LevelConfig",
    "PeepholeLSTMCell",
    "SpeechConfig",
    "SpeechNetwork",
    "UnfoldTime",
    "VisualConfig",
    "VisualNetwork",
    "build_model",
    "fold_batch_norm",
    "load_model",
    "resolve_model_path",
    "set_gradient_dtype",
]
