"""tf.data pipelines: TFRecord shards -> sequences of consecutive frames.

Reads the shards and ``metadata.json`` written by ``tfrecords_tools`` (the schema there is
the contract) and yields, per element::

    ({"audio": [S, 640] float32, "audio_level": [2] float32,
      "video": [S, 96, 96, 3] float32 in [0, 1]},
     labels [S, 2] float32 (arousal, valence), weights [S] float32 (1 real, 0 padding))

batched to ``[B, S, ...]``, with only the inputs a model needs (``audio_level`` beside
``audio``: the recording's state of ``e2e_emotion.models.level`` at the window's first
frame, which a model normalising the level reads and others ignore). Sequences never cross
recordings: each shard holds whole recordings in order, frames are grouped back into
recordings (``group_by_window`` with each recording's exact length from the metadata),
and windows are cut inside a recording.

* Training windows start every ``hop`` frames; a final window is added at the end of a
  recording so its tail is seen too, and a recording shorter than S gives one padded
  window. They are shuffled (seeded), repeated, augmented and batched.
* Evaluation windows tile each recording without overlap (``hop = S``); the last one is
  padded and masked, so every frame is scored exactly once. Order is deterministic and
  each element also carries ``{"recording": index, "start": first frame}``.
"""

from __future__ import annotations

import re

import tensorflow as tf

from e2e_emotion.data import cameras, rooms
from e2e_emotion.modalities import LEVEL_INPUT, MODALITY_INPUTS
from tfrecords_tools import schema, storage
from tfrecords_tools.records import RecordsError, load_metadata, split_of

AUTOTUNE = tf.data.AUTOTUNE


class DataError(ValueError):
    """The records do not fit the request; the message names the directory or split."""


class RecordSource:
    """A directory of shards and its metadata, checked once.

    Args:
        directory: output of ``bin/make_tfrecords.py``.
    """

    def __init__(self, directory):
        try:
            self.metadata = load_metadata(directory)
        except RecordsError as error:
            raise DataError(str(error)) from None
        self.directory = directory
        self.modalities = tuple(self.metadata["modalities"])

    def split_info(self, split):
        """The metadata entry of ``split``; ``"train+dev"`` (names joined by ``+``) is the
        union of those splits' recordings, so a final model can be refitted on every
        labelled recording (``--train_split=train+dev``).

        Raises:
            DataError: a named split is missing or named twice, naming it.
        """
        splits = self.metadata["splits"]
        if split in splits:
            return splits[split]
        names = split.split("+") if isinstance(split, str) else [split]
        if len(names) < 2:
            raise DataError(f"{self.directory}: no split {split!r} (has {sorted(splits)})")
        missing = [name for name in names if name not in splits]
        if missing:
            raise DataError(
                f"{self.directory}: no split {missing[0]!r} in {split!r} (has {sorted(splits)})"
            )
        if len(set(names)) != len(names):
            raise DataError(f"{self.directory}: split {split!r} names a split twice")
        return split_of(
            self.metadata, {rid for name in names for rid in splits[name]["recordings"]}
        )

    def check(self, split, modality):
        """Raises DataError unless ``split`` exists and holds ``modality``'s inputs."""
        self.split_info(split)
        if modality not in MODALITY_INPUTS:
            raise DataError(f"unknown modality {modality!r}; expected {sorted(MODALITY_INPUTS)}")
        missing = [m for m in MODALITY_INPUTS[modality] if m not in self.modalities]
        if missing:
            raise DataError(
                f"the {modality} model needs {' and '.join(missing)}, but the records in "
                f"{self.directory} hold only {', '.join(self.modalities)}"
            )

    def labelled(self, split):
        return bool(self.split_info(split)["labelled"])

    def recordings(self, split):
        """``[(recording_id, num_frames)]`` in shard order. A split may list only some of
        its shards' recordings (a fold of ``e2e_emotion.training.folds``): only those."""
        info = self.split_info(split)
        listed = info["recordings"]
        return [
            (rid, listed[rid]) for s in info["shards"] for rid in s["recordings"] if rid in listed
        ]

    def shard_paths(self, split):
        info = self.split_info(split)
        return [storage.join(self.directory, s["file"]) for s in info["shards"]]

    def corruption_error(self, split, error):
        """A ``DataError`` for a ``tf.errors.DataLossError`` raised while reading ``split``:
        the pipeline's message names no file, so each shard is read once more to find the
        first one that fails, and the message names it, the offset and how to check."""
        for path in self.shard_paths(split):
            try:
                for _ in tf.data.TFRecordDataset(path):
                    pass
            except tf.errors.OpError as shard_error:
                found = f"{path}: {_reading_error(shard_error)}"
                break
        else:
            found = f"a shard of split {split!r} in {self.directory}: {_reading_error(error)}"
        return DataError(
            f"corrupted TFRecord data in {found}. Check every shard with `python "
            f"bin/inspect_tfrecords.py {self.directory}` and rewrite the records "
            "(bin/make_tfrecords.py --overwrite)"
        )


