"""Loopback stand-ins for TensorFlow Serving, serving an exported SavedModel in tests.

* ``GRPCServer``: a ``tensorflow.serving.PredictionService`` (``Predict`` and
  ``GetModelMetadata``) built on the official ``tensorflow-serving-api`` protos.
* ``RESTServer``: ``POST /v1/models/NAME[/versions/N]:predict`` with the TF Serving JSON
  formats (columnar ``inputs``/``outputs``, row ``instances``/``predictions``, bytes as
  ``{"b64": ...}``, errors as ``{"error": ...}``) and ``GET .../metadata``.

Both load ``EXPORT_BASE/MODEL_NAME/VERSION`` with ``tf.saved_model.load`` (the latest
version unless a request names one) and call the requested signature. They bind to
127.0.0.1 on a free port and are stopped by ``stop()`` (or as context managers).
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import threading
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.python.saved_model import loader_impl
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)


class ServingError(Exception):
    """A request the server refuses; ``status`` is the gRPC code, ``http`` the HTTP status."""

    def __init__(self, message, status=grpc.StatusCode.INVALID_ARGUMENT, http=400):
        super().__init__(message)
        self.status = status
        self.http = http


class ServedModels:
    """The versions of one model under ``EXPORT_BASE/MODEL_NAME``, loaded on first use."""

    def __init__(self, export_base, model_name):
        self.model_name = model_name
        self.model_dir = os.path.join(export_base, model_name)
        self._loaded = {}
        self._lock = threading.Lock()

    def _versions(self):
        return sorted(int(n) for n in os.listdir(self.model_dir) if n.isdigit())

    def resolve(self, name, version=None):
        if name != self.model_name:
            raise ServingError(
                f"Servable not found for request: Latest({name})", grpc.StatusCode.NOT_FOUND, 404
            )
        versions = self._versions()
        if not versions:
            raise ServingError(f"no version of {name}", grpc.StatusCode.NOT_FOUND, 404)
        version = versions[-1] if version is None else int(version)
        if version not in versions:
            raise ServingError(
                f"Servable not found for request: Specific({name}, {version})",
                grpc.StatusCode.NOT_FOUND,
                404,
            )
        return version

    def load(self, version):
        with self._lock:
            if version not in self._loaded:
                path = os.path.join(self.model_dir, str(version))
                self._loaded[version] = tf.saved_model.load(path)
            return self._loaded[version]

    def signature_def_map(self, version):
        path = os.path.join(self.model_dir, str(version))
        meta_graph = loader_impl.parse_saved_model(path).meta_graphs[0]
        result = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in meta_graph.signature_def.items():
            if not key.startswith("__"):  # TF's own init op, not a serving signature
                result.signature_def[key].CopyFrom(signature)
        return result

    def function(self, version, signature_name):
        signature_name = signature_name or "serving_default"
        signatures = self.load(version).signatures
        if signature_name not in signatures:
            raise ServingError(
                f'Serving signature name: "{signature_name}" not found in signature def'
            )
        return signatures[signature_name]

    def predict(self, name, version, signature_name, inputs):
        """``inputs``: ``{name: numpy array}`` -> ``(version, {output: numpy array})``."""
        version = self.resolve(name, version)
        function = self.function(version, signature_name)
        specs = function.structured_input_signature[1]
        if set(inputs) != set(specs):
            raise ServingError(
                f"input names {sorted(inputs)} do not match the signature's {sorted(specs)}"
            )
        try:
            outputs = function(**{k: tf.constant(v, specs[k].dtype) for k, v in inputs.items()})
        except (tf.errors.InvalidArgumentError, ValueError, TypeError) as error:
            message = getattr(error, "message", None) or str(error)
            raise ServingError(message) from None
        return version, {k: v.numpy() for k, v in outputs.items()}

    def input_specs(self, name, version, signature_name):
        version = self.resolve(name, version)
        return self.function(version, signature_name).structured_input_signature[1]


# --------------------------------------------------------------------------- gRPC


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """``Predict`` and ``GetModelMetadata`` of TF Serving over ``ServedModels``."""

    def __init__(self, models):
        self.models = models
        self.requests = 0

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        self.requests += 1
        spec = request.model_spec
        version = spec.version.value if spec.HasField("version") else None
        try:
            inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
            version, outputs = self.models.predict(spec.name, version, spec.signature_name, inputs)
        except ServingError as error:
            context.abort(error.status, str(error))
        response = predict_pb2.PredictResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = version
        response.model_spec.signature_name = spec.signature_name or "serving_default"
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802 - gRPC method name
        self.requests += 1
        spec = request.model_spec
        if list(request.metadata_field) != ["signature_def"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "only signature_def is supported")
        try:
            version = self.models.resolve(
                spec.name, spec.version.value if spec.HasField("version") else None
            )
        except ServingError as error:
            context.abort(error.status, str(error))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = spec.name
        response.model_spec.version.value = version
        response.metadata["signature_def"].Pack(self.models.signature_def_map(version))
        return response


class GRPCServer:
    """A gRPC ``PredictionService`` on 127.0.0.1 (free port: ``.port``)."""

    def __init__(self, export_base, model_name):
        self.models = ServedModels(export_base, model_name)
        self.servicer = PredictionServicer(self.models)
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            self.servicer, self.server
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def stop(self):
        self.server.stop(grace=None).wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# --------------------------------------------------------------------------- REST

_PREDICT_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?:predict$")
_METADATA_PATH = re.compile(r"^/v1/models/([^/:]+)(?:/versions/(\d+))?/metadata$")


def _from_json(value, spec):
    """TF Serving JSON value -> numpy array of ``spec``'s dtype (``{"b64": ...}`` for bytes)."""
    if spec.dtype == tf.string:

        def decode(item):
            if isinstance(item, list):
                return [decode(x) for x in item]
            if isinstance(item, dict):
                if set(item) != {"b64"}:
                    raise ServingError(f'bytes must be given as {{"b64": ...}}, got {item!r:.80}')
                return base64.b64decode(item["b64"])
            return str(item).encode()

        decoded = decode(value)
        if not isinstance(decoded, list):
            return np.array(decoded, dtype=object)
        array = np.empty(np.shape(np.array(decoded, dtype=object)), dtype=object)
        array[...] = decoded
        return array
    try:
        return np.asarray(value, dtype=spec.dtype.as_numpy_dtype)
    except (TypeError, ValueError) as error:
        raise ServingError(f"cannot read the JSON value as {spec.dtype.name}: {error}") from None


