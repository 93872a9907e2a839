"""TFLite export with builtin ops only: fixed-length sequence and streaming step models.

A Keras 3 ``LSTM`` over a dynamic time axis lowers to TensorList ops, which the TFLite
builtins do not have (they would need Select TF ops). So instead of converting the
trained ``EmotionModel`` itself, two twins are traced from it, reading the **same
variables** (nothing is copied or retrained):

* ``sequence``: inputs ``audio [1, T, 640]`` and/or ``video [1, T, 96, 96, 3]``, output
  ``predictions [1, T, 2]``; the feature networks run over the window and the LSTM
  recursion is unrolled over the static ``T`` steps, starting from a zero state. It is
  the Keras model on a window of ``T`` frames (as in evaluation).
* ``stream``: one 40 ms frame, ``audio [1, 640]`` and/or ``video [1, 96, 96, 3]``, plus
  ``h_1, c_1, ..., h_N, c_N [1, units]`` (the state of every LSTM layer), returns
  ``predictions [1, 2]`` and ``new_h_1, new_c_1, ...``. Feed the new state back with the
  next frame (zeros at the start): the outputs over a whole recording equal the Keras
  model on the whole recording, for a stream of any length.

Convolution layers with ``method="fft"`` (long FFT convolutions) are traced with their
``"direct"`` method (same weights): TFLite has no builtin inverse FFT.

The LSTM cell is written out with matmul / sigmoid / tanh / split (standard Keras cells,
gates ordered i, f, g, o, with their configured activations; peephole cells with cell
clipping, as ``PeepholeLSTMCell``).

The ``paper`` speech preset convolves the *continuous* waveform of the whole sequence
with non-causal SAME-padded kernels (1x80, then 1x4000 at 8 kHz: each frame's features
depend on about 6 frames of future audio, and the zero padding sits at the two ends of
the sequence). A frame-by-frame step model cannot reproduce that exactly, so ``stream``
is refused for it (``TFLiteExportError``); its ``sequence`` model converts (the direct
convolutions are TFLite ``CONV_2D``). The ``reference`` preset and the ResNet are
per-frame and stream exactly.

Variants: ``float32``; ``float16`` (weights stored as float16, ``Optimize.DEFAULT`` with
``supported_types=[tf.float16]``); ``int8`` (dynamic-range quantisation: int8 weights,
float activations, ``Optimize.DEFAULT`` alone). The converter is restricted to
``TFLITE_BUILTINS``, and the op list of every file is checked again for Flex ops.

A ``.tflite`` file describes itself through its ``serving_default`` signature (input
names and shapes): ``TFLiteModel`` infers the kind (``h_1`` inputs -> stream), the
modality (``audio`` / ``video`` inputs) and the window length (``T``) from it, so a file
needs no sidecar. ``convert`` also writes ``tflite_export.json`` beside the files (source
model, config, sizes, op lists and parity figures) for people.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import statistics
import time

import numpy as np
import tensorflow as tf

from e2e_emotion.files import atomic_path
from e2e_emotion.frames import check_frames
from e2e_emotion.models.recurrent import PeepholeLSTMCell
from e2e_emotion.timing import timed_runs
from tfrecords_tools import schema

KINDS = ("sequence", "stream")
VARIANTS = ("float32", "float16", "int8")
SIGNATURE_KEY = "serving_default"
REPORT_NAME = "tflite_export.json"
FLOAT32_TOLERANCE = 1e-4
DEFAULT_CHECK_SEED = 20170419  # synthetic data from a seed no corpus uses by default

__all__ = [
    "DEFAULT_CHECK_SEED",
    "FLOAT32_TOLERANCE",
    "KINDS",
    "REPORT_NAME",
    "VARIANTS",
    "TFLiteExportError",
    "TFLiteModel",
    "benchmark",
    "check_parity",
    "convert",
    "convert_to_tflite",
    "file_name",
    "format_benchmark",
    "held_out_inputs",
    "load_keras_model",
    "sequence_function",
    "stream_function",
    "tflite_ops",
]


class TFLiteExportError(ValueError):
    """The model or the request cannot be exported (message says why and what to do)."""


# ---------------------------------------------------------------------------- twins


@dataclasses.dataclass
class _LSTMWeights:
    """One ``temporal_lstm_k`` layer: variables of the trained model, and its cell math."""

    name: str
    units: int
    kernel: tf.Variable  # [features, 4 units], gates i, f, g, o
    recurrent_kernel: tf.Variable  # [units, 4 units]
    bias: tf.Variable | None  # [4 units]
    peepholes: tf.Variable | None = None  # [3, units] (i, f, o)
    cell_clip: float | None = None
    activation: object = tf.tanh
    recurrent_activation: object = tf.sigmoid

    def project(self, x):
        """Input part of the gates for all steps at once: ``[..., F] -> [..., 4 units]``."""
        z = tf.matmul(x, self.kernel)
        return z if self.bias is None else z + self.bias

    def step(self, projected, h, c):
        """One step from the projected input ``[1, 4 units]``: ``(h, c) -> (h', c')``."""
        z = projected + tf.matmul(h, self.recurrent_kernel)
        z_i, z_f, z_g, z_o = tf.split(z, 4, axis=-1)
        if self.peepholes is None:
            i = self.recurrent_activation(z_i)
            f = self.recurrent_activation(z_f)
            c_new = f * c + i * self.activation(z_g)
            o = self.recurrent_activation(z_o)
            return o * self.activation(c_new), c_new
        i = tf.sigmoid(z_i + self.peepholes[0] * c)
        f = tf.sigmoid(z_f + self.peepholes[1] * c)
        c_new = f * c + i * tf.tanh(z_g)
        if self.cell_clip is not None:
            c_new = tf.clip_by_value(c_new, -self.cell_clip, self.cell_clip)
        o = tf.sigmoid(z_o + self.peepholes[2] * c_new)
        return o * tf.tanh(c_new), c_new


def _lstm_weights(model):
    """The recurrent head of an ``EmotionModel`` as ``_LSTMWeights``, bottom layer first."""
    found = []
    index = 1
    while True:
        try:
            layer = model.get_layer(f"temporal_lstm_{index}")
        except ValueError:
            break
        cell = layer.cell
        if getattr(layer, "go_backwards", False) or getattr(layer, "stateful", False):
            raise TFLiteExportError(f"{layer.name}: backward or stateful LSTMs are not exported")
        if isinstance(cell, PeepholeLSTMCell):
            found.append(
                _LSTMWeights(
                    layer.name,
                    cell.units,
                    cell.kernel,
                    cell.recurrent_kernel,
                    cell.bias,
                    peepholes=cell.peepholes,
                    cell_clip=cell.cell_clip,
                )
            )
        elif hasattr(cell, "recurrent_kernel") and hasattr(cell, "recurrent_activation"):
            found.append(
                _LSTMWeights(
                    layer.name,
                    cell.units,
                    cell.kernel,
                    cell.recurrent_kernel,
                    cell.bias if cell.use_bias else None,
                    activation=cell.activation,
                    recurrent_activation=cell.recurrent_activation,
                )
            )
        else:
            raise TFLiteExportError(f"{layer.name}: unsupported recurrent cell {type(cell)}")
        index += 1
    if not found:
        raise TFLiteExportError("the model has no temporal_lstm_1 layer (not an EmotionModel?)")
    return found


def _modality(model):
    modality = getattr(model, "modality", None)
    if modality not in ("audio", "visual", "multimodal"):
        raise TFLiteExportError(f"not an EmotionModel (modality {modality!r})")
    return modality


def _frame_specs(model):
    """``{name: per-frame shape}`` of the model's inputs, e.g. ``{"audio": (640,)}``."""
    specs = {}
    modality = _modality(model)
    if modality in ("audio", "multimodal"):
        specs["audio"] = (model.speech_network.frame_length,)
    if modality in ("visual", "multimodal"):
        size = model.visual_network.image_size
        specs["video"] = (size, size, 3)
    return specs


