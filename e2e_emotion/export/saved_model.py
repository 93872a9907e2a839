"""SavedModel export for TensorFlow Serving, with explicit signatures and atomic versions.

Layout written by ``export_saved_model`` (the layout TF Serving polls)::

    EXPORT_BASE/MODEL_NAME/1/saved_model.pb, variables/, assets/config.json, assets/labels.txt
    EXPORT_BASE/MODEL_NAME/2/...

A version is written into a hidden ``.export-tmp-*`` directory beside the versions and
renamed to its integer name only once complete, so a server never loads a half-written
version (TF Serving only considers directories whose name is an integer). Temporary
directories left by a killed export are removed by the next export.

Signatures (every output is ``{"arousal": [batch, time], "valence": [batch, time]}``
float32, one value per 40 ms frame; ``time`` may be any length):

* ``serving_default`` (all models): ``audio`` ``[batch, time, 640]`` float32 and/or
  ``video`` ``[batch, time, 96, 96, 3]`` float32 in [0, 1].
* ``examples`` (all models): ``examples`` ``[batch, time]`` string, serialized
  ``tf.train.Example`` frames of the record schema (``tfrecords_tools/schema.py``), one
  sequence per row, in frame order; labels and ids are not read.
* ``wav`` (``audio`` models): ``wav`` scalar string, a 16 kHz PCM WAV file; channels are
  averaged and a trailing partial frame is dropped; outputs ``[1, time]``.
* ``stream`` (models with frame-local features: the ``reference`` speech preset and the
  visual model): one 40 ms frame per row, ``audio`` ``[batch, 640]`` and/or ``video``
  ``[batch, 96, 96, 3]``, plus the state ``h_k``, ``c_k`` ``[batch, units]`` of every LSTM
  layer ``k`` (zeros at a stream's start); outputs ``arousal``, ``valence`` ``[batch]`` and
  ``new_h_k``, ``new_c_k`` to feed back (``bin/live.py`` streams through it). A model that
  normalises the audio level (``level_norm_frames > 0``) also takes ``audio_level``
  ``[batch, 2]`` (zeros at a stream's start, never negative) and returns
  ``new_audio_level``. Frame by frame over a recording it equals ``serving_default`` on
  the whole recording.

Every sequence given to ``serving_default``, ``examples`` or ``wav`` is a recording from its
start: the LSTM state starts at zero, and so does the level normaliser's state.
* ``metadata`` (all models, no inputs): ``sample_rate``, ``frame_length``, ``image_size``,
  ``label_names``, ``modality``, ``config_json`` (also in ``assets/config.json``).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from e2e_emotion.modalities import LEVEL_INPUT
from e2e_emotion.timing import timed_runs
from tfrecords_tools import schema
from tfrecords_tools.output_paths import remove_dead_staging, staging_name

SERVING_DEFAULT = "serving_default"
EXAMPLES = "examples"
WAV = "wav"
METADATA = "metadata"
STREAM = "stream"
SIGNATURES = (SERVING_DEFAULT, EXAMPLES, WAV, STREAM, METADATA)
CONFIG_ASSET = "config.json"
LABELS_ASSET = "labels.txt"
TEMP_PREFIX = ".export-tmp-"
# Frames (batch x time) one request may hold, unless set at export: 5 minutes of one
# recording. The model's activations grow with the frames (a ResNet keeps every frame's
# feature maps), and an unchecked request of a million frames crashes the server process.
DEFAULT_MAX_FRAMES = 7500


class ExportError(ValueError):
    """The export cannot be done as asked; the message names the file or option at fault."""


# --------------------------------------------------------------------------- model


def _load(model_or_path):
    """An ``EmotionModel``, a ``.keras`` file or a model directory -> the Keras model to
    export (its BatchNorm folded: ``fold_batch_norm``)."""
    from e2e_emotion.models import fold_batch_norm

    if isinstance(model_or_path, keras.Model):
        model = model_or_path
    else:
        from e2e_emotion.models import ModelNotFoundError, load_model, resolve_model_path

        path = os.fspath(model_or_path)
        if not os.path.exists(path):
            raise ExportError(f"--model={path}: no such file or directory")
        try:
            keras_file = resolve_model_path(path)
        except ModelNotFoundError as error:
            raise ExportError(f"--model={path}: {error}") from None
        try:
            model = load_model(keras_file)
        except (ValueError, OSError, TypeError) as error:
            raise ExportError(f"--model={path}: cannot load {keras_file}: {error}") from None
    if getattr(model, "modality", None) not in ("audio", "visual", "multimodal"):
        raise ExportError(
            f"model {model.name!r} has no modality attribute: expected an e2e_emotion "
            "EmotionModel (build_model / load_model)"
        )
    return fold_batch_norm(model)


def available_signatures(model):
    """The signature keys an export of ``model`` can hold (``wav`` only for audio models).

    ``examples`` needs the record schema's frame length (640) and image size (96).
    """
    config = model.get_config()
    names = [SERVING_DEFAULT]
    if config["frame_length"] == schema.FRAME_LENGTH and config["image_size"] == schema.IMAGE_SIZE:
        names.append(EXAMPLES)
    if model.modality == "audio":
        names.append(WAV)
    speech = model.speech_network
    if speech is None or speech.preset != "paper":
        names.append(STREAM)
    names.append(METADATA)
    return tuple(names)


def export_config(model, signatures, max_frames=DEFAULT_MAX_FRAMES):
    """What ``assets/config.json`` and the ``metadata`` signature report."""
    from e2e_emotion import __version__

    config = model.get_config()
    return {
        "max_frames": int(max_frames),
        "modality": model.modality,
        "sample_rate": schema.SAMPLE_RATE,
        "frame_length": int(config["frame_length"]),
        "frame_seconds": schema.FRAME_SECONDS,
        "image_size": int(config["image_size"]),
        "label_names": list(schema.LABEL_NAMES),
        "inputs": list(model.input_names),
        "signatures": list(signatures),
        "record_schema_version": schema.SCHEMA_VERSION,
        "e2e_emotion_version": __version__,
        "model_config": config,
    }


def _function(python_function, input_signature):
    # No Python control flow on tensors here, and Keras layers are graph code already:
    # AutoGraph would only slow tracing down.
    return tf.function(python_function, input_signature=input_signature, autograph=False)


class EmotionServingModule(tf.Module):
    """A ``tf.Module`` holding the Keras model and one ``tf.function`` per signature.

    Args:
        model: an ``EmotionModel``.
        signatures: keys from ``available_signatures(model)``.
        assets_dir: an existing directory where ``config.json`` and ``labels.txt`` are
            written before ``tf.saved_model.save`` copies them into ``assets/``.
    """

    def __init__(self, model, signatures, assets_dir, max_frames=DEFAULT_MAX_FRAMES):
        super().__init__(name="emotion_serving")
        self.model = model
        self.modality = model.modality
        self.max_frames = _check_max_frames(max_frames)
        config = export_config(model, signatures, self.max_frames)
        self.frame_length = config["frame_length"]
        self.image_size = config["image_size"]
        self.config_json = json.dumps(config, sort_keys=True)
        with open(os.path.join(assets_dir, CONFIG_ASSET), "w") as f:
            f.write(json.dumps(config, indent=2, sort_keys=True) + "\n")
        with open(os.path.join(assets_dir, LABELS_ASSET), "w") as f:
            f.write("".join(f"{name}\n" for name in schema.LABEL_NAMES))
        self.config_asset = tf.saved_model.Asset(os.path.join(assets_dir, CONFIG_ASSET))
        self.labels_asset = tf.saved_model.Asset(os.path.join(assets_dir, LABELS_ASSET))

        self._signature_names = tuple(signatures)

    def _validated(self, inputs):
        """``inputs`` checked, as tensors that the model can only read after the checks ran.

        A SavedModel's runtime does not enforce the signature's shapes (a loaded signature
        or TF Serving accepts ``audio`` ``[1, 10, 320]`` and returns wrong answers), so
        every request is checked here: rank and size (``EnsureShape``, whose error states
        the expected shape), finite values (NaN/Inf are rejected, never predicted; the error
        gives the first bad ``[batch item, frame]``), video in [0, 1], and for the
        multimodal model the same ``[batch, time]`` for both streams. Each check is a
        control dependency of the tensor handed to the model: none can run after it.
        A request holds at least one sequence and at most ``max_frames`` frames in all
        (batch x time): the model's memory grows with them, and an unbounded request can
        take the server down; longer recordings go in windows (or through ``stream``).
        """
        size = self.image_size
        expected = {
            "audio": [None, None, self.frame_length],
            "video": [None, None, size, size, 3],
        }
        checked = {}
        for name, tensor in inputs.items():
            tensor = tf.ensure_shape(tensor, expected[name], name=f"{name}_shape")
            bad = tf.logical_not(tf.math.is_finite(tensor))
            data = [f"{name}: NaN or Inf in the input; first bad [batch item, frame] ="]
            checks = [
                tf.debugging.assert_positive(
                    tf.shape(tensor)[0],
                    message=f"{name}: at least one sequence is needed (batch axis is empty)",
                ),
                tf.debugging.assert_positive(
                    tf.shape(tensor)[1],
                    message=f"{name}: at least one frame is needed (time axis is empty)",
                ),
                tf.debugging.assert_less_equal(
                    tf.shape(tensor)[0] * tf.shape(tensor)[1],
                    self.max_frames,
                    message=(
                        f"{name}: more than {self.max_frames} frames (batch x time) in one "
                        "request, this export's max_frames; send the recording in windows "
                        "or frame by frame through the stream signature"
                    ),
                ),
            ]
            if name == "video":
                bad = tf.logical_or(bad, tf.logical_or(tensor < 0.0, tensor > 1.0))
                data[0] = (
                    "video: pixels must be finite float32 in [0, 1] (8-bit pixels divided "
                    "by 255); first bad [batch item, frame] ="
                )
            bad_frames = tf.reduce_any(bad, axis=list(range(2, len(expected[name]))))
            checks.append(
                tf.debugging.Assert(
                    tf.logical_not(tf.reduce_any(bad_frames)),
                    data + [tf.where(bad_frames)[:1]],
                    name=f"{name}_values",
                )
            )
            with tf.control_dependencies(checks):
                checked[name] = tf.identity(tensor, name=f"{name}_checked")
        if len(checked) == 2:
            same = tf.debugging.assert_equal(
                tf.shape(checked["audio"])[:2],
                tf.shape(checked["video"])[:2],
                message="audio and video must have the same [batch, time]",
            )
            with tf.control_dependencies([same]):
                checked = {name: tf.identity(tensor) for name, tensor in checked.items()}
        return checked

    # Model call shared by every signature.
    def _predict(self, inputs):
        outputs = self.model(self._validated(inputs), training=False)
        return {
            name: tf.identity(outputs[..., index], name=name)
            for index, name in enumerate(schema.LABEL_NAMES)
        }

    def _input_specs(self):
        specs = {}
        if self.modality in ("audio", "multimodal"):
            specs["audio"] = tf.TensorSpec([None, None, self.frame_length], tf.float32, "audio")
        if self.modality in ("visual", "multimodal"):
            size = self.image_size
            specs["video"] = tf.TensorSpec([None, None, size, size, 3], tf.float32, "video")
        return specs

    def _tensor_function(self):
        specs = self._input_specs()
        names = list(specs)

        def serve(*tensors):
            return self._predict(dict(zip(names, tensors, strict=True)))

        # Named positional parameters, so the signature's input keys are audio / video.
        if names == ["audio"]:

            def serve_audio(audio):
                return serve(audio)

            function = serve_audio
        elif names == ["video"]:

            def serve_video(video):
                return serve(video)

            function = serve_video
        else:

            def serve_audio_video(audio, video):
                return serve(audio, video)

            function = serve_audio_video
        return _function(function, list(specs.values()))

    def _examples_function(self):
        specs = self._input_specs()
        # The schema's spec, reduced to what the model reads (no ids, no labels needed).
        spec = schema.feature_spec(list(specs), labelled=False)
        spec = {name: spec[name] for name in (*specs, "face") if name in spec}
        size = self.image_size

        def decode(encoded):
            return schema.decode_image(encoded, size)

        def serve_examples(examples):
            shape = tf.shape(examples)
            parsed = tf.io.parse_example(tf.reshape(examples, [-1]), spec)
            inputs = {}
            if "audio" in parsed:
                inputs["audio"] = tf.reshape(
                    parsed["audio"], tf.concat([shape, [schema.FRAME_LENGTH]], 0)
                )
            if "video" in parsed:
                frames = tf.map_fn(
                    decode,
                    parsed["video"],
                    fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8),
                )
                frames = tf.image.convert_image_dtype(frames, tf.float32)  # / 255, as in training
                frames = schema.blank_missing_faces(frames, parsed["face"])
                inputs["video"] = tf.reshape(frames, tf.concat([shape, [size, size, 3]], 0))
            return self._predict(inputs)

        return _function(serve_examples, [tf.TensorSpec([None, None], tf.string, "examples")])

    def _wav_function(self):
        frame_length = self.frame_length

        def serve_wav(wav):
            audio, sample_rate = tf.audio.decode_wav(wav)
            rate = tf.debugging.assert_equal(
                sample_rate,
                tf.constant(schema.SAMPLE_RATE, tf.int32),
                message=(
                    f"wav: the WAV sample rate must be {schema.SAMPLE_RATE} Hz (resample the file)"
                ),
            )
            mono = tf.reduce_mean(audio, axis=1)
            frames = tf.shape(mono)[0] // frame_length
            length = tf.debugging.assert_positive(
                frames,
                message=f"wav: the WAV is shorter than one frame ({frame_length} samples)",
            )
            # The checks come first: the model never sees a WAV that failed one (without
            # these dependencies its own error could be reported instead).
            with tf.control_dependencies([rate, length]):
                mono = tf.identity(mono[: frames * frame_length])
            return self._predict({"audio": tf.reshape(mono, [1, frames, frame_length])})

        return _function(serve_wav, [tf.TensorSpec([], tf.string, "wav")])

    def _stream_function(self):
        from e2e_emotion.models.stepping import (
            head_step,
            next_level_state,
            recurrent_cells,
            stream_state_sizes,
        )

        lstms = recurrent_cells(self.model)
        frames = {name: spec.shape[2:] for name, spec in self._input_specs().items()}
        specs = [tf.TensorSpec([None, *shape], tf.float32, name) for name, shape in frames.items()]
        units = stream_state_sizes(self.model)
        states = list(units)
        specs += [tf.TensorSpec([None, units[name]], tf.float32, name) for name in states]
        names = [*frames, *states]

        def serve_stream(*tensors):
            given = dict(zip(names, tensors, strict=True))
            # The frame checks of the other signatures, on a one-frame time axis.
            checked = self._validated({name: given[name][:, tf.newaxis] for name in frames})
            batch = tf.shape(next(iter(checked.values())))[0]
            state = {}
            for name in states:
                value = tf.ensure_shape(given[name], [None, units[name]], name=f"{name}_shape")
                checks = [
                    tf.debugging.assert_equal(
                        tf.shape(value)[0],
                        batch,
                        message=f"{name}: one state row per frame row is needed",
                    ),
                    tf.debugging.assert_all_finite(value, f"{name}: NaN or Inf in the state"),
                ]
                if name == LEVEL_INPUT:
                    checks.append(
                        tf.debugging.assert_non_negative(
                            value,
                            message=f"{name}: the level state (sum of frame powers, frames "
                            "seen) cannot be negative; [0, 0] starts a stream",
                        )
                    )
                with tf.control_dependencies(checks):
                    state[name] = tf.identity(value)
            x = self.model.frame_features({**state, **checked}, training=False)[:, 0]
            predictions, new = head_step(lstms, self.model.readout, x, state)
            new.update(next_level_state(self.model, checked, state))
            outputs = {name: tf.identity(value, name=name) for name, value in new.items()}
            for index, name in enumerate(schema.LABEL_NAMES):
                outputs[name] = tf.identity(predictions[:, index], name=name)
            return outputs

        return _function(serve_stream, specs)

    def _metadata_function(self):
        values = {
            "sample_rate": tf.constant(schema.SAMPLE_RATE, tf.int32),
            "frame_length": tf.constant(self.frame_length, tf.int32),
            "image_size": tf.constant(self.image_size, tf.int32),
            "label_names": tf.constant(schema.LABEL_NAMES),
            "modality": tf.constant(self.modality),
            "config_json": tf.constant(self.config_json),
        }

        def metadata():
            return {name: tf.identity(value, name=name) for name, value in values.items()}

        return _function(metadata, [])

    def signatures(self):
        """``{key: concrete function}`` for ``tf.saved_model.save(..., signatures=...)``.

        The ``tf.function``s are not attributes of the module: as attributes they would be
        traced a second time by ``tf.saved_model.save`` (and the signatures are the API).
        """
        builders = {
            SERVING_DEFAULT: self._tensor_function,
            EXAMPLES: self._examples_function,
            WAV: self._wav_function,
            STREAM: self._stream_function,
            METADATA: self._metadata_function,
        }
        return {name: builders[name]().get_concrete_function() for name in self._signature_names}


# --------------------------------------------------------------------------- versions


def existing_versions(model_dir):
    """Sorted integer versions present in ``EXPORT_BASE/MODEL_NAME`` (empty if none)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(
        int(name)
        for name in os.listdir(model_dir)
        if name.isdigit() and os.path.isdir(os.path.join(model_dir, name))
    )


