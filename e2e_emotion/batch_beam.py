"""The Apache Beam side of ``e2e_emotion.batch``, imported only for ``runner="beam"``
(the local runner works without the beam extra)."""

from __future__ import annotations

import apache_beam as beam

from e2e_emotion import batch


class PredictDoFn(beam.DoFn):
    """The model opened once per worker, then one recording per element: ``(file,
    reason)``, the reason empty when it was predicted."""

    def __init__(self, model_path, output_dir, face_mode, sequence_length, video_offset):
        self.model_path = model_path
        self.output_dir = output_dir
        self.face_mode = face_mode
        self.sequence_length = sequence_length
        self.video_offset = video_offset
        self.predictor = None

    def setup(self):
        from e2e_emotion import predict

        self.predictor = predict.load_predictor(self.model_path, self.sequence_length)

    def process(self, entry):
        reason = batch.predict_entry(
            self.predictor, entry, self.output_dir, self.face_mode, self.video_offset
        )
        yield batch.shown(entry), reason


def _write_failures(results, output_dir):
    batch.write_failures(output_dir, [(name, reason) for name, reason in results if reason])


def run(entries, model_path, output_dir, face_mode, sequence_length, video_offset, options):
    """Predicts ``entries`` (manifest entries) into ``output_dir`` with the pipeline
    ``options``; the last step writes ``failures.csv`` (``batch.read_failures``)."""
    step = PredictDoFn(model_path, output_dir, face_mode, sequence_length, video_offset)
    with beam.Pipeline(options=options) as pipeline:
        _ = (
            pipeline
            | "manifest" >> beam.Create(entries)
            | "predict" >> beam.ParDo(step)
            | "all results" >> beam.combiners.ToList()
            | "failures" >> beam.Map(_write_failures, output_dir)
        )
