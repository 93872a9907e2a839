"""What every part of the TFLite export shares: names, tolerances, the error, the interpreter."""

from __future__ import annotations

import os

KINDS = ("sequence", "stream")
VARIANTS = ("float32", "float16", "int8")
SIGNATURE_KEY = "serving_default"
REPORT_NAME = "tflite_export.json"
FLOAT32_TOLERANCE = 1e-4
DEFAULT_CHECK_SEED = 20170419  # synthetic data from a seed no corpus uses by default


class TFLiteExportError(ValueError):
    """The model or the request cannot be exported (message says why and what to do)."""


def make_interpreter(model_path=None, model_content=None, num_threads=None):
    """A LiteRT interpreter for a `.tflite` file or its bytes."""
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=model_path, model_content=model_content, num_threads=num_threads)


def tflite_ops(content_or_path):
    """Sorted names of the ops in a ``.tflite`` (bytes or path), e.g. ``["CONV_2D", ...]``."""
    if isinstance(content_or_path, bytes | bytearray):
        interpreter = make_interpreter(model_content=bytes(content_or_path))
    else:
        interpreter = make_interpreter(model_path=os.fspath(content_or_path))
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})
