"""e2e_emotion: end-to-end multimodal continuous emotion recognition.

A TensorFlow 2 / Keras 3 implementation of Tzirakis, Trigeorgis, Nicolaou, Schuller
and Zafeiriou, "End-to-End Multimodal Emotion Recognition using Deep Neural Networks",
IEEE JSTSP 11(8), 2017.
"""

__version__ = "0.1.0"

__all__ = ["EmotionModel", "build_model", "load_model", "__version__"]


def __getattr__(name):
    # The models (and TensorFlow) load on first use: `e2e_emotion.config` and
    # `e2e_emotion.settings` stay light, so scripts parse their flags without TensorFlow.
    if name in ("EmotionModel", "build_model", "load_model"):
        from e2e_emotion import models

        return getattr(models, name)
    raise AttributeError(f"module 'e2e_emotion' has no attribute {name!r}")