def _reading_error(error):
    """TensorFlow's reading error without its op and function names."""
    offset = re.search(r"corrupted record at (\d+)", error.message)
    if offset:
        return f"corrupted record at byte offset {offset.group(1)}"
    message = re.sub(r"\{\{[^}]*\}\}\s*", "", error.message)
    return message.split(" [Op:")[0].strip()


def window_starts(length, sequence_length, hop, training):
    """Start frames of the windows of a recording of ``length`` frames (Python, for tests).

    Training: every ``hop`` frames while a full window fits, plus one ending at the last
    frame; evaluation: ``0, S, 2S, ...`` (the last window may be short, then padded).
    """
    if not training:
        return list(range(0, length, sequence_length))
    if length <= sequence_length:
        return [0]
    starts = list(range(0, length - sequence_length + 1, hop))
    if starts[-1] + sequence_length < length:
        starts.append(length - sequence_length)
    return starts


def _window_starts_tf(length, sequence_length, hop, training):
    if not training:
        return tf.range(0, length, sequence_length)
    last = tf.maximum(length - sequence_length, 0)
    starts = tf.range(0, last + 1, hop)
    tail = tf.where(starts[-1] < last, [last], tf.zeros([0], tf.int32))
    return tf.concat([starts, tail], axis=0)


def _parse_raw(serialized, modalities, labelled):
    parsed = tf.io.parse_single_example(serialized, schema.feature_spec(modalities, labelled))
    frame = {"recording_id": parsed["recording_id"]}
    if "audio" in parsed:
        frame["audio"] = parsed["audio"]
    if "video" in parsed:
        frame["video"] = parsed["video"]
        frame["face"] = parsed["face"]
    if labelled:
        frame["labels"] = tf.stack([parsed[name] for name in schema.LABEL_NAMES])
    return frame


def _slice_window(recording, index, start, sequence_length, keys, power_before=None):
    """One window ``[S, ...]`` of a whole-recording element, zero-padded, with weights.

    ``power_before``: ``[n + 1]`` sums of the recording's frame powers before each frame
    (float64), for the window's ``audio_level``.
    """
    length = tf.shape(recording["recording_id"])[0]
    valid = tf.minimum(sequence_length, length - start)
    pad = sequence_length - valid
    window = {}
    for key in keys:
        part = recording[key][start : start + valid]
        paddings = [[0, pad]] + [[0, 0]] * (len(part.shape) - 1)
        window[key] = tf.pad(part, paddings)  # strings pad with b""
    window["weights"] = tf.concat([tf.ones([valid]), tf.zeros([pad])], axis=0)
    if power_before is not None:
        level = tf.stack([power_before[start], tf.cast(start, tf.float64)])
        window[LEVEL_INPUT] = tf.cast(level, tf.float32)
    window["recording"] = index
    window["start"] = start
    return window


def _decode_video(strings, image_size):
    """``[S]`` JPEG/PNG strings (b"" for padding) -> ``[S, H, W, 3]`` float32 in [0, 1]."""

    def decode(encoded):
        return tf.cond(
            tf.strings.length(encoded) > 0,
            lambda: schema.decode_image(encoded, image_size),
            lambda: tf.zeros([image_size, image_size, 3], tf.uint8),
        )

    frames = tf.map_fn(
        decode, strings, fn_output_signature=tf.TensorSpec([image_size, image_size, 3], tf.uint8)
    )
    return tf.image.convert_image_dtype(frames, tf.float32)


