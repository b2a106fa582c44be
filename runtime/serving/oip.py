"""The Open Inference Protocol (KServe V2, Triton): what a request asks for, whatever its
transport, and its HTTP encoding — JSON, and the binary tensor data extension.

- `POST /v2/models/NAME[/versions/V]/infer`: exactly one input tensor holding every feature,
  of shape `[rows, features]`, any numeric datatype; `data` flat or nested. Outputs are chosen
  by name among the model's methods — `predict`, `predict_proba` (MLServer's scikit-learn
  names) — and default to `predict`; any other name is rejected.
- Binary tensor data: with the header `Inference-Header-Content-Length: N`, the first N bytes of
  the body are the JSON request and the rest is the raw data of the input whose parameters
  carry `binary_data_size` (raw layout: tensors.py). An output is answered in binary when its
  parameters say `binary_data: true`, or when the request's parameters say
  `binary_data_output: true` and the output does not say otherwise (tritonclient's default);
  the response is then laid out the same way, each binary output carrying its
  `binary_data_size`, with `Inference-Header-Content-Length` giving the JSON part's length.

gRPC (grpc_service.py) shares `InferRequest`, `select_outputs`, `check_target` and `metadata`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainyard.runtime.serving import codec, tensors
from trainyard.runtime.serving.errors import InvalidInput, ModelNotFound
from trainyard.runtime.serving.model import PREDICT, Model, v2_datatype

HEADER_LENGTH = "Inference-Header-Content-Length"
EXTENSIONS = ["binary_tensor_data"]
_NO_BINARY = memoryview(b"")


@dataclass(frozen=True)
class Output:
    name: str  # also the model method that computes it
    binary: bool = False


@dataclass
class InferRequest:
    x: np.ndarray
    outputs: list[Output]
    id: str | None


# -- shared by HTTP and gRPC ------------------------------------------------------------------


def select_outputs(requested: list[tuple[str, bool]], model: Model, *, binary: bool = False) -> list[Output]:
    """[(name, binary)] as asked for, checked against what the model offers; none asked:
    predict (in binary when `binary`)."""
    out = []
    for name, as_binary in requested:
        if name not in model.outputs:
            raise InvalidInput(f"unknown output {name!r}; this model offers {', '.join(model.outputs)}")
        out.append(Output(name, as_binary))
    return out or [Output(PREDICT, binary)]


def check_output_parameters(params: dict, *, field: str) -> None:
    if "classification" in params:
        raise InvalidInput(
            f"{field}: the classification extension is not supported; ask for predict (labels) or predict_proba"
        )


def check_target(model: Model, name: str, version: str | None) -> None:
    """ModelNotFound unless `name` (and `version`, when given) is what this server serves."""
    if name != model.name:
        raise ModelNotFound(f"model {name!r} is not served here; this server serves {model.name!r}")
    if version and version != model.version:
        served = repr(model.version) if model.version else "no numbered versions"
        raise ModelNotFound(f"version {version!r} of model {name!r} is not served here (serving {served})")


def metadata(model: Model) -> dict:
    features = model.n_features if model.n_features is not None else -1
    return {
        "name": model.name,
        "versions": [model.version] if model.version else [],
        "platform": "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, features]}],
        "outputs": [
            {"name": o.name, "datatype": o.datatype, "shape": [-1] if o.width is None else [-1, o.width]}
            for o in model.outputs.values()
        ],
    }


def check_rows(x: np.ndarray, model: Model) -> np.ndarray:
    """The input tensor, checked to be rows of the model's number of features, at least one."""
    x = codec.check_rows(x, field="inputs[0]", n_features=model.n_features)
    if not len(x):
        raise InvalidInput("inputs[0] has no rows; send at least one")
    return x


def check_input_count(n: int, model: Model) -> None:
    if n != 1:
        raise InvalidInput(
            f"expected exactly one input tensor, got {n}; put all "
            f"features in one tensor of shape [rows, {model.n_features or 'features'}]"
        )


# -- HTTP -------------------------------------------------------------------------------------


def decode_http(body: bytes, header_length: bytes | None, model: Model) -> InferRequest:
    """The request in `body`; `header_length` is the Inference-Header-Content-Length header's
    value, None when absent (then the body is all JSON)."""
    doc, binary = split_body(body, header_length)
    return decode(doc, model, binary)


def split_body(body: bytes, header_length: bytes | None) -> tuple[dict, memoryview]:
    if header_length is None:
        return codec.parse_json(body), _NO_BINARY
    try:
        n = int(header_length)
    except ValueError:
        raise InvalidInput(f"{HEADER_LENGTH} must be a number of bytes, got {header_length[:40]!r}") from None
    if n < 0:
        raise InvalidInput(f"{HEADER_LENGTH} must not be negative, got {n}")
    if n > len(body):
        raise InvalidInput(f"{HEADER_LENGTH} is {n} bytes, past the end of the body ({len(body)} bytes)")
    try:
        doc = codec.parse_json(body[:n])
    except InvalidInput as exc:
        raise InvalidInput(f"the JSON header (the first {n} bytes of the body, per {HEADER_LENGTH}): {exc}") from None
    return doc, memoryview(body)[n:]


