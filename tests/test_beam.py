"""Corpus conversion as an Apache Beam pipeline (DirectRunner): the local converter's
records and metadata, a failure named, nothing half-written."""

import json
import os
import sys

import pytest
from conftest import assert_same_records

from tfrecords_tools import corpora, writer

PNG = writer.ConversionOptions(name="t", image_format="png", face_mode="detect", num_shards=2)

TWO_WORKERS = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]


def _comparable(metadata):
    """The metadata without what differs from run to run (time, tool flags, seconds)."""
    kept = {k: v for k, v in metadata.items() if k not in ("created", "tool_arguments")}
    kept["recordings"] = {
        rid: {k: v for k, v in report.items() if k != "seconds"}
        for rid, report in metadata["recordings"].items()
    }
    return kept


def test_beam_conversion_equals_the_local_one(avec_corpus, tmp_path):
    recordings = corpora.read_avec2016(avec_corpus)
    local = writer.convert_corpus(recordings, tmp_path / "local", PNG, progress=False)
    beam = writer.convert_corpus(
        recordings, tmp_path / "beam", PNG, progress=False, runner="beam", beam_args=TWO_WORKERS
    )
    assert _comparable(beam) == _comparable(local)
    with open(tmp_path / "beam" / "metadata.json") as stream:
        assert _comparable(json.load(stream)) == _comparable(local)
    names = sorted(os.listdir(tmp_path / "local"))
    assert sorted(os.listdir(tmp_path / "beam")) == names
    # Every shard holds the same records, decoded, in the same order.
    assert assert_same_records(local, str(tmp_path / "local"), str(tmp_path / "beam")) >= 3
    assert set(os.listdir(tmp_path)) == {"local", "beam"}  # no staging left


def test_a_bad_recording_fails_the_pipeline_by_name_and_writes_nothing(avec_corpus, tmp_path):
    recordings = corpora.read_avec2016(avec_corpus)
    broken = recordings[1]
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(b"not a video at all" * 100)
    recordings[1] = type(broken)(**{**broken.__dict__, "video_path": str(bad_video)})
    with pytest.raises(writer.ConversionError, match=r"broken\.mp4"):
        writer.convert_corpus(
            recordings, tmp_path / "out", PNG, progress=False, runner="beam", beam_args=[]
        )
    assert sorted(os.listdir(tmp_path)) == ["broken.mp4"]  # no output, no staging
    # With on_error=skip the others are converted and the bad one listed.
    skip = writer.ConversionOptions(**{**PNG.__dict__, "on_error": "skip"})
    metadata = writer.convert_corpus(
        recordings, tmp_path / "out", skip, progress=False, runner="beam", beam_args=[]
    )
    assert list(metadata["skipped"]) == [broken.id]
    assert "broken.mp4" in metadata["skipped"][broken.id]
    assert broken.id not in metadata["recordings"]


def test_the_beam_runner_without_apache_beam_names_the_install(avec_corpus, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    with pytest.raises(writer.ConversionError, match=r"pip install -e '\.\[cpu,beam\]'"):
        writer.convert_corpus(
            corpora.read_avec2016(avec_corpus), tmp_path / "out", PNG, progress=False, runner="beam"
        )
    assert not os.path.exists(tmp_path / "out")


def test_a_misspelt_beam_option_is_refused_before_any_work(avec_corpus, tmp_path):
    # Beam itself would drop it with a log line and run one worker.
    with pytest.raises(
        writer.ConversionError,
        match=r"--beam_pipeline_options: Beam does not know --direct_num_worker \(it would",
    ):
        writer.convert_corpus(
            corpora.read_avec2016(avec_corpus),
            tmp_path / "out",
            PNG,
            progress=False,
            runner="beam",
            beam_args=["--direct_num_worker=2"],
        )
    assert os.listdir(tmp_path) == []
