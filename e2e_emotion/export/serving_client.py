"""A TensorFlow Serving client for the exported emotion models (REST and gRPC).

Requests are built from a media file, the way ``tfrecords_tools`` prepares training data:

* audio: the first audio track of a WAV/FLAC/MP4, resampled to 16 kHz mono, cut in
  640-sample (40 ms) frames -> ``audio`` ``[1, time, 640]``;
* video: one frame per 40 ms (by timestamp), a 96x96 face crop each
  (``FaceCropper``, ``detect`` or ``centre``) -> ``video`` ``[1, time, 96, 96, 3]`` in [0, 1];
* ``examples`` signature: the same frames as serialized ``tf.train.Example`` records of
  the record schema (crops encoded as JPEG or PNG) -> ``examples`` ``[1, time]``;
* ``wav`` signature: the WAV file's bytes, unchanged (the server decodes them).

REST uses the TF Serving JSON API (``POST /v1/models/NAME[/versions/N]:predict``, columnar
``inputs`` or row ``instances``; bytes as ``{"b64": ...}``); gRPC uses
``PredictionService.Predict`` and ``GetModelMetadata`` from ``tensorflow-serving-api``.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import io
import json
import os
import urllib.error
import urllib.request

import numpy as np

from e2e_emotion.files import atomic_path
from e2e_emotion.modalities import MODALITIES, MODALITY_INPUTS
from tfrecords_tools import schema

SIGNATURES = ("serving_default", "wav", "examples")
PROTOCOLS = ("rest", "grpc")
REST_FORMATS = ("columnar", "row")


class ServingClientError(ValueError):
    """A request cannot be built or the server refused it; the message says which and why."""


# --------------------------------------------------------------------------- media


@dataclasses.dataclass
class MediaFrames:
    """Per-frame model inputs read from one media file.

    Attributes:
        path: the media file.
        audio: float32 ``[time, 640]`` in [-1, 1], or None.
        video: uint8 ``[time, 96, 96, 3]`` RGB face crops, or None.
    """

    path: str
    audio: np.ndarray | None = None
    video: np.ndarray | None = None

    @property
    def num_frames(self):
        return len(self.audio if self.audio is not None else self.video)


def read_media(path, modality, face_mode=schema.DEFAULT_FACE_MODE, max_frames=None):
    """Reads the frames a ``modality`` model needs from a media file, or from an audio
    file and a video file recorded apart (``path`` a dict ``{"audio": ..., "video":
    ...}``), with the reader of ``bin/predict.py``.

    For ``multimodal`` both streams are cut to the shorter one.

    Raises:
        ServingClientError: bad arguments, or a file too short for one frame.
        tfrecords_tools.media.MediaError: missing or unreadable file, no such stream.
    """
    from e2e_emotion.predict import PredictError, checked_media, read_inputs

    if modality not in MODALITIES:
        raise ServingClientError(f"--modality={modality!r}: expected one of {MODALITIES}")
    if max_frames is not None and max_frames < 1:
        raise ServingClientError(f"--max_frames={max_frames}: expected >= 1")
    try:
        path = checked_media(path)
        inputs, _ = read_inputs(
            path, MODALITY_INPUTS[modality], face_mode, schema.IMAGE_SIZE, max_frames=max_frames
        )
    except PredictError as error:
        raise ServingClientError(str(error)) from None
    shown = path.get("video") or path.get("audio") if isinstance(path, dict) else path
    return MediaFrames(shown, inputs.get("audio"), inputs.get("video"))


def tensor_inputs(frames):
    """``serving_default`` inputs: ``audio`` ``[1, T, 640]`` / ``video`` ``[1, T, 96, 96, 3]``."""
    inputs = {}
    if frames.audio is not None:
        inputs["audio"] = frames.audio[None].astype(np.float32)
    if frames.video is not None:
        inputs["video"] = (frames.video[None].astype(np.float32) / 255.0).astype(np.float32)
    return inputs


def example_inputs(frames, recording_id=None, image_format="jpeg"):
    """``examples`` signature input: ``[1, T]`` serialized ``tf.train.Example`` (object array)."""
    from tfrecords_tools import faces

    recording_id = recording_id or os.path.splitext(os.path.basename(frames.path))[0] or "media"
    serialized = []
    for index in range(frames.num_frames):
        image = None
        if frames.video is not None:
            image = faces.encode_image(frames.video[index], format=image_format)
        audio = frames.audio[index] if frames.audio is not None else None
        serialized.append(schema.encode_example(recording_id, index, audio=audio, image=image))
    array = np.empty((1, len(serialized)), dtype=object)
    array[0, :] = serialized
    return {"examples": array}


def wav_inputs(path):
    """``wav`` signature input: the file's bytes (a 16 kHz PCM WAV)."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ServingClientError(f"--media={path}: no such file")
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ServingClientError(
            f"--media={path}: the wav signature takes a WAV file (RIFF/WAVE header not found)"
        )
    return {"wav": np.array(data, dtype=object)}