def decode(doc: dict, model: Model, binary: memoryview = _NO_BINARY) -> InferRequest:
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput(
            'missing "inputs": send {"inputs": [{"name": ..., "shape": [rows, '
            'features], "datatype": "FP64", "data": [...]}]}'
        )
    check_input_count(len(inputs), model)
    spec = inputs[0]
    if not isinstance(spec, dict):
        raise InvalidInput("inputs[0] must be an object with name, shape, datatype and data")
    missing = [k for k in ("name", "shape", "datatype") if k not in spec]
    if missing:
        raise InvalidInput(f"inputs[0] is missing {', '.join(missing)}")
    size = _parameters(spec, "inputs[0]").get("binary_data_size")
    if size is not None:
        x = _binary_input(spec, size, binary)
    elif "data" not in spec:
        raise InvalidInput("inputs[0] is missing data (or parameters.binary_data_size for binary data)")
    elif binary.nbytes:
        raise InvalidInput(
            f"{binary.nbytes} bytes of binary data follow the JSON header but no input has parameters.binary_data_size"
        )
    else:
        x = codec.tensor(spec["data"], field="inputs[0]", datatype=spec["datatype"], shape=spec["shape"])
    x = check_rows(x, model)
    rid = doc.get("id")
    if rid is not None and not isinstance(rid, str):
        raise InvalidInput("'id' must be a string")
    return InferRequest(x, _http_outputs(doc, model), rid)


def _binary_input(spec: dict, size, binary: memoryview) -> np.ndarray:
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"inputs[0].parameters.binary_data_size must be a non-negative integer, got {size!r}")
    if "data" in spec:
        raise InvalidInput("inputs[0] has both 'data' and parameters.binary_data_size; send one of them")
    if not binary.nbytes and size:
        raise InvalidInput(
            f"inputs[0].parameters.binary_data_size is {size} but the request carries no binary data "
            f"(send the JSON header's length in {HEADER_LENGTH} and the bytes after it)"
        )
    if size != binary.nbytes:
        where = "past the end of" if size > binary.nbytes else "short of"
        raise InvalidInput(
            f"inputs[0].parameters.binary_data_size is {size} bytes, {where} the {binary.nbytes} bytes "
            f"of binary data after the JSON header"
        )
    return tensors.from_bytes(binary, datatype=spec["datatype"], shape=spec["shape"], field="inputs[0]")


def _http_outputs(doc: dict, model: Model) -> list[Output]:
    default = bool(_flag(_parameters(doc, ""), "binary_data_output", "parameters"))
    requested = doc.get("outputs")
    if requested is None:
        return [Output(PREDICT, default)]
    if not isinstance(requested, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested
    ):
        raise InvalidInput('"outputs" must be a list of objects like {"name": "predict_proba"}')
    pairs = []
    for i, o in enumerate(requested):
        params = _parameters(o, f"outputs[{i}]")
        check_output_parameters(params, field=f"outputs[{i}].parameters")
        binary = _flag(params, "binary_data", f"outputs[{i}].parameters")
        pairs.append((o["name"], default if binary is None else binary))
    return select_outputs(pairs, model, binary=default)


def _parameters(obj: dict, field: str) -> dict:
    params = obj.get("parameters")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidInput(f"{field + '.' if field else ''}parameters must be an object")
    return params


def _flag(params: dict, key: str, field: str) -> bool | None:
    value = params.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(f"{field}.{key} must be true or false, got {value!r}")
    return value


def encode_http(model: Model, req: InferRequest, results: list[np.ndarray]) -> tuple[bytes, int | None]:
    """(body, length of its JSON header when binary outputs follow it, else None)."""
    outputs, blobs = [], []
    for out, arr in zip(req.outputs, results, strict=True):
        tensor = {"name": out.name, "shape": list(arr.shape), "datatype": v2_datatype(arr.dtype)}
        if out.binary:
            raw = tensors.to_bytes(arr)
            blobs.append(raw)
            tensor["parameters"] = {"binary_data_size": len(raw)}
        else:
            tensor["data"] = np.ascontiguousarray(arr).reshape(-1)
        outputs.append(tensor)
    doc = {"model_name": model.name, "outputs": outputs}
    if model.version is not None:
        doc["model_version"] = model.version
    if req.id is not None:
        doc["id"] = req.id
    header = codec.dumps(doc)
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