def _features(model, inputs):
    """``{"audio": [1, T, 640], "video": [1, T, S, S, 3]} -> [1, T, F]`` (inference mode)."""
    features = []
    if "audio" in inputs:
        features.append(model.speech_network(inputs["audio"], training=False))
    if "video" in inputs:
        features.append(model.visual_network(inputs["video"], training=False))
    return features[0] if len(features) == 1 else tf.concat(features, axis=-1)


@contextlib.contextmanager
def _direct_convolutions(model):
    """Traces FFT convolutions (``method="fft"`` layers) as direct ones, then restores.

    TFLite has no inverse FFT among its builtin ops; both methods share the weights.
    """
    switched = []
    for network in (getattr(model, "speech_network", None), getattr(model, "visual_network", None)):
        for layer in network.layers if network is not None else ():
            if getattr(layer, "method", None) == "fft":
                layer.method = "direct"
                switched.append(layer)
    try:
        yield
    finally:
        for layer in switched:
            layer.method = "fft"


def _trace(model, function, specs):
    with _direct_convolutions(model):
        traced = tf.function(function, input_signature=[specs], autograph=False)
        return traced.get_concrete_function()


def sequence_function(model, sequence_length):
    """Concrete function of the fixed-length twin: windows of ``sequence_length`` frames.

    Inputs ``audio [1, T, 640]`` / ``video [1, T, S, S, 3]``; output
    ``{"predictions": [1, T, 2]}``. Reads the variables of ``model``.
    """
    if isinstance(sequence_length, bool) or not isinstance(sequence_length, int):
        raise TFLiteExportError(f"sequence_length must be an integer, got {sequence_length!r}")
    if sequence_length < 1:
        raise TFLiteExportError(f"sequence_length must be >= 1, got {sequence_length}")
    lstms = _lstm_weights(model)
    dense = model.get_layer("predictions")
    specs = {
        name: tf.TensorSpec([1, sequence_length, *shape], tf.float32, name=name)
        for name, shape in _frame_specs(model).items()
    }

    def forward(inputs):
        x = _features(model, inputs)[0]  # [T, F]
        for lstm in lstms:
            projected = lstm.project(x)
            h = c = tf.zeros([1, lstm.units])
            outputs = []
            for t in range(sequence_length):  # unrolled: static T, no TensorList ops
                h, c = lstm.step(projected[t : t + 1], h, c)
                outputs.append(h)
            x = tf.concat(outputs, axis=0)
        return {"predictions": dense(x[tf.newaxis])}

    return _trace(model, forward, specs)


