"""Corpus conversion as an Apache Beam pipeline (``writer.convert_corpus(runner="beam")``).

One element per recording, converted by the code the local converter runs
(``conversion.convert_safely``); each split's recordings, frames and label statistics
and the corpus' face figures are Beam combiners over the reports
(``corpus_totals``), every shard is joined by a worker of its own, and one last step
writes ``metadata.json`` with the local converter's function. Imported only when Beam
runs (the ``beam`` extra).
"""

from __future__ import annotations

import json

import apache_beam as beam

from tfrecords_tools import conversion, corpus_job, corpus_totals, schema, storage
from tfrecords_tools.conversion import ConversionError

__all__ = ["convert_with_beam"]

_FAILURES_FILE = "failures.json"


class _Combine(beam.CombineFn):
    """A ``corpus_totals`` combiner as a Beam ``CombineFn``."""

    def __init__(self, totals):
        self.totals = totals

    def create_accumulator(self):
        return self.totals.create()

    def add_input(self, accumulator, item):
        return self.totals.add(accumulator, item)

    def merge_accumulators(self, accumulators):
        return self.totals.merge(accumulators)

    def extract_output(self, accumulator):
        return self.totals.extract(accumulator)


def _convert(recording, job):
    return conversion.convert_safely(recording, job.part_path[recording.id], job.options)


def _shard_jobs(split_and_totals, options):
    split, totals = split_and_totals
    frames = totals["recordings"]
    for index, (filename, group) in enumerate(corpus_job.shard_plan(options, split, frames)):
        yield split, index, filename, group, frames


def _write_shard(shard, job):
    split, index, filename, group, frames = shard
    return split, (index, corpus_job.write_shard(job, filename, group, frames))


def _finish(_, job, **side):
    """The last step: ``metadata.json`` (or, with ``on_error="fail"`` and a failure,
    ``failures.json`` for the driver to report) from the combined figures (``side``: the
    side inputs ``reports``, ``failures``, ``splits``, ``shards`` and ``faces``)."""
    failures = side["failures"]
    if failures and job.options.on_error == "fail":
        with storage.open_file(storage.join(job.staging, _FAILURES_FILE), "w") as stream:
            json.dump([failures[r.id] for r in job.recordings if r.id in failures], stream)
        return
    shards = side["shards"]
    splits = {
        split: corpus_job.split_entry(split, totals, [entry for _, entry in sorted(shards[split])])
        for split, totals in side["splits"].items()
    }
    corpus_job.write_metadata(job, splits, side["reports"], failures, side["faces"])


def convert_with_beam(job, pipeline_options):
    """Runs the pipeline of a ``corpus_job.ConversionJob`` with the checked
    ``pipeline_options``; returns the metadata.

    Its workers write into the job's staging directory, so they must share the file
    system with the driver: one machine with the DirectRunner, or a cluster's shared
    storage (docs/scaling.md). Raises ``ConversionError`` naming the first failed
    recording (in corpus order) when ``options.on_error`` is ``"fail"``.
    """
    storage.makedirs(job.parts_dir)
    split_of = {r.id: r.split for r in job.recordings}
    with beam.Pipeline(options=pipeline_options) as pipeline:
        results = (
            pipeline
            | "recordings" >> beam.Create(job.recordings)
            | "convert" >> beam.Map(_convert, job)
        )
        reports = (
            results
            | "converted" >> beam.Filter(lambda result: result[2] is None)
            | "id and report" >> beam.Map(lambda result: (result[0], result[1]))
        )
        failures = (
            results
            | "failed" >> beam.Filter(lambda result: result[2] is not None)
            | "id and message" >> beam.Map(lambda result: (result[0], result[2]))
        )
        splits = (
            reports
            | "by split" >> beam.Map(lambda item: (split_of[item[0]], item))
            | "split totals" >> beam.CombinePerKey(_Combine(corpus_totals.SplitTotals(job.order)))
        )
        shards = (
            splits
            | "shard plan" >> beam.FlatMap(_shard_jobs, job.options)
            | "spread shards" >> beam.Reshuffle()
            | "join parts" >> beam.Map(_write_shard, job)
            | "shards of a split" >> beam.GroupByKey()
        )
        faces = (
            reports
            | "reports" >> beam.Values()
            | "face totals" >> beam.CombineGlobally(_Combine(corpus_totals.FaceTotals()))
        )
        _ = (
            pipeline
            | "one metadata" >> beam.Create([None])
            | "metadata"
            >> beam.Map(
                _finish,
                job,
                reports=beam.pvalue.AsDict(reports),
                failures=beam.pvalue.AsDict(failures),
                splits=beam.pvalue.AsDict(splits),
                shards=beam.pvalue.AsDict(shards),
                faces=beam.pvalue.AsSingleton(faces),
            )
        )
    failures_path = storage.join(job.staging, _FAILURES_FILE)
    if storage.exists(failures_path):
        with storage.open_file(failures_path) as stream:
            raise ConversionError(json.load(stream)[0])
    with storage.open_file(storage.join(job.staging, schema.METADATA_FILE)) as stream:
        return json.load(stream)