def augment_video(frames, seed):
    """Face augmentation on ``[S, 96, 96, 3]`` in [0, 1], per frame: random shifts of up
    to 7 pixels (mirror padding to 110x110, random 96x96 crop), brightness +-32/255,
    saturation x[0.5, 1.5].

    The authors' code resizes to 110x110 before its random crop: training then sees faces
    magnified 1.15x that inference (the plain 96x96 crop) never sees. Padding keeps the
    scale of inference and the same range of shifts. ``seed`` is a ``[2]`` int tensor
    (stateless ops: reproducible at any parallelism).
    """
    size = frames.shape[1]
    count = tf.shape(frames)[0]
    margin = (110 - size) // 2
    resized = tf.pad(frames, [[0, 0], [margin, margin], [margin, margin], [0, 0]], "SYMMETRIC")
    seeds = tf.random.experimental.stateless_split(seed, 3)

    def crop(args):
        image, frame_seed = args
        return tf.image.stateless_random_crop(image, [size, size, 3], frame_seed)

    frame_seeds = tf.random.experimental.stateless_split(seeds[0], count)
    cropped = tf.map_fn(
        crop, (resized, frame_seeds), fn_output_signature=tf.TensorSpec([size, size, 3])
    )
    delta = tf.random.stateless_uniform([count, 1, 1, 1], seeds[1], -32 / 255, 32 / 255)
    brightened = cropped + delta
    factor = tf.random.stateless_uniform([count], seeds[2], 0.5, 1.5)
    gray = tf.reduce_mean(brightened, axis=-1, keepdims=True)
    # Saturation scaling about the grey level (as adjust_saturation, without HSV round trips).
    saturated = gray + (brightened - gray) * factor[:, None, None, None]
    return tf.clip_by_value(saturated, 0.0, 1.0)


def augment_audio(audio, seed, gain_db, noise):
    """Random gain (dB) and white noise on ``[S, 640]`` audio."""
    seeds = tf.random.experimental.stateless_split(seed, 2)
    if gain_db > 0:
        gain = tf.random.stateless_uniform([], seeds[0], -gain_db, gain_db)
        audio = audio * tf.pow(10.0, gain / 20.0)
    if noise > 0:
        audio = audio + tf.random.stateless_normal(tf.shape(audio), seeds[1], stddev=noise)
    return audio


def drop_modalities(inputs, seed, video_rate, audio_rate):
    """Removes a window's whole video (black crops) with probability ``video_rate`` and,
    if the video was kept, its whole audio (silence) with probability ``audio_rate``; one
    stream always stays. ``seed``: ``[2]`` int tensor."""
    draws = tf.random.stateless_uniform([2], seed)
    dropped = dict(inputs)
    drop_video = draws[0] < video_rate
    if video_rate > 0:
        keep_video = tf.logical_not(drop_video)
        dropped["video"] = inputs["video"] * tf.cast(keep_video, inputs["video"].dtype)
    if audio_rate > 0:
        keep_audio = tf.logical_or(drop_video, draws[1] >= audio_rate)
        dropped["audio"] = inputs["audio"] * tf.cast(keep_audio, inputs["audio"].dtype)
    return dropped


def _linear_at(values, position):
    """``values [N, ...]`` linearly interpolated at float ``position [M]`` (clipped to
    ``[0, N - 1]``) along the first axis: ``[M, ...]``."""
    last = tf.shape(values)[0] - 1
    position = tf.clip_by_value(position, 0.0, tf.cast(last, tf.float32))
    below = tf.cast(tf.floor(position), tf.int32)
    above = tf.minimum(below + 1, last)
    share = position - tf.cast(below, tf.float32)
    share = tf.reshape(share, tf.concat([tf.shape(share), tf.ones_like(tf.shape(values)[1:])], 0))
    return tf.gather(values, below) * (1.0 - share) + tf.gather(values, above) * share