def next_version(model_dir):
    """One more than the highest existing version (1 for a new model)."""
    return (existing_versions(model_dir) or [0])[-1] + 1


def remove_stale_temporaries(model_dir):
    """Removes ``.export-tmp-PID-*`` directories of exports that are no longer running.

    Returns:
        The removed paths.
    """
    return remove_dead_staging(model_dir, TEMP_PREFIX)


def _check_name(model_name):
    if (
        not isinstance(model_name, str)
        or not model_name
        or model_name.startswith(".")
        or "/" in model_name
        or os.sep in model_name
    ):
        raise ExportError(
            f"--model_name={model_name!r}: expected a plain directory name "
            "(no '/', not starting with '.')"
        )


def _check_version(version):
    if version is None:
        return
    if isinstance(version, bool) or not isinstance(version, int | np.integer) or version < 1:
        raise ExportError(f"--version={version!r}: expected an integer >= 1")


def _check_max_frames(max_frames):
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 1:
        raise ExportError(f"--max_frames must be a positive integer, received {max_frames!r}")
    return max_frames


def export_saved_model(
    model_or_path,
    export_base,
    model_name,
    version=None,
    overwrite=False,
    signatures=None,
    max_frames=DEFAULT_MAX_FRAMES,
):
    """Exports a model as ``EXPORT_BASE/MODEL_NAME/VERSION/`` for TensorFlow Serving.

    Args:
        model_or_path: an ``EmotionModel``, a ``.keras`` file, or a model directory of
            ``bin/train.py`` (``best/model.keras``, else ``final/model.keras``).
        export_base: the base directory TF Serving is pointed at (created if needed).
        model_name: the served model's name (a subdirectory of ``export_base``).
        version: integer >= 1; default: one more than the highest existing version.
        overwrite: replace an existing ``version`` (else that is an error).
        signatures: signature keys to write (default: all of ``available_signatures``).
        max_frames: most frames (batch x time) one request may hold; above it a request
            is refused with an error naming the limit (the model's memory grows with the
            frames; ``DEFAULT_MAX_FRAMES`` is 5 minutes of one recording).

    Returns:
        The path of the new version directory.

    Raises:
        ExportError: missing model, bad name or version, existing version without
            ``overwrite``, or a signature this model cannot have.
    """
    _check_name(model_name)
    _check_version(version)
    _check_max_frames(max_frames)
    model = _load(model_or_path)
    possible = available_signatures(model)
    if signatures is None:
        signatures = possible
    else:
        signatures = list(dict.fromkeys(signatures))
        for name in signatures:
            if name not in possible:
                why = (
                    f"unknown signature; expected some of {SIGNATURES}"
                    if name not in SIGNATURES
                    else f"not available for the {model.modality} model "
                    f"(available: {', '.join(possible)})"
                )
                raise ExportError(f"--signatures={name}: {why}")
        if SERVING_DEFAULT not in signatures:
            raise ExportError(f"--signatures must include {SERVING_DEFAULT}")
        signatures = tuple(signatures)

    model_dir = os.path.join(os.fspath(export_base), model_name)
    os.makedirs(model_dir, exist_ok=True)
    remove_stale_temporaries(model_dir)
    if version is None:
        version = next_version(model_dir)
    final = os.path.join(model_dir, str(int(version)))
    if os.path.exists(final) and not overwrite:
        raise ExportError(f"{final} exists: choose another --version or pass --overwrite")

    temporary = tempfile.mkdtemp(prefix=staging_name(TEMP_PREFIX), dir=model_dir)
    try:
        assets = os.path.join(temporary, "assets_source")
        os.makedirs(assets)
        module = EmotionServingModule(model, signatures, assets, max_frames)
        staged = os.path.join(temporary, "saved_model")
        try:
            tf.saved_model.save(module, staged, signatures=module.signatures())
        except (OSError, tf.errors.OpError) as error:
            reason = getattr(error, "strerror", None) or getattr(error, "message", str(error))
            raise ExportError(
                f"{final}: the export could not be written ({reason.strip()}); nothing was "
                "left in its place"
            ) from None
        if os.path.exists(final):  # overwrite: move the old version aside, then swap
            os.rename(final, os.path.join(temporary, "replaced"))
        os.rename(staged, final)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return final


