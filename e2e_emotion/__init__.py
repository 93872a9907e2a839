"""e2e_emotion: end-to-end multimodal continuous emotion recognition.

A TensorFlow 2 / Keras 3 implementation of Tzirakis, Trigeorgis, Nicolaou, Schuller
and Zafeiriou, "End-to-End Multimodal Emotion Recognition using Deep Neural Networks",
IEEE JSTSP 11(8), 2017.
"""

__version__ = "0.1.0"

try:
    import tensorflow  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without TensorFlow
    raise ImportError(
        "e2e_emotion needs TensorFlow 2.21. Install the project with an extra that picks "
        "the build: `pip install -e '.[cpu]'` (CPU) or `pip install -e '.[gpu]'` (CUDA)."
    ) from error

from e2e_emotion.models import EmotionModel, build_model, load_model  # noqa: E402

__all__ = ["EmotionModel", "build_model", "load_model", "__version__"]