def build_inputs(
    path,
    signature,
    modality=None,
    face_mode=schema.DEFAULT_FACE_MODE,
    max_frames=None,
    image_format="jpeg",
):
    """The request inputs of ``signature`` for a media file (see the module docstring)."""
    if signature not in SIGNATURES:
        raise ServingClientError(f"--signature={signature!r}: expected one of {SIGNATURES}")
    if signature == "wav":
        if modality not in (None, "audio"):
            raise ServingClientError(
                f"--signature=wav is only exported for audio models, not {modality!r}"
            )
        return wav_inputs(path.get("audio") if isinstance(path, dict) else path)
    if modality is None:
        raise ServingClientError("the model's modality is needed to read the media (--modality)")
    frames = read_media(path, modality, face_mode, max_frames)
    if signature == "examples":
        return example_inputs(frames, image_format=image_format)
    return tensor_inputs(frames)


# --------------------------------------------------------------------------- gRPC


def predict_request(model_name, inputs, signature_name="serving_default", version=None):
    """A ``tensorflow.serving.PredictRequest`` holding ``inputs`` (numpy arrays or bytes)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def parse_predict_response(response):
    """``PredictResponse`` -> ``{output name: numpy array}``."""
    import tensorflow as tf

    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def _channel(host, port):
    import grpc

    # Video requests are ~110 kB per frame: lift gRPC's 4 MB default on both sides.
    options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
    return grpc.insecure_channel(f"{host}:{port}", options=options)


def _grpc_call(host, port, method, request, timeout):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    with _channel(host, port) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            return getattr(stub, method)(request, timeout=timeout)
        except grpc.RpcError as error:
            raise ServingClientError(
                f"gRPC {method} to {host}:{port}: {error.code().name}: {error.details()}"
            ) from None


def grpc_predict(
    host, port, model_name, inputs, signature_name="serving_default", version=None, timeout=60.0
):
    """``PredictionService.Predict`` over gRPC; returns ``{output name: numpy array}``."""
    request = predict_request(model_name, inputs, signature_name, version)
    return parse_predict_response(_grpc_call(host, port, "Predict", request, timeout))


def grpc_signature_inputs(host, port, model_name, signature_name, version=None, timeout=30.0):
    """Input names of a served signature, from ``GetModelMetadata`` (``signature_def``)."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = model_name
    if version is not None:
        request.model_spec.version.value = int(version)
    request.metadata_field.append("signature_def")
    response = _grpc_call(host, port, "GetModelMetadata", request, timeout)
    signature_map = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signature_map)
    if signature_name not in signature_map.signature_def:
        raise ServingClientError(
            f"model {model_name!r} has no signature {signature_name!r} "
            f"(has: {', '.join(sorted(signature_map.signature_def))})"
        )
    return sorted(signature_map.signature_def[signature_name].inputs)


