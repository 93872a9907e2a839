"""Converting the twins to ``.tflite`` files (builtin ops only) with a JSON report."""

from __future__ import annotations

import json
import os
import time

import tensorflow as tf

from e2e_emotion.export.tflite.base import (
    DEFAULT_CHECK_SEED,
    FLOAT32_TOLERANCE,
    KINDS,
    REPORT_NAME,
    VARIANTS,
    TFLiteExportError,
    tflite_ops,
)
from e2e_emotion.export.tflite.parity import check_on_records, check_parity, read_check_split
from e2e_emotion.export.tflite.twins import check_streamable, sequence_function, stream_function
from e2e_emotion.files import atomic_path


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


def file_name(kind, variant):
    """``{kind}_{variant}.tflite``, e.g. ``stream_int8.tflite``."""
    return f"{kind}_{variant}.tflite"


def load_keras_model(path):
    """A trained model directory (best/model.keras) or a ``.keras`` file -> EmotionModel
    as prediction runs it (``fold_batch_norm``: float32, the ResNet's BatchNorm folded)."""
    from e2e_emotion.models import (
        ModelNotFoundError,
        fold_batch_norm,
        load_model,
        resolve_model_path,
    )

    try:
        return fold_batch_norm(load_model(resolve_model_path(path)))
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
    check_records=None,
    check_split="dev",
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
        check_records: also score every file and the Keras model on the labelled
            recordings of ``check_split`` of this record directory (``check_on_records``:
            the accuracy cost of float16 / int8 on held-out recordings).
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
        check_streamable(model)
    log = log or (lambda message: None)
    held_out = read_check_split(check_records, check_split) if check_records else None
    try:
        os.makedirs(output_dir, exist_ok=True)
    except OSError as error:
        raise TFLiteExportError(
            f"--output_dir={output_dir}: cannot be written ({error.strerror or error})"
        ) from None
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
            if held_out is not None:
                entry["records_check"] = check_on_records(model, path, held_out)
                entry["records_check"]["split"] = check_split
                log(f"  {check_split} split: {_records_line(entry['records_check'])}")
            report["files"].append(entry)
    _write_report(output_dir, report)
    return report


def _records_line(figures):
    return (
        f"CCC Keras {_pair(figures['ccc_keras'])}, TFLite {_pair(figures['ccc_tflite'])} "
        f"(arousal/valence, {figures['recordings']} recordings, {figures['frames']} frames; "
        f"max abs diff {figures['max_abs_diff']:.3g})"
    )


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
    try:
        with atomic_path(path, suffix=suffix) as temporary, open(temporary, "wb") as handle:
            handle.write(content)
    except OSError as error:  # a full disk, say: the file keeps its old content or none
        raise TFLiteExportError(f"{path}: cannot be written ({error.strerror or error})") from None


def _write_report(output_dir, report):
    text = json.dumps(report, indent=2, default=lambda value: list(value)) + "\n"
    _write_atomically(os.path.join(output_dir, REPORT_NAME), text.encode())
