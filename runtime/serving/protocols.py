"""Request and response shapes of the three protocols, as pure functions over parsed JSON.

- Azure ML `POST /score`: `{"data": [[...], ...], "method": "predict" | "predict_proba"}` →
  a bare JSON list (of labels, or of probability rows) — what the Azure ML tutorial's scoring
  script and the no-code scikit-learn deployment return. `method` defaults to `predict`.
- KServe V1 `POST /v1/models/NAME:predict`: `{"instances": [[...], ...]}` (or `"inputs"`), with
  the same optional `"method"` → `{"predictions": [...]}`.
- Open Inference Protocol (V2) `POST /v2/models/NAME/infer`: exactly one input tensor
  (`name`, `shape`, `datatype`, `data` flat or nested); outputs are chosen by name in
  `"outputs": [{"name": "predict"}, {"name": "predict_proba"}]` (MLServer's scikit-learn names;
  KServe's `output-0` is accepted for `predict`) and default to `predict`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainyard.runtime.serving import codec
from trainyard.runtime.serving.errors import InvalidInput
from trainyard.runtime.serving.model import PREDICT, PREDICT_PROBA, Model, v2_datatype

OUTPUT_ALIASES = {PREDICT: PREDICT, PREDICT_PROBA: PREDICT_PROBA, "output-0": PREDICT}


def _method(doc: dict, model: Model) -> str:
    method = doc.get("method", PREDICT)
    if method not in (PREDICT, PREDICT_PROBA):
        raise InvalidInput(f'\'method\' must be "predict" or "predict_proba", got {method!r}')
    if method not in model.outputs:
        raise InvalidInput(f"this model does not offer {method}; available: {', '.join(model.outputs)}")
    return method


# -- Azure ML /score ------------------------------------------------------------------------


def decode_score_body(body: bytes, model: Model) -> tuple[np.ndarray, str]:
    fast = codec.fast_rows(body, ("data",), model.n_features)
    if fast is not None:
        return fast[0], _method(fast[1], model)
    return decode_score(codec.parse_json(body), model)


def decode_score(doc: dict, model: Model) -> tuple[np.ndarray, str]:
    if "data" not in doc:
        raise InvalidInput('missing key "data": send {"data": [[feature, ...], ...]}')
    return codec.rows(doc["data"], field="data", n_features=model.n_features), _method(doc, model)


def encode_score(result: np.ndarray) -> bytes:
    return codec.dumps(result)


# -- KServe V1 ------------------------------------------------------------------------------


def decode_v1_body(body: bytes, model: Model) -> tuple[np.ndarray, str]:
    fast = codec.fast_rows(body, ("instances", "inputs"), model.n_features)
    if fast is not None:
        return fast[0], _method(fast[1], model)
    return decode_v1(codec.parse_json(body), model)


def decode_v1(doc: dict, model: Model) -> tuple[np.ndarray, str]:
    field = "instances" if "instances" in doc else "inputs" if "inputs" in doc else None
    if field is None:
        raise InvalidInput('missing key "instances": send {"instances": [[feature, ...], ...]}')
    return codec.rows(doc[field], field=field, n_features=model.n_features), _method(doc, model)


def encode_v1(result: np.ndarray) -> bytes:
    return codec.dumps({"predictions": result})


# -- Open Inference Protocol (V2) ----------------------------------------------------------


@dataclass
class V2Request:
    x: np.ndarray
    outputs: list[tuple[str, str]]  # (name as requested, method)
    id: str | None


def decode_v2(doc: dict, model: Model) -> V2Request:
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput(
            'missing "inputs": send {"inputs": [{"name": ..., "shape": [rows, '
            'features], "datatype": "FP64", "data": [...]}]}'
        )
    if len(inputs) != 1:
        raise InvalidInput(
            f"expected exactly one input tensor, got {len(inputs)}; put all "
            f"features in one tensor of shape [rows, {model.n_features or 'features'}]"
        )
    spec = inputs[0]
    if not isinstance(spec, dict):
        raise InvalidInput("inputs[0] must be an object with name, shape, datatype and data")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in spec]
    if missing:
        raise InvalidInput(f"inputs[0] is missing {', '.join(missing)}")
    x = codec.tensor(spec["data"], field="inputs[0]", datatype=spec["datatype"], shape=spec["shape"])
    x = codec.check_rows(x, field="inputs[0]", n_features=model.n_features)
    rid = doc.get("id")
    if rid is not None and not isinstance(rid, str):
        raise InvalidInput("'id' must be a string")
    return V2Request(x, _v2_outputs(doc.get("outputs"), model), rid)


def _v2_outputs(requested, model: Model) -> list[tuple[str, str]]:
    if requested is None:
        return [(PREDICT, PREDICT)]
    if not isinstance(requested, list) or not all(
        isinstance(o, dict) and isinstance(o.get("name"), str) for o in requested
    ):
        raise InvalidInput('"outputs" must be a list of objects like {"name": "predict_proba"}')
    out = []
    for o in requested:
        method = OUTPUT_ALIASES.get(o["name"])
        if method is None or method not in model.outputs:
            raise InvalidInput(f"unknown output {o['name']!r}; this model offers {', '.join(model.outputs)}")
        out.append((o["name"], method))
    return out or [(PREDICT, PREDICT)]


def encode_v2(model: Model, req: V2Request, results: list[np.ndarray]) -> bytes:
    outputs = []
    for (name, _method), arr in zip(req.outputs, results, strict=False):
        outputs.append(
            {
                "name": name,
                "shape": list(arr.shape),
                "datatype": v2_datatype(arr.dtype),
                "data": np.ascontiguousarray(arr).reshape(-1),
            }
        )
    doc = {"model_name": model.name, "outputs": outputs}
    if model.version is not None:
        doc["model_version"] = model.version
    if req.id is not None:
        doc["id"] = req.id
    return codec.dumps(doc)


def v2_metadata(model: Model) -> dict:
    features = model.n_features if model.n_features is not None else -1
    doc = {
        "name": model.name,
        "versions": [model.version] if model.version else [],
        "platform": "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, features]}],
        "outputs": [
            {"name": o.name, "datatype": o.datatype, "shape": [-1] if o.width is None else [-1, o.width]}
            for o in model.outputs.values()
        ],
    }
    return doc
