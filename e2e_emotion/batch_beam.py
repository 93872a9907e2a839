"""The Apache Beam side of ``e2e_emotion.batch``, imported only for ``runner="beam"``
(the local runner works without the beam extra).

Prediction runs through Beam's ``RunInference`` with a model handler of this project's:
Beam loads the model once per worker process and shares it between the worker's threads.
A recording is a batch of its own (a whole file is already thousands of frames). The
per-recording step is the local runner's (``manifest.predict_entry``), so a recording that
cannot be read comes out with its reason, as it does locally, instead of failing the
batch; the last step writes those to ``failures.csv`` (the dead letter).
"""

from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RunInference

from e2e_emotion import manifest


class RecordingModelHandler(ModelHandler):
    """Opens a model with ``predict.load_predictor`` and predicts manifest entries (a
    media path, or ``{"audio": path, "video": path}``) into ``OUTPUT_DIR/<stem>.csv``.
    The inference of an entry is ``""``, or the reason it could not be predicted."""

    def __init__(self, model_path, output_dir, face_mode, sequence_length, video_offset):
        super().__init__()
        self.model_path = os.fspath(model_path)
        self.output_dir = os.fspath(output_dir)
        self.face_mode = face_mode
        self.sequence_length = sequence_length
        self.video_offset = video_offset

    def load_model(self):
        from e2e_emotion import predict

        return predict.load_predictor(self.model_path, self.sequence_length)

    def run_inference(self, entries, model, inference_args=None):
        for entry in entries:
            reason = manifest.predict_entry(
                model, entry, self.output_dir, self.face_mode, self.video_offset
            )
            yield PredictionResult(entry, reason)

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": 1}

    def get_metrics_namespace(self):
        return "e2e_emotion"


def _write_failures(results, output_dir):
    failures = [(manifest.shown(r.example), r.inference) for r in results if r.inference]
    manifest.write_failures(output_dir, failures)


def run(entries, model_path, output_dir, face_mode, sequence_length, video_offset, options):
    """Predicts ``entries`` (manifest entries) into ``output_dir`` with the pipeline
    ``options``; the last step writes ``failures.csv`` (``manifest.read_failures``)."""
    handler = RecordingModelHandler(
        model_path, output_dir, face_mode, sequence_length, video_offset
    )
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | "manifest" >> beam.Create(entries)
            | "predict" >> RunInference(handler)
            | "all results" >> beam.combiners.ToList()
            | "failures.csv" >> beam.Map(_write_failures, output_dir)
        )
