"""TFLite export with builtin ops only: fixed-length sequence and streaming step models.

A Keras 3 ``LSTM`` over a dynamic time axis lowers to TensorList ops, which the TFLite
builtins do not have (they would need Select TF ops). So instead of converting the
trained ``EmotionModel`` itself, two twins are traced from it, reading the **same
variables** (nothing is copied or retrained):

* ``sequence``: inputs ``audio [1, T, 640]`` and/or ``video [1, T, 96, 96, 3]``, output
  ``predictions [1, T, 2]``; the feature networks run over the window and the LSTM
  recursion is unrolled over the static ``T`` steps, starting from a zero state. It is
  the Keras model on a window of ``T`` frames (as in evaluation).
* ``stream``: one 40 ms frame, ``audio [1, 640]`` and/or ``video [1, 96, 96, 3]``, plus
  ``h_1, c_1, ..., h_N, c_N [1, units]`` (the state of every LSTM layer), returns
  ``predictions [1, 2]`` and ``new_h_1, new_c_1, ...``. Feed the new state back with the
  next frame (zeros at the start): the outputs over a whole recording equal the Keras
  model on the whole recording, for a stream of any length.

Convolution layers with ``method="fft"`` (long FFT convolutions) are traced with their
``"direct"`` method (same weights): TFLite has no builtin inverse FFT.

Each unrolled step calls the layer's own cell (Keras ``LSTMCell`` or
``PeepholeLSTMCell``) in inference mode: its matmul / add / split / activations are
TFLite builtins, so the twins do not restate the cell's equations.

The ``paper`` speech preset convolves the *continuous* waveform of the whole sequence
with non-causal SAME-padded kernels (1x80, then 1x4000 at 8 kHz: each frame's features
depend on about 6 frames of future audio, and the zero padding sits at the two ends of
the sequence). A frame-by-frame step model cannot reproduce that exactly, so ``stream``
is refused for it (``TFLiteExportError``); its ``sequence`` model converts (the direct
convolutions are TFLite ``CONV_2D``). The ``reference`` preset and the ResNet are
per-frame and stream exactly.

Variants: ``float32``; ``float16`` (weights stored as float16, ``Optimize.DEFAULT`` with
``supported_types=[tf.float16]``); ``int8`` (dynamic-range quantisation: int8 weights,
float activations, ``Optimize.DEFAULT`` alone). The converter is restricted to
``TFLITE_BUILTINS``, and the op list of every file is checked again for Flex ops.

A ``.tflite`` file describes itself through its ``serving_default`` signature (input
names and shapes): ``TFLiteModel`` infers the kind (``h_1`` inputs -> stream), the
modality (``audio`` / ``video`` inputs) and the window length (``T``) from it, so a file
needs no sidecar. ``convert`` also writes ``tflite_export.json`` beside the files (source
model, config, sizes, op lists and parity figures) for people.

Modules: ``twins`` (the two traced twins), ``conversion`` (``convert``, the files and the
report), ``runtime`` (``TFLiteModel``), ``parity`` (``check_parity`` against Keras),
``latency`` (``benchmark``: latency per frame), ``base`` (names, tolerances, the error,
the interpreter). Windowed prediction and the float conversion of frames are shared with
``e2e_emotion.predict`` through ``e2e_emotion.frames``.
"""

from e2e_emotion.export.tflite.base import (
    DEFAULT_CHECK_SEED,
    FLOAT32_TOLERANCE,
    KINDS,
    REPORT_NAME,
    SIGNATURE_KEY,
    VARIANTS,
    TFLiteExportError,
    tflite_ops,
)
from e2e_emotion.export.tflite.conversion import (
    convert,
    convert_to_tflite,
    file_name,
    load_keras_model,
)
from e2e_emotion.export.tflite.latency import benchmark, format_benchmark
from e2e_emotion.export.tflite.parity import check_parity, held_out_inputs
from e2e_emotion.export.tflite.runtime import TFLiteModel
from e2e_emotion.export.tflite.twins import sequence_function, stream_function

__all__ = [
    "DEFAULT_CHECK_SEED",
    "FLOAT32_TOLERANCE",
    "KINDS",
    "REPORT_NAME",
    "SIGNATURE_KEY",
    "VARIANTS",
    "TFLiteExportError",
    "TFLiteModel",
    "benchmark",
    "check_parity",
    "convert",
    "convert_to_tflite",
    "file_name",
    "format_benchmark",
    "held_out_inputs",
    "load_keras_model",
    "sequence_function",
    "stream_function",
    "tflite_ops",
]