def _to_json(array):
    array = np.asarray(array)
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode(errors="replace"), otypes=[object])(array).tolist()
    return array.tolist()


def rest_predict(models, name, version, body):
    """The JSON response of a REST predict request (raises ``ServingError``)."""
    signature_name = body.get("signature_name", "serving_default")
    specs = models.input_specs(name, version, signature_name)
    if "inputs" in body and "instances" in body:
        raise ServingError("JSON has both 'inputs' and 'instances'")
    if "inputs" in body:
        columns = body["inputs"]
        if not isinstance(columns, dict):
            if len(specs) != 1:
                raise ServingError("unnamed 'inputs' but the signature has several inputs")
            columns = {next(iter(specs)): columns}
        missing = set(specs) - set(columns)
        if missing:
            raise ServingError(f"missing inputs {sorted(missing)}")
        inputs = {k: _from_json(v, specs[k]) for k, v in columns.items() if k in specs}
        _, outputs = models.predict(name, version, signature_name, inputs)
        return {"outputs": {k: _to_json(v) for k, v in outputs.items()}}
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise ServingError("'instances' must be a non-empty list")
        if not all(isinstance(row, dict) for row in rows):
            if len(specs) != 1:
                raise ServingError("unnamed instances but the signature has several inputs")
            rows = [{next(iter(specs)): row} for row in rows]
        inputs = {}
        for key, spec in specs.items():
            if not all(key in row for row in rows):
                raise ServingError(f"an instance lacks input {key!r}")
            inputs[key] = np.stack([_from_json(row[key], spec) for row in rows])
        _, outputs = models.predict(name, version, signature_name, inputs)
        count = len(rows)
        return {
            "predictions": [{k: _to_json(v[i]) for k, v in outputs.items()} for i in range(count)]
        }
    raise ServingError("JSON has neither 'inputs' nor 'instances'")


def rest_metadata(models, name, version):
    version = models.resolve(name, version)
    signature_map = json_format.MessageToDict(
        models.signature_def_map(version), preserving_proto_field_name=True
    )
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(version)},
        "metadata": {"signature_def": signature_map},
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "FakeTFServing/1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, pattern, handle):
        self.server.requests += 1
        match = pattern.match(self.path)
        if not match:
            self._reply(404, {"error": f"Malformed request: {self.command} {self.path}"})
            return
        name, version = match.group(1), match.group(2)
        try:
            self._reply(200, handle(name, int(version) if version else None))
        except ServingError as error:
            self._reply(error.http, {"error": str(error)})

    def do_GET(self):  # noqa: N802 - http.server method name
        self._dispatch(_METADATA_PATH, lambda n, v: rest_metadata(self.server.models, n, v))

    def do_POST(self):  # noqa: N802 - http.server method name
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)

        def handle(name, version):
            try:
                body = json.loads(raw)
            except ValueError as error:
                raise ServingError(f"JSON parse error: {error}") from None
            if not isinstance(body, dict):
                raise ServingError("the request body must be a JSON object")
            return rest_predict(self.server.models, name, version, body)

        self._dispatch(_PREDICT_PATH, handle)


class RESTServer:
    """The TF Serving REST predict API on 127.0.0.1 (free port: ``.port``)."""

    def __init__(self, export_base, model_name):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.models = ServedModels(export_base, model_name)
        self.httpd.requests = 0
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.httpd.requests

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