def _check_streamable(model):
    speech = getattr(model, "speech_network", None)
    if speech is not None and speech.preset == "paper":
        raise TFLiteExportError(
            "the 'paper' speech preset convolves the continuous waveform across frames "
            "(non-causal SAME 1x80 and 1x4000 kernels: each frame's features depend on about "
            "6 frames of future audio and on where the sequence ends), so a one-frame step "
            "model cannot reproduce it; export kind 'sequence' instead, or train with "
            "speech_preset='reference' (per-frame convolutions) for streaming."
        )


def stream_function(model):
    """Concrete function of the streaming step twin: one 40 ms frame plus LSTM states.

    Inputs ``audio [1, 640]`` / ``video [1, S, S, 3]`` and ``h_k, c_k [1, units]`` for
    every LSTM layer ``k``; outputs ``predictions [1, 2]`` and ``new_h_k, new_c_k``.

    Raises:
        TFLiteExportError: the ``paper`` speech preset (not frame-local).
    """
    _check_streamable(model)
    lstms = _lstm_weights(model)
    dense = model.get_layer("predictions")
    specs = {
        name: tf.TensorSpec([1, *shape], tf.float32, name=name)
        for name, shape in _frame_specs(model).items()
    }
    for index, lstm in enumerate(lstms, start=1):
        for part in ("h", "c"):
            name = f"{part}_{index}"
            specs[name] = tf.TensorSpec([1, lstm.units], tf.float32, name=name)

    def step(inputs):
        frames = {key: inputs[key][:, tf.newaxis] for key in ("audio", "video") if key in inputs}
        x = _features(model, frames)[:, 0]  # [1, F]
        outputs = {}
        for index, lstm in enumerate(lstms, start=1):
            x, c = lstm.step(lstm.project(x), inputs[f"h_{index}"], inputs[f"c_{index}"])
            outputs[f"new_h_{index}"] = x
            outputs[f"new_c_{index}"] = c
        outputs["predictions"] = dense(x)
        return outputs

    return _trace(model, step, specs)


