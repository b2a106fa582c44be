"""Request and response shapes of the row-list protocols, as pure functions over parsed JSON.

- Azure ML `POST /score`: `{"data": [[...], ...], "method": "predict" | "predict_proba"}` →
  a bare JSON list (of labels, or of probability rows) — what the Azure ML tutorial's scoring
  script and the no-code scikit-learn deployment return. `method` defaults to `predict`.
- KServe V1 `POST /v1/models/NAME:predict`: `{"instances": [[...], ...]}` (or `"inputs"`), with
  the same optional `"method"` → `{"predictions": [...]}`.

The Open Inference Protocol (V2), over HTTP and gRPC, is in `oip.py`.
"""

from __future__ import annotations

import numpy as np

from trainyard.runtime.serving import codec
from trainyard.runtime.serving.errors import InvalidInput
from trainyard.runtime.serving.model import PREDICT, PREDICT_PROBA, Model


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
