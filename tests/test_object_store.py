"""A corpus on an object store, converted into records on an object store, as a cluster's
workers (Dataflow's) need: TensorFlow's in-memory ``ram://`` file system stands in for
``gs://`` (the same ``tf.io.gfile`` calls, no network)."""

import os
import uuid

import numpy as np
import pytest
import tensorflow as tf
from conftest import assert_same_records

from e2e_emotion.data import SequenceConfig, training_dataset
from tfrecords_tools import corpora, output_paths, records, storage, writer

PNG = writer.ConversionOptions(name="t", image_format="png", face_mode="detect", num_shards=2)


def ram(name):
    """A fresh ``ram://`` folder: the file system lives as long as the process."""
    return f"ram://{uuid.uuid4().hex}/{name}"


def upload(local_dir, url):
    for folder, _, names in os.walk(local_dir):
        target = storage.join(url, os.path.relpath(folder, local_dir)).rstrip("/.")
        tf.io.gfile.makedirs(target)
        for name in names:
            tf.io.gfile.copy(os.path.join(folder, name), f"{target}/{name}")


def manifest_on_store(avec_corpus):
    """The corpus uploaded and listed by a manifest beside it, paths relative to it."""
    store = ram("corpus")
    upload(avec_corpus, store)
    lines = ["recording_id,split,audio_path,video_path,label_path"]
    for r in corpora.read_avec2016(avec_corpus):
        audio, video = (os.path.relpath(p, avec_corpus) for p in (r.audio_path, r.video_path))
        labels = f"ratings_gold_standard/{{dimension}}/{r.id}.arff" if r.labels else ""
        lines.append(f"{r.id},{r.split},{audio},{video},{labels}")
    with tf.io.gfile.GFile(f"{store}/manifest.csv", "w") as stream:
        stream.write("\n".join(lines) + "\n")
    return store


def comparable(metadata):
    """The metadata without what differs by run (time, flags, seconds) or by where the
    media were read from (their paths)."""
    kept = {k: v for k, v in metadata.items() if k not in ("created", "tool_arguments")}
    kept["recordings"] = {
        rid: {k: v for k, v in report.items() if k not in ("seconds", "audio_path", "video_path")}
        for rid, report in metadata["recordings"].items()
    }
    return kept


@pytest.mark.parametrize("runner", ["local", "beam"])
def test_conversion_from_and_to_an_object_store_equals_the_local_one(avec_corpus, tmp_path, runner):
    if runner == "beam":
        pytest.importorskip("apache_beam")
    recordings = corpora.read_avec2016(avec_corpus)
    local = writer.convert_corpus(recordings, tmp_path / "local", PNG, progress=False)
    store = manifest_on_store(avec_corpus)
    listed = corpora.read_manifest(f"{store}/manifest.csv")
    assert listed[0].video_path.startswith(store) and listed[0].labels is not None
    out = ram("records")
    # The in-process DirectRunner: ram:// is one process's memory.
    remote = writer.convert_corpus(listed, out, PNG, progress=False, runner=runner, beam_args=[])
    assert comparable(remote) == comparable(local)
    assert remote["recordings"][listed[0].id]["video_path"] == listed[0].video_path
    assert sorted(storage.listdir(out)) == sorted(os.listdir(tmp_path / "local"))
    assert comparable(records.load_metadata(out)) == comparable(local)
    assert assert_same_records(local, str(tmp_path / "local"), out) >= 3
    # The training input pipeline reads them where they are.
    config = SequenceConfig(sequence_length=10, batch_size=2, seed=3)
    ours, theirs = (
        next(iter(training_dataset(directory, "train", "multimodal", config)))
        for directory in (str(tmp_path / "local"), out)
    )
    for key in ("audio", "video"):
        np.testing.assert_array_equal(ours[0][key].numpy(), theirs[0][key].numpy())
    np.testing.assert_array_equal(ours[1].numpy(), theirs[1].numpy())
    # Staged beside the output and removed: only the output is left in its folder.
    assert storage.listdir(storage.dirname(out)) == ["records"]
    # Written again only with overwrite; the new output replaces the old one whole.
    with pytest.raises(writer.ConversionError, match="not empty; pass --overwrite"):
        writer.convert_corpus(listed, out, PNG, progress=False)
    again = writer.convert_corpus(listed[:2], out, PNG, progress=False, overwrite=True)
    shards = [s["file"] for info in again["splits"].values() for s in info["shards"]]
    assert list(again["splits"]) == ["train"] and len(again["recordings"]) == 2
    assert sorted(storage.listdir(out)) == sorted(shards + ["metadata.json"])
    assert comparable(records.load_metadata(out)) == comparable(again)


def test_a_failed_conversion_leaves_nothing_on_the_store(avec_corpus):
    store = manifest_on_store(avec_corpus)
    listed = corpora.read_manifest(f"{store}/manifest.csv")
    broken = f"{store}/broken.mp4"
    with tf.io.gfile.GFile(broken, "wb") as stream:
        stream.write(b"not a video at all" * 100)
    listed[1] = corpora.Recording(
        listed[1].id, listed[1].split, listed[1].audio_path, broken, listed[1].labels
    )
    out = ram("records")
    with pytest.raises(writer.ConversionError, match=r"broken\.mp4: unreadable or corrupt"):
        writer.convert_corpus(listed, out, PNG, progress=False)
    assert not storage.exists(out)
    assert storage.listdir(storage.dirname(out)) == []  # no staging left


def test_an_output_without_metadata_is_refused_as_incomplete(tmp_path):
    out = ram("records")
    tf.io.gfile.makedirs(out)
    with tf.io.gfile.GFile(f"{out}/t-train.tfrecord-00000-of-00001", "wb") as stream:
        stream.write(b"")
    with pytest.raises(records.RecordsError, match="no metadata.json .* did not finish"):
        records.load_metadata(out)
    with pytest.raises(
        writer.ConversionError, match="records without metadata.json: an incomplete output"
    ):
        writer._check_output(out, overwrite=False)


def test_a_store_tensorflow_cannot_reach_is_named():
    problem = output_paths.output_path_problem("s3://bucket/records")
    assert problem.startswith("s3://bucket/records: TensorFlow has no file system for s3://")
    assert output_paths.output_path_problem(ram("records")) is None
    with pytest.raises(corpora.CorpusError, match="cannot read manifest s3://b/m.csv"):
        corpora.read_manifest("s3://b/m.csv")
    with pytest.raises(records.RecordsError, match="s3://b/r: TensorFlow has no file system"):
        records.load_metadata("s3://b/r")