def speed_perturb(window, factor):
    """Resamples a raw window in time by ``factor`` (> 1: faster speech, higher pitch).

    Output sample ``i`` reads the waveform at ``i * factor`` (linear interpolation), output
    frame ``k`` takes the labels at frame ``k * factor`` (interpolated) and the video frame
    nearest to the middle of its span. A frame whose span reaches past the window's valid
    frames gets weight 0 (and silence), so no label is invented. ``window`` holds
    ``audio [S, 640]``, ``weights [S]`` and optionally ``labels [S, D]`` and ``video [S]``.
    """
    audio = window["audio"]
    frames = tf.shape(audio)[0]
    flat = tf.reshape(audio, [-1])
    resampled = _linear_at(flat, tf.cast(tf.range(tf.shape(flat)[0]), tf.float32) * factor)
    valid = tf.reduce_sum(tf.cast(window["weights"] > 0, tf.float32))
    steps = tf.cast(tf.range(frames), tf.float32)
    # Frame k spans source frames [k * factor, (k + 1) * factor).
    kept = (steps + 1.0) * factor <= valid
    warped = dict(window)
    warped["audio"] = tf.reshape(resampled, tf.shape(audio)) * tf.cast(kept[:, None], audio.dtype)
    warped["weights"] = tf.cast(kept, window["weights"].dtype)
    if "labels" in window:
        labels = window["labels"]
        mixed = _linear_at(labels, steps * factor)
        warped["labels"] = tf.where(kept[:, None], mixed, tf.zeros_like(labels))
    if "video" in window:
        middle = tf.minimum(tf.cast(tf.floor((steps + 0.5) * factor), tf.int32), frames - 1)
        warped["video"] = tf.gather(window["video"], middle)
        if "face" in window:
            warped["face"] = tf.gather(window["face"], middle)
    return warped