# ---------------------------------------------------------------------------- conversion


def convert_to_tflite(concrete_function, model, variant="float32"):
    """Converts a concrete function with TFLite builtin ops only; returns the flatbuffer.

    Raises:
        TFLiteExportError: unknown variant, an op with no builtin, or Flex ops in the result.
    """
    if variant not in VARIANTS:
        raise TFLiteExportError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    # The converter freezes the variables it finds in the trackable object; Keras 3
    # variables must be handed over as their tf.Variable, else they stay uninitialised
    # TFLite resource variables (VAR_HANDLE / READ_VARIABLE ops).
    module = tf.Module()
    module.variables_read = [getattr(v, "value", v) for v in model.weights]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete_function], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        content = converter.convert()
    except Exception as error:  # the converter raises ConverterError and others
        lines = [line.strip() for line in str(error).splitlines() if "error" in line.lower()]
        detail = "; ".join(lines[:3]) or str(error).strip().splitlines()[0]
        raise TFLiteExportError(
            f"conversion with TFLite builtin ops only failed ({variant}): {detail}"
        ) from error
    flex = sorted(op for op in tflite_ops(content) if op.startswith("Flex") or op == "CUSTOM")
    if flex:
        raise TFLiteExportError(f"the {variant} model needs non-builtin ops: {flex}")
    return content


def _interpreter(model_path=None, model_content=None, num_threads=None):
    from ai_edge_litert.interpreter import Interpreter

    return Interpreter(model_path=model_path, model_content=model_content, num_threads=num_threads)


def tflite_ops(content_or_path):
    """Sorted names of the ops in a ``.tflite`` (bytes or path), e.g. ``["CONV_2D", ...]``."""
    if isinstance(content_or_path, bytes | bytearray):
        interpreter = _interpreter(model_content=bytes(content_or_path))
    else:
        interpreter = _interpreter(model_path=os.fspath(content_or_path))
    return sorted({op["op_name"] for op in interpreter._get_ops_details()})


def file_name(kind, variant):
    """``{kind}_{variant}.tflite``, e.g. ``stream_int8.tflite``."""
    return f"{kind}_{variant}.tflite"


def load_keras_model(path):
    """A trained model directory (best/model.keras) or a ``.keras`` file -> EmotionModel."""
    from e2e_emotion.models import ModelNotFoundError, load_model, resolve_model_path

    try:
        return load_model(resolve_model_path(path))
    except ModelNotFoundError as error:
        raise TFLiteExportError(str(error)) from None


