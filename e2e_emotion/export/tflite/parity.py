"""A ``.tflite`` against the Keras model it came from: on a synthetic held-out recording,
or on the labelled recordings of a split of records (``check_on_records``)."""

from __future__ import annotations

import numpy as np

from e2e_emotion.export.tflite.base import DEFAULT_CHECK_SEED, TFLiteExportError
from e2e_emotion.export.tflite.runtime import TFLiteModel
from tfrecords_tools import schema


def held_out_inputs(model_or_modality, num_frames, seed=DEFAULT_CHECK_SEED, image_size=96):
    """A synthetic recording the model has not seen: ``(inputs, labels)``.

    The speech and face signals of ``tfrecords_tools.synthetic`` (whose labels can be
    learned from them): ``{"audio": [n, 640], "video": [n, S, S, 3]}`` float32 and
    labels ``[n, 2]``.
    """
    from tfrecords_tools import synthetic

    modality = getattr(model_or_modality, "modality", model_or_modality)
    if hasattr(model_or_modality, "visual_network") and model_or_modality.visual_network:
        image_size = model_or_modality.visual_network.image_size
    labels = synthetic.synthetic_labels(num_frames, seed)
    inputs = {}
    if modality in ("audio", "multimodal"):
        audio = synthetic.synthetic_audio(labels[:, 0], seed=seed)
        length = schema.FRAME_LENGTH
        inputs["audio"] = audio[: num_frames * length].reshape(num_frames, length)
    if modality in ("visual", "multimodal"):
        frames = synthetic.synthetic_frames(labels[:, 1], labels[:, 0], size=image_size, seed=seed)
        inputs["video"] = frames[:num_frames].astype(np.float32) / np.float32(255.0)
    return inputs, labels


def check_parity(model, tflite_path, num_frames=None, seed=DEFAULT_CHECK_SEED):
    """Compares a ``.tflite`` with the Keras model on a synthetic held-out recording.

    A sequence file is compared with Keras on the same windows of ``T`` frames (two
    windows by default); a stream file runs frame by frame over the whole recording
    (100 frames by default) and is compared with Keras on the whole recording as one
    sequence.

    Returns:
        ``{"frames", "max_abs_diff", "ccc_keras": {"arousal", "valence"}, "ccc_tflite":
        {...}, "ccc_diff", "keras_output_std"}``: CCCs against the synthetic labels;
        ``ccc_diff`` is the largest absolute difference between the two models' CCCs;
        ``keras_output_std`` gives the scale the differences compare with.
    """

    lite = TFLiteModel(tflite_path)
    if lite.modality != model.modality:
        raise TFLiteExportError(
            f"{tflite_path}: modality {lite.modality!r}, Keras model {model.modality!r}"
        )
    if lite.kind == "sequence":
        window = lite.sequence_length
        num_frames = num_frames or 2 * window
        num_frames = -(-num_frames // window) * window  # whole windows
    else:
        window = num_frames = num_frames or 100
    inputs, labels = held_out_inputs(model, num_frames, seed)
    tflite_out = lite.predict(inputs)
    batched = {k: v.reshape(-1, window, *v.shape[1:]) for k, v in inputs.items()}
    keras_out = np.asarray(model(batched, training=False)).reshape(num_frames, 2)
    return {
        "frames": int(num_frames),
        **_compare(keras_out, tflite_out, labels),
        "keras_output_std": float(np.std(keras_out)),
    }


def _compare(keras_out, tflite_out, labels):
    """Largest absolute difference, and each model's CCC per dimension against labels."""
    from e2e_emotion.evaluation.scores import ccc

    names = schema.LABEL_NAMES
    ccc_keras = {n: ccc(keras_out[:, i], labels[:, i]) for i, n in enumerate(names)}
    ccc_tflite = {n: ccc(tflite_out[:, i], labels[:, i]) for i, n in enumerate(names)}
    return {
        "max_abs_diff": float(np.max(np.abs(keras_out - tflite_out))),
        "ccc_keras": ccc_keras,
        "ccc_tflite": ccc_tflite,
        "ccc_diff": float(max(abs(ccc_keras[n] - ccc_tflite[n]) for n in names)),
    }


def read_check_split(records, split):
    """The labelled recordings of one split of a record directory, for ``check_on_records``.

    Returns ``{rid: {"audio": [n, 640], "video": [n, S, S, 3] uint8, "labels": [n, 2]}}``
    (the streams the records hold). Raises ``TFLiteExportError`` naming the directory and
    split when the split is missing or unlabelled.
    """
    from tfrecords_tools.records import RecordsError, read_split

    try:
        recordings = read_split(records, split)
    except (RecordsError, OSError) as error:
        raise TFLiteExportError(f"--check_records: {error}") from None
    data = {}
    for rid, stacked in recordings.items():
        missing = [name for name in schema.LABEL_NAMES if name not in stacked]
        if missing:
            raise TFLiteExportError(
                f"--check_records: recording {rid!r} of split {split!r} in {records} has no "
                f"{'/'.join(missing)} labels; give a labelled split (--check_split)"
            )
        entry = {name: stacked[name] for name in schema.STREAMS if name in stacked}
        entry["labels"] = np.stack([stacked[name] for name in schema.LABEL_NAMES], axis=1)
        data[rid] = entry
    return data


def check_on_records(model, tflite_path, recordings):
    """A ``.tflite`` and its Keras model on held-out recordings with their labels.

    A stream file carries its state over each whole recording and is compared with the
    Keras model on the whole recording; a sequence file with Keras on the same windows.
    CCCs are over all frames of all recordings (as the evaluation's "overall" row).

    Args:
        recordings: ``read_check_split(...)``.

    Returns:
        ``{"recordings", "frames", "max_abs_diff", "ccc_keras": {...}, "ccc_tflite":
        {...}, "ccc_diff"}``.
    """
    from e2e_emotion.models.inference import predict_recording

    lite = TFLiteModel(tflite_path)
    window = lite.sequence_length if lite.kind == "sequence" else None
    keras_out, lite_out, labels = [], [], []
    for rid, entry in recordings.items():
        missing = [name for name in lite.frame_shapes if name not in entry]
        if missing:
            raise TFLiteExportError(
                f"--check_records: recording {rid!r} has no {'/'.join(missing)} stream, "
                f"which the {lite.modality} model needs"
            )
        inputs = {name: entry[name] for name in lite.frame_shapes}
        lite_out.append(lite.predict(inputs))
        keras_out.append(predict_recording(model, inputs, window))
        labels.append(entry["labels"])
    keras_out, lite_out, labels = (np.concatenate(x) for x in (keras_out, lite_out, labels))
    return {
        "recordings": len(recordings),
        "frames": len(labels),
        **_compare(keras_out, lite_out, labels),
    }
