#!/usr/bin/env python
"""Local against Apache Beam: corpus conversion (frames/s) and batch prediction (files/s).

    python bin/benchmark_beam.py --corpus=data/synthetic --model=runs/quickstart/audio_model

Converts the corpus (AVEC 2016 layout) with the local process pool and with Beam's
DirectRunner (`--beam_pipeline_options`, by default two worker processes), then, with
`--model`, predicts every media file of the corpus from a manifest both ways. Each is run
`--repeats` times into a fresh directory; the median is printed (frames/s, files/s and
Beam over local). Needs the beam extra.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import json
import shlex
import statistics
import sys
import tempfile
import time

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("corpus", None, "Corpus in the AVEC 2016 layout.")
flags.DEFINE_string("model", None, "Optional trained model for the batch prediction part.")
flags.DEFINE_integer("processes", 2, "Local converter's processes.", lower_bound=1)
flags.DEFINE_string(
    "beam_pipeline_options",
    "--direct_running_mode=multi_processing --direct_num_workers=2",
    "Beam's options for both parts.",
)
flags.DEFINE_integer("repeats", 3, "Runs of each (the median is printed).", lower_bound=1)
flags.DEFINE_string("json", None, "Optional JSON file for the figures.")
flags.mark_flags_as_required(["corpus"])


def _median_seconds(function, repeats):
    seconds = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as work:
            started = time.perf_counter()
            result = function(work)
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def main(argv):
    logging.set_verbosity(logging.WARNING)
    import logging as std_logging

    std_logging.getLogger("apache_beam").setLevel(std_logging.WARNING)
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from tfrecords_tools import corpora, writer

    beam_args = shlex.split(FLAGS.beam_pipeline_options)
    try:
        recordings = corpora.read_avec2016(FLAGS.corpus)
    except (OSError, ValueError) as error:
        sys.exit(f"error: --corpus={FLAGS.corpus}: {error}")
    options = writer.ConversionOptions(name="bench", processes=FLAGS.processes)
    figures = {"recordings": len(recordings), "beam_pipeline_options": beam_args}

    def convert(runner):
        def run(work):
            return writer.convert_corpus(
                recordings,
                os.path.join(work, "out"),
                options,
                progress=False,
                runner=runner,
                beam_args=beam_args,
            )

        return run

    for runner in ("local", "beam"):
        seconds, metadata = _median_seconds(convert(runner), FLAGS.repeats)
        frames = sum(split["num_frames"] for split in metadata["splits"].values())
        figures[f"convert_{runner}"] = {"seconds": round(seconds, 2), "frames": frames}
        figures[f"convert_{runner}"]["frames_per_second"] = round(frames / seconds, 1)
        rate = frames / seconds
        print(f"conversion, {runner}: {frames} frames in {seconds:.2f} s, {rate:.1f} frames/s")
    ratio = (
        figures["convert_beam"]["frames_per_second"] / figures["convert_local"]["frames_per_second"]
    )
    print(f"conversion, beam / local: {ratio:.2f}x")
    figures["convert_ratio"] = round(ratio, 3)

    if FLAGS.model:
        from e2e_emotion import batch

        # Each recording as its WAV and its MP4 (the corpus keeps them apart).
        lines = [
            f"{os.path.join(FLAGS.corpus, 'recordings_audio', r.id + '.wav')},{r.video_path}"
            for r in recordings
        ]
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as manifest:
            manifest.write("\n".join(lines) + "\n")
        for runner in ("local", "beam"):

            def run(work, runner=runner):
                return batch.predict_manifest(
                    manifest.name, FLAGS.model, work, runner=runner, beam_args=beam_args
                )

            seconds, summary = _median_seconds(run, FLAGS.repeats)
            if summary["failed"]:
                sys.exit(f"error: {summary['failed']} file(s) failed, see {summary['failures']}")
            files = summary["done"]
            figures[f"predict_{runner}"] = {
                "seconds": round(seconds, 2),
                "files": files,
                "files_per_second": round(files / seconds, 3),
            }
            rate = files / seconds
            print(
                f"batch prediction, {runner}: {files} files in {seconds:.2f} s, {rate:.3f} files/s"
            )
        os.remove(manifest.name)
    if FLAGS.json:
        with open(FLAGS.json, "w") as stream:
            json.dump(figures, stream, indent=2)


if __name__ == "__main__":
    app.run(main)