def convert(
    model,
    output_dir,
    kinds=KINDS,
    variants=VARIANTS,
    sequence_length=150,
    check=False,
    check_seed=DEFAULT_CHECK_SEED,
    source=None,
    log=None,
):
    """Writes ``{kind}_{variant}.tflite`` for every kind and variant, and a JSON report.

    Args:
        model: an ``EmotionModel``, or the path of a model directory / ``.keras`` file.
        output_dir: created if needed.
        kinds: ``"sequence"`` and/or ``"stream"``.
        variants: ``"float32"``, ``"float16"``, ``"int8"``.
        sequence_length: ``T`` of the sequence model (frames of 40 ms).
        check: compare every file with the Keras model on synthetic held-out data
            (``check_parity``); a float32 file off by more than ``FLOAT32_TOLERANCE``
            raises.
        check_seed: seed of that synthetic recording.
        source: name of the model in the report (default: the path, if one was given).
        log: optional ``print``-like callable for progress lines.

    Returns:
        The report (also written to ``output_dir/tflite_export.json``): ``{"files": [...]}``
        with kind, variant, path, size, op names and (with ``check``) parity figures.

    Raises:
        TFLiteExportError: bad arguments, ``stream`` for the ``paper`` preset, conversion
            failure, or a float32 parity failure.
    """
    if isinstance(model, str | os.PathLike):
        source = source or os.fspath(model)
        model = load_keras_model(model)
    kinds, variants = list(kinds), list(variants)
    for kind in kinds:
        if kind not in KINDS:
            raise TFLiteExportError(f"unknown kind {kind!r}; expected one of {KINDS}")
    for variant in variants:
        if variant not in VARIANTS:
            raise TFLiteExportError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    if not kinds or not variants:
        raise TFLiteExportError("give at least one kind and one variant")
    if "stream" in kinds:
        _check_streamable(model)
    log = log or (lambda message: None)
    os.makedirs(output_dir, exist_ok=True)
    report = {
        "source": source,
        "model_config": model.get_config(),
        "modality": model.modality,
        "sequence_length": sequence_length if "sequence" in kinds else None,
        "files": [],
    }
    for kind in kinds:
        if kind == "sequence":
            function = sequence_function(model, sequence_length)
        else:
            function = stream_function(model)
        for variant in variants:
            started = time.perf_counter()
            content = convert_to_tflite(function, model, variant)
            path = os.path.join(output_dir, file_name(kind, variant))
            _write_atomically(path, content)
            entry = {
                "file": os.path.basename(path),
                "kind": kind,
                "variant": variant,
                "size_mb": round(len(content) / 2**20, 3),
                "ops": tflite_ops(content),
                "convert_seconds": round(time.perf_counter() - started, 2),
            }
            log(f"wrote {path} ({entry['size_mb']} MB, {entry['convert_seconds']} s)")
            if check:
                entry["parity"] = check_parity(model, path, seed=check_seed)
                log(f"  {_parity_line(entry['parity'])}")
                if variant == "float32" and entry["parity"]["max_abs_diff"] > FLOAT32_TOLERANCE:
                    report["files"].append(entry)
                    _write_report(output_dir, report)
                    raise TFLiteExportError(
                        f"{path}: max abs difference to Keras "
                        f"{entry['parity']['max_abs_diff']:.3g} > {FLOAT32_TOLERANCE}"
                    )
            report["files"].append(entry)
    _write_report(output_dir, report)
    return report


def _parity_line(parity):
    return (
        f"max abs diff {parity['max_abs_diff']:.3g}, CCC diff {parity['ccc_diff']:.3g} "
        f"(Keras CCC {_pair(parity['ccc_keras'])}, TFLite CCC {_pair(parity['ccc_tflite'])}, "
        f"{parity['frames']} frames, Keras output std {parity['keras_output_std']:.3g})"
    )


def _pair(values):
    return "/".join(f"{value:.4f}" for value in values.values())


def _write_atomically(path, content):
    suffix = os.path.splitext(path)[1]
    with atomic_path(path, suffix=suffix) as temporary, open(temporary, "wb") as handle:
        handle.write(content)


def _write_report(output_dir, report):
    text = json.dumps(report, indent=2, default=lambda value: list(value)) + "\n"
    _write_atomically(os.path.join(output_dir, REPORT_NAME), text.encode())


# ---------------------------------------------------------------------------- running