# --------------------------------------------------------------------------- REST


def _json_value(value):
    """numpy array / bytes -> TF Serving JSON (bytes as ``{"b64": ...}``)."""
    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind == "S":

        def encode(item):
            if isinstance(item, list):
                return [encode(x) for x in item]
            return {"b64": base64.b64encode(bytes(item)).decode("ascii")}

        return encode(array.tolist())
    return array.tolist()


def rest_request_body(inputs, signature_name="serving_default", rest_format="columnar"):
    """The JSON body of a REST predict request (``inputs`` columnar or ``instances`` rows)."""
    if rest_format not in REST_FORMATS:
        raise ServingClientError(f"--rest_format={rest_format!r}: expected one of {REST_FORMATS}")
    body = {"signature_name": signature_name}
    if rest_format == "columnar":
        body["inputs"] = {name: _json_value(value) for name, value in inputs.items()}
        return body
    if any(np.ndim(value) == 0 for value in inputs.values()):
        raise ServingClientError(
            f"--rest_format=row needs batched inputs; the {signature_name} signature takes a "
            "scalar: use --rest_format=columnar"
        )
    rows = len(next(iter(inputs.values())))
    body["instances"] = [
        {name: _json_value(value[row]) for name, value in inputs.items()} for row in range(rows)
    ]
    return body


def parse_rest_response(payload):
    """A REST predict response (``outputs`` or ``predictions``) -> ``{name: numpy array}``."""
    if "outputs" in payload:
        outputs = payload["outputs"]
        if not isinstance(outputs, dict):
            raise ServingClientError("REST response: a single unnamed output; expected named ones")
        return {name: np.asarray(value) for name, value in outputs.items()}
    if "predictions" in payload:
        rows = payload["predictions"]
        if not rows or not isinstance(rows[0], dict):
            raise ServingClientError("REST response: predictions without named outputs")
        return {name: np.asarray([row[name] for row in rows]) for name in rows[0]}
    raise ServingClientError(f"REST response has neither outputs nor predictions: {payload!r:.200}")


def _model_url(host, port, model_name, version):
    url = f"http://{host}:{port}/v1/models/{model_name}"
    return url if version is None else f"{url}/versions/{int(version)}"


def _rest_call(url, body=None, timeout=60.0):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        headers={"Content-Type": "application/json"},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        text = error.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):  # TF Serving: {"error": ...}
            text = json.loads(text).get("error", text)
        raise ServingClientError(f"REST {url}: HTTP {error.code}: {text}") from None
    except urllib.error.URLError as error:
        raise ServingClientError(f"REST {url}: {error.reason}") from None


def rest_predict(
    host,
    port,
    model_name,
    inputs,
    signature_name="serving_default",
    version=None,
    rest_format="columnar",
    timeout=60.0,
):
    """``POST /v1/models/NAME[/versions/N]:predict``; returns ``{output name: numpy array}``."""
    body = rest_request_body(inputs, signature_name, rest_format)
    payload = _rest_call(_model_url(host, port, model_name, version) + ":predict", body, timeout)
    return parse_rest_response(payload)


def rest_signature_inputs(host, port, model_name, signature_name, version=None, timeout=30.0):
    """Input names of a served signature, from ``GET /v1/models/NAME[/versions/N]/metadata``."""
    payload = _rest_call(_model_url(host, port, model_name, version) + "/metadata", None, timeout)
    try:
        signatures = payload["metadata"]["signature_def"]["signature_def"]
    except (KeyError, TypeError):
        raise ServingClientError(f"REST metadata of {model_name!r}: no signature_def") from None
    if signature_name not in signatures:
        raise ServingClientError(
            f"model {model_name!r} has no signature {signature_name!r} "
            f"(has: {', '.join(sorted(signatures))})"
        )
    return sorted(signatures[signature_name].get("inputs", {}))


