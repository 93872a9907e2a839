"""e2e_emotion: end-to-end multimodal continuous emotion recognition.

A TensorFlow 2 / Keras 3 implementation of Tzirakis, Trigeorgis, Nicolaou, Schuller
and Zafeiriou, "End-to-End Multimodal Emotion Recognition using Deep Neural Networks",
IEEE JSTSP 11(8), 2017.
"""

import os as _os
import platform as _platform

# TensorFlow turns its oneDNN kernels on by itself only on x86 CPUs with AVX-512 VNNI or
# BF16 or AMX; on the others they are off although the models train faster with them
# (the ResNet by about 2.5x on an AVX2 CPU: docs/performance.md#onednn). Read once, when
# TensorFlow is first imported: importing this package first turns them on, and a
# TF_ENABLE_ONEDNN_OPTS of the user's (0 to turn them off) is kept.
if _platform.machine().lower() in ("x86_64", "amd64"):
    _os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"

__all__ = ["EmotionModel", "build_model", "fold_batch_norm", "load_model", "__version__"]


def __getattr__(name):
    # The models (and TensorFlow) load on first use: `e2e_emotion.config` and
    # `e2e_emotion.settings` stay light, so scripts parse their flags without TensorFlow.
    if name in ("EmotionModel", "build_model", "fold_batch_norm", "load_model"):
        from e2e_emotion import models

        return getattr(models, name)
    raise AttributeError(f"module 'e2e_emotion' has no attribute {name!r}")