class TFLiteModel:
    """A ``.tflite`` written by ``convert``, run with the LiteRT interpreter.

    Attributes (read from the file's signature): ``kind`` (``"sequence"`` / ``"stream"``),
    ``modality``, ``sequence_length`` (``T``, None for stream), ``frame_shapes``
    (``{"audio": (640,), ...}``), ``state_shapes`` (``{"h_1": (1, units), ...}``).
    """

    def __init__(self, path, num_threads=None):
        self.path = os.fspath(path)
        try:
            self.interpreter = _interpreter(model_path=self.path, num_threads=num_threads)
        except (ValueError, RuntimeError) as error:
            detail = str(error).strip().splitlines()[0] if str(error).strip() else error
            raise TFLiteExportError(f"{self.path}: not a readable .tflite ({detail})") from None
        signatures = self.interpreter.get_signature_list()
        if SIGNATURE_KEY not in signatures:
            raise TFLiteExportError(f"{self.path}: no {SIGNATURE_KEY!r} signature")
        self.runner = self.interpreter.get_signature_runner(SIGNATURE_KEY)
        details = self.runner.get_input_details()
        shapes = {name: tuple(int(d) for d in detail["shape"]) for name, detail in details.items()}
        media = [name for name in ("audio", "video") if name in shapes]
        if not media:
            raise TFLiteExportError(f"{self.path}: no 'audio' or 'video' input")
        self.modality = {1: {"audio": "audio", "video": "visual"}[media[0]], 2: "multimodal"}[
            len(media)
        ]
        self.state_shapes = {name: shapes[name] for name in sorted(shapes) if name not in media}
        if self.state_shapes:
            self.kind = "stream"
            self.sequence_length = None
            self.frame_shapes = {name: shapes[name][1:] for name in media}
        else:
            self.kind = "sequence"
            self.sequence_length = shapes[media[0]][1]
            self.frame_shapes = {name: shapes[name][2:] for name in media}

    def predict(self, inputs, reset_every=None):
        """Arousal and valence for every frame of a recording.

        Args:
            inputs: ``{"audio": [n, 640], "video": [n, S, S, 3]}`` float32 (video in
                [0, 1]; uint8 video is divided by 255).
            reset_every: frames between LSTM state resets. A sequence model always works
                in windows of its ``T`` frames (the last one zero-padded); a stream model
                carries its state over the whole recording unless this is given.

        Returns:
            float32 ``[n, 2]``.
        """
        frames = _check_inputs(inputs, self.frame_shapes, self.path)
        count = len(next(iter(frames.values())))
        out = np.zeros((count, 2), np.float32)
        if self.kind == "sequence":
            window = self.sequence_length
            for start in range(0, count, window):
                chunk = {
                    k: _padded(_as_float(v[start : start + window]), window)
                    for k, v in frames.items()
                }
                valid = min(window, count - start)
                result = self.runner(**{k: v[np.newaxis] for k, v in chunk.items()})
                out[start : start + valid] = result["predictions"][0, :valid]
            return out
        state = self.zero_state()
        for index in range(count):
            if reset_every and index % reset_every == 0:
                state = self.zero_state()
            result = self.runner(
                **{k: _as_float(v[index : index + 1]) for k, v in frames.items()}, **state
            )
            state = {name: result[f"new_{name}"] for name in self.state_shapes}
            out[index] = result["predictions"][0]
        return out

    def zero_state(self):
        """``{"h_1": zeros [1, units], "c_1": ..., ...}``: the state at the start."""
        return {name: np.zeros(shape, np.float32) for name, shape in self.state_shapes.items()}


def _as_float(values):
    if values.dtype == np.uint8:
        return values.astype(np.float32) / np.float32(255.0)
    return np.asarray(values, np.float32)


def _padded(values, length):
    if len(values) == length:
        return values
    padding = np.zeros((length - len(values), *values.shape[1:]), values.dtype)
    return np.concatenate([values, padding])


def _check_inputs(inputs, frame_shapes, what):
    try:
        return check_frames(inputs, frame_shapes, what)
    except ValueError as error:
        raise TFLiteExportError(str(error)) from None