def _windows(source, split, modality, config, training, input_context=None):
    """Dataset of raw windows (video still encoded), deterministic order."""
    source.check(split, modality)
    labelled = source.labelled(split)
    recordings = source.recordings(split)
    ids = tf.constant([rid for rid, _ in recordings])
    lengths = tf.constant([n for _, n in recordings], tf.int64)
    index_of = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(ids, tf.range(len(recordings), dtype=tf.int64)), -1
    )
    files = source.shard_paths(split)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    pipelines = input_context.num_input_pipelines if input_context is not None else 1
    # Auto-shard by file when every input pipeline gets at least one file, else by window.
    sharded_by_file = pipelines > 1 and len(files) >= pipelines
    if sharded_by_file:
        dataset = dataset.shard(pipelines, input_context.input_pipeline_id)
    dataset = dataset.flat_map(tf.data.TFRecordDataset)
    dataset = dataset.map(
        lambda s: _parse_raw(s, source.modalities, labelled),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    # Frames of recordings the split does not list (shards shared with other folds).
    dataset = dataset.filter(lambda frame: index_of.lookup(frame["recording_id"]) >= 0)
    # Whole recordings: a group closes exactly when its recording's last frame arrives.
    dataset = dataset.group_by_window(
        key_func=lambda frame: index_of.lookup(frame["recording_id"]),
        reduce_func=lambda key, frames: frames.batch(lengths[key]).map(
            lambda recording: (key, recording)
        ),
        window_size_func=lambda key: lengths[key],
    )
    keys = [m for m in MODALITY_INPUTS[modality]] + (["labels"] if labelled else [])
    if "video" in keys:
        keys.append("face")
    hop = config.train_hop if training else config.sequence_length
    size = config.sequence_length

    def to_windows(key, recording):
        starts = _window_starts_tf(tf.shape(recording["recording_id"])[0], size, hop, training)
        power_before = None
        if "audio" in keys:
            power = tf.reduce_mean(tf.square(tf.cast(recording["audio"], tf.float64)), axis=-1)
            power_before = tf.concat([[0.0], tf.cumsum(power)], axis=0)
        return tf.data.Dataset.from_tensor_slices(starts).map(
            lambda start: _slice_window(
                recording, tf.cast(key, tf.int32), start, size, keys, power_before
            )
        )

    dataset = dataset.flat_map(to_windows)
    if pipelines > 1 and not sharded_by_file:
        dataset = dataset.shard(pipelines, input_context.input_pipeline_id)
    return dataset, labelled


def _finish(window, modality, labelled, image_size, training, config, index=None):
    """Raw window -> (inputs, labels, weights[, info]) with decoded, augmented inputs."""
    inputs = {}
    seed = None
    if training:
        seed = tf.stack([tf.cast(config.seed, tf.int64), index])
    if training and config.speed_perturb > 0 and "audio" in window:
        factor = tf.random.stateless_uniform(
            [], seed + 3, 1.0 - config.speed_perturb, 1.0 + config.speed_perturb
        )
        window = speed_perturb(window, factor)
    if "audio" in window and modality in ("audio", "multimodal"):
        audio = window["audio"]
        if training and (config.reverb_prob or config.band_limit_prob or config.noise_prob):
            audio = tf.ensure_shape(audio, [config.sequence_length, schema.FRAME_LENGTH])
            audio = rooms.apply_conditions(
                audio, seed + 5, config.reverb_prob, config.band_limit_prob, config.noise_prob
            )
        if training and (config.audio_gain_db > 0 or config.audio_noise > 0):
            audio = augment_audio(audio, seed + 1, config.audio_gain_db, config.audio_noise)
        inputs["audio"] = audio
        inputs[LEVEL_INPUT] = window[LEVEL_INPUT]
    if "video" in window and modality in ("visual", "multimodal"):
        video = _decode_video(window["video"], image_size)
        if training and config.camera_prob > 0:
            video = cameras.apply_conditions(video, seed + 6, config.camera_prob)
        if training and config.augment_video:
            video = augment_video(video, seed + 2)
        # A frame without a face is a black crop, in training, evaluation and every
        # inference path alike; padding frames are black already.
        inputs["video"] = schema.blank_missing_faces(video, window["face"])
    if training and modality == "multimodal":
        inputs = drop_modalities(inputs, seed + 4, config.video_dropout, config.audio_dropout)
    for stream in config.remove_streams:
        if stream in inputs:
            inputs[stream] = tf.zeros_like(inputs[stream])
    weights = window["weights"]
    if labelled:
        labels = window["labels"]
    else:
        labels = tf.zeros([config.sequence_length, len(schema.LABEL_NAMES)])
    if training:
        return inputs, labels, weights
    return inputs, labels, weights, {"recording": window["recording"], "start": window["start"]}


def training_dataset(
    directory_or_source, split, modality, config, skip_batches=0, input_context=None
):
    """Infinite, shuffled, augmented batches for training.

    Args:
        directory_or_source: records directory (or a ``RecordSource``).
        split: usually ``"train"``.
        modality: ``"audio"``, ``"visual"`` or ``"multimodal"`` (selects the inputs).
        config: ``SequenceConfig``; ``batch_size`` is the GLOBAL batch.
        skip_batches: global batches already consumed (resuming at the same data position).
        input_context: from ``distribute_datasets_from_function``; batches are then
            per replica and files (or windows) are split across input pipelines.

    Yields:
        ``(inputs, labels [B, S, 2], weights [B, S])``.
    """
    source = _as_source(directory_or_source)
    source.check(split, modality)
    if not source.labelled(split):
        raise DataError(f"{source.directory}: split {split!r} has no labels to train on")
    windows, labelled = _windows(source, split, modality, config, True, input_context)
    batch = config.batch_size
    replicas_per_pipeline = 1
    if input_context is not None:
        batch = input_context.get_per_replica_batch_size(config.batch_size)
        replicas_per_pipeline = (
            input_context.num_replicas_in_sync // input_context.num_input_pipelines
        )
    windows = windows.shuffle(
        config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True
    )
    windows = windows.repeat().enumerate()
    if skip_batches:
        windows = windows.skip(skip_batches * batch * replicas_per_pipeline)
    image_size = source.metadata.get("image_size", schema.IMAGE_SIZE)
    dataset = windows.map(
        lambda index, window: _finish(window, modality, labelled, image_size, True, config, index),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    return dataset.batch(batch, drop_remainder=True).prefetch(AUTOTUNE)


def evaluation_dataset(directory_or_source, split, modality, config):
    """Deterministic batches tiling every recording: ``(inputs, labels, weights, info)``.

    ``info`` holds ``recording`` (index into ``RecordSource.recordings(split)``) and
    ``start`` (first frame of the window) so predictions can be put back in place.
    """
    source = _as_source(directory_or_source)
    windows, labelled = _windows(source, split, modality, config, False)
    image_size = source.metadata.get("image_size", schema.IMAGE_SIZE)
    dataset = windows.map(
        lambda window: _finish(window, modality, labelled, image_size, False, config),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    return dataset.batch(config.batch_size).prefetch(AUTOTUNE)


def _as_source(directory_or_source):
    if isinstance(directory_or_source, RecordSource):
        return directory_or_source
    return RecordSource(directory_or_source)