def read_export_config(path):
    """``assets/config.json`` of an exported version directory, as a dict."""
    config = os.path.join(os.fspath(path), "assets", CONFIG_ASSET)
    if not os.path.isfile(config):
        raise ExportError(f"{path}: no assets/{CONFIG_ASSET} (not an e2e_emotion export)")
    with open(config) as f:
        return json.load(f)


# --------------------------------------------------------------------------- benchmark


def _random_inputs(function, batch_size, frames, seed):
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, spec in function.structured_input_signature[1].items():
        if spec.dtype != tf.float32:
            raise ExportError(f"benchmark: input {name!r} is {spec.dtype.name}, expected float32")
        shape = [batch_size, frames, *spec.shape[2:]]
        if name == "video":
            inputs[name] = tf.constant(rng.uniform(0, 1, shape).astype(np.float32))
        else:
            inputs[name] = tf.constant(rng.normal(0, 0.3, shape).astype(np.float32))
    return inputs


def benchmark_saved_model(path, batch_size=4, frames=150, runs=10, warmup=2, seed=0):
    """Latency of the ``serving_default`` signature of an exported version.

    Loads ``path`` with ``tf.saved_model.load`` and times ``runs`` calls on random inputs
    of ``[batch_size, frames, ...]`` after ``warmup`` untimed calls.

    Returns:
        A dict: ``batch_size``, ``frames``, ``runs``, ``median_ms``, ``min_ms``,
        ``max_ms`` (per batch), ``ms_per_frame`` (median / (batch_size * frames)) and
        ``load_seconds``.
    """
    for name, value in (("batch_size", batch_size), ("frames", frames), ("runs", runs)):
        if int(value) < 1:
            raise ExportError(f"--benchmark_{name}={value}: expected >= 1")
    if int(warmup) < 0:
        raise ExportError(f"--benchmark_warmup={warmup}: expected >= 0")
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ExportError(f"{path}: no saved_model.pb (not a SavedModel version directory)")
    start = time.perf_counter()
    loaded = tf.saved_model.load(path)
    load_seconds = time.perf_counter() - start
    function = loaded.signatures[SERVING_DEFAULT]
    inputs = _random_inputs(function, batch_size, frames, seed)
    seconds = timed_runs(lambda: function(**inputs)["arousal"].numpy(), int(runs), int(warmup))
    times = [1000 * value for value in seconds]
    median = statistics.median(times)
    return {
        "batch_size": int(batch_size),
        "frames": int(frames),
        "runs": int(runs),
        "median_ms": median,
        "min_ms": min(times),
        "max_ms": max(times),
        "ms_per_frame": median / (batch_size * frames),
        "load_seconds": load_seconds,
    }