# ---------------------------------------------------------------------------- parity


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
    from e2e_emotion.evaluation.scores import ccc

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
    names = schema.LABEL_NAMES
    ccc_keras = {n: ccc(keras_out[:, i], labels[:, i]) for i, n in enumerate(names)}
    ccc_tflite = {n: ccc(tflite_out[:, i], labels[:, i]) for i, n in enumerate(names)}
    return {
        "frames": int(num_frames),
        "max_abs_diff": float(np.max(np.abs(keras_out - tflite_out))),
        "ccc_keras": ccc_keras,
        "ccc_tflite": ccc_tflite,
        "ccc_diff": float(max(abs(ccc_keras[n] - ccc_tflite[n]) for n in names)),
        "keras_output_std": float(np.std(keras_out)),
    }


# ---------------------------------------------------------------------------- benchmark


def _tflite_paths(paths):
    found = []
    for path in paths:
        path = os.fspath(path)
        if os.path.isdir(path):
            found += sorted(
                os.path.join(path, name) for name in os.listdir(path) if name.endswith(".tflite")
            )
        elif os.path.isfile(path):
            found.append(path)
        else:
            raise TFLiteExportError(f"{path}: no such file or directory")
    if not found:
        raise TFLiteExportError(f"no .tflite files in {', '.join(map(str, paths))}")
    return found


def benchmark(paths, repeats=50, warmup=5, num_threads=1, seed=0):
    """Latency per 40 ms frame of ``.tflite`` files with the LiteRT interpreter.

    A stream file is timed per step (one frame, state fed back); a sequence file per
    window of ``T`` frames, divided by ``T``. The median of ``repeats`` runs after
    ``warmup`` runs, on random inputs.

    Args:
        paths: ``.tflite`` files and/or directories holding them.

    Returns:
        A list of rows: ``file, kind, modality, variant, size_mb, frames_per_run,
        ms_per_frame, real_time_factor`` (``ms_per_frame / 40``; below 1 is real time).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for path in _tflite_paths(paths):
        lite = TFLiteModel(path, num_threads=num_threads)
        if lite.kind == "sequence":
            frames = lite.sequence_length
            feed = {k: _random(rng, k, (1, frames, *s)) for k, s in lite.frame_shapes.items()}
        else:
            frames = 1
            feed = {k: _random(rng, k, (1, *s)) for k, s in lite.frame_shapes.items()}
        state = lite.zero_state()

        def run(lite=lite, feed=feed, state=state):
            result = lite.runner(**feed, **state)
            if lite.kind == "stream":  # feed the new LSTM state back, as when streaming
                state.update({name: result[f"new_{name}"] for name in lite.state_shapes})

        times = timed_runs(run, repeats, warmup)
        ms = 1000 * statistics.median(times) / frames
        name = os.path.basename(path)
        variant = next((v for v in VARIANTS if name.endswith(f"_{v}.tflite")), "?")
        rows.append(
            {
                "file": path,
                "kind": lite.kind,
                "modality": lite.modality,
                "variant": variant,
                "size_mb": round(os.path.getsize(path) / 2**20, 3),
                "frames_per_run": frames,
                "ms_per_frame": round(ms, 4),
                "real_time_factor": round(ms / 40.0, 4),
            }
        )
    return rows


def _random(rng, name, shape):
    if name == "video":
        return rng.uniform(0, 1, shape).astype(np.float32)
    return rng.normal(0, 0.1, shape).astype(np.float32)


def format_benchmark(rows):
    """The rows of ``benchmark`` as a text table."""
    header = ("file", "kind", "modality", "variant", "MB", "ms/frame", "x real time")
    lines = [header]
    for row in rows:
        lines.append(
            (
                os.path.join(*os.path.normpath(row["file"]).split(os.sep)[-2:]),
                row["kind"],
                row["modality"],
                row["variant"],
                f"{row['size_mb']:.2f}",
                f"{row['ms_per_frame']:.3f}",
                f"{row['real_time_factor']:.4f}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) for line in lines
    )