# --------------------------------------------------------------------------- whole requests


def modality_of_inputs(names):
    """``serving_default`` input names -> ``audio``, ``visual`` or ``multimodal``."""
    names = set(names)
    if names == {"audio"}:
        return "audio"
    if names == {"video"}:
        return "visual"
    if names == {"audio", "video"}:
        return "multimodal"
    raise ServingClientError(f"not an e2e_emotion model: serving_default inputs {sorted(names)}")


def server_modality(protocol, host, port, model_name, version=None, timeout=30.0):
    """The served model's modality, read from its ``serving_default`` inputs."""
    lookup = rest_signature_inputs if protocol == "rest" else grpc_signature_inputs
    return modality_of_inputs(lookup(host, port, model_name, "serving_default", version, timeout))


def predict_media(
    media,
    model_name,
    protocol="grpc",
    host="127.0.0.1",
    port=8500,
    signature="serving_default",
    modality=None,
    version=None,
    face_mode=schema.DEFAULT_FACE_MODE,
    max_frames=None,
    image_format="jpeg",
    rest_format="columnar",
    timeout=60.0,
):
    """Reads ``media``, sends one predict request, returns per-frame predictions.

    Args:
        media: WAV/MP4 file (audio models: its audio; visual models: its video frames),
            or ``{"audio": path, "video": path}`` for streams recorded apart.
        model_name, version: the served model (latest version when ``version`` is None).
        protocol: ``"rest"`` or ``"grpc"``; ``port`` is the REST or gRPC port.
        signature: ``serving_default``, ``wav`` or ``examples``.
        modality: the model's modality; None asks the server (model metadata).

    Returns:
        ``{"arousal": [time] float32, "valence": [time] float32}``.
    """
    if protocol not in PROTOCOLS:
        raise ServingClientError(f"--protocol={protocol!r}: expected one of {PROTOCOLS}")
    if signature not in SIGNATURES:
        raise ServingClientError(f"--signature={signature!r}: expected one of {SIGNATURES}")
    if modality is None and signature != "wav":
        modality = server_modality(protocol, host, port, model_name, version, timeout)
    inputs = build_inputs(media, signature, modality, face_mode, max_frames, image_format)
    if protocol == "rest":
        outputs = rest_predict(
            host, port, model_name, inputs, signature, version, rest_format, timeout
        )
    else:
        outputs = grpc_predict(host, port, model_name, inputs, signature, version, timeout)
    missing = [name for name in schema.LABEL_NAMES if name not in outputs]
    if missing:
        raise ServingClientError(f"the response has no {', '.join(missing)} output")
    return {name: np.asarray(outputs[name], np.float32).reshape(-1) for name in schema.LABEL_NAMES}


def predictions_csv(predictions):
    """``frame,time_seconds,arousal,valence`` lines (one per 40 ms frame), as a string."""
    out = io.StringIO()
    out.write("frame,time_seconds,arousal,valence\n")
    for index, (arousal, valence) in enumerate(
        zip(predictions["arousal"], predictions["valence"], strict=True)
    ):
        out.write(f"{index},{index * schema.FRAME_SECONDS:.2f},{arousal:.6f},{valence:.6f}\n")
    return out.getvalue()


def client_command(output_csv=None, **kwargs):
    """What ``bin/serving_client.py`` does: ``predict_media`` -> CSV text (or file).

    Returns:
        The CSV text when ``output_csv`` is None, else a one-line summary.
    """
    text = predictions_csv(predict_media(**kwargs))
    if output_csv is None:
        return text
    try:
        with atomic_path(output_csv, suffix=".csv") as temporary, open(temporary, "w") as f:
            f.write(text)
    except OSError as error:
        raise ServingClientError(
            f"--output_csv={output_csv}: cannot be written ({error.strerror or error})"
        ) from None
    return f"wrote {text.count(chr(10)) - 1} frames to {output_csv}"
