"""Deployment: SavedModel for TensorFlow Serving, TFLite for edge devices."""

from e2e_emotion.export.saved_model import (
    ExportError,
    benchmark_saved_model,
    export_saved_model,
)
from e2e_emotion.export.tflite import TFLiteExportError, TFLiteModel, check_parity, convert

__all__ = [
    "ExportError",
    "TFLiteExportError",
    "TFLiteModel",
    "benchmark_saved_model",
    "check_parity",
    "convert",
    "export_saved_model",
]