def format_benchmark(path, result):
    """One line for the benchmark result of ``benchmark_saved_model``."""
    return (
        f"{path}: serving_default, batch {result['batch_size']} x {result['frames']} frames: "
        f"median {result['median_ms']:.1f} ms per batch (min {result['min_ms']:.1f}, "
        f"max {result['max_ms']:.1f}, {result['runs']} runs), "
        f"{result['ms_per_frame']:.3f} ms per frame; load {result['load_seconds']:.2f} s"
    )


def export_command(
    model=None,
    export_base=None,
    model_name=None,
    version=None,
    overwrite=False,
    signatures=None,
    saved_model=None,
    benchmark=None,
    max_frames=DEFAULT_MAX_FRAMES,
):
    """What ``bin/export.py`` does: export and/or benchmark; returns the lines to print.

    Args:
        model, export_base, model_name, version, overwrite, signatures, max_frames: as in
            ``export_saved_model`` (all None when only benchmarking ``saved_model``).
        saved_model: an existing version directory to benchmark instead of exporting.
        benchmark: None, or ``benchmark_saved_model`` keyword arguments.
    """
    lines = []
    if saved_model is not None:
        if model is not None:
            raise ExportError("pass either --model (export) or --saved_model (benchmark only)")
        if benchmark is None:
            raise ExportError("--saved_model is only used with --benchmark")
        path = saved_model
    else:
        if model is None or export_base is None or model_name is None:
            raise ExportError("--model, --export_base and --model_name are required to export")
        path = export_saved_model(
            model, export_base, model_name, version, overwrite, signatures, max_frames
        )
        config = read_export_config(path)
        lines.append(
            f"exported the {config['modality']} model to {path} "
            f"(signatures: {', '.join(config['signatures'])}; at most {config['max_frames']} "
            "frames per request)"
        )
    if benchmark is not None:
        lines.append(format_benchmark(path, benchmark_saved_model(path, **benchmark)))
    return lines
