"""JSON bytes ⇄ numpy, shared by the three protocols.

Decoding is orjson (C, straight to Python lists) then one `np.asarray` over the nested list:
numpy's own type discovery then tells whether every element was a number, so strings or
nulls where numbers belong are caught without a second pass in Python (a plain
`np.array(x, dtype=float)` would quietly accept "1.5"). Encoding hands numpy arrays to orjson
directly (`OPT_SERIALIZE_NUMPY`), with no `.tolist()` round trip.

A fast path comes first for the row-list protocols (/score, V1): simdjson parses the body and
copies the rows straight into a float64 buffer (`as_buffer`), with no Python object per
number — 2-3x faster than orjson + np.asarray on a batch of MNIST rows. It applies only when
the body is plainly valid (every row an array of exactly n_features numbers, no other arrays
anywhere in the body, all finite); anything else takes the orjson path, which also words
the error messages, so both paths accept and reject exactly the same bodies.
"""

from __future__ import annotations

import math

import numpy as np
import orjson

from trainyard.runtime.serving import tensors
from trainyard.runtime.serving.errors import InvalidInput

try:  # optional: the server is correct without it, only slower on large bodies
    import simdjson

    _SIMD = simdjson.Parser()
except ImportError:  # pragma: no cover
    simdjson = None
    _SIMD = None

_NUMERIC = "biuf"


def parse_json(body: bytes) -> dict:
    """The request body as a JSON object."""
    if not body:
        raise InvalidInput("request body is empty; expected a JSON object")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"request body must be a JSON object, got a JSON {_json_kind(doc)}")
    return doc


def fast_rows(body: bytes, keys: tuple[str, ...], n_features: int | None) -> tuple[np.ndarray, dict] | None:
    """(rows as float64, the document's other members) for a body like
    `{"instances": [[...], ...], "method": "predict"}`, or None when the fast path does not
    apply and the caller must decode with `parse_json` + `rows`."""
    if _SIMD is None or not n_features:
        return None
    try:
        doc = _SIMD.parse(body)  # the parser is reused: everything is copied out before returning
        if not isinstance(doc, simdjson.Object):
            return None
        key = next((k for k in keys if k in doc), None)
        if key is None:
            return None
        arr = doc[key]
        if not isinstance(arr, simdjson.Array) or not len(arr):
            return None
        n = len(arr)
        # Only the outer list and one list per row may exist (no nested arrays elsewhere) ...
        if body.count(b"[") != n + 1:
            return None
        # ... and every row has exactly n_features elements.
        for row in arr:
            if not isinstance(row, simdjson.Array) or len(row) != n_features:
                return None
        flat = np.frombuffer(arr.as_buffer(of_type="d"), dtype=np.float64)
        if flat.size != n * n_features:
            return None
        others = {k: doc[k] for k in doc.keys() if k != key}
    except (ValueError, TypeError, KeyError, IndexError):  # not JSON, strings/nulls, etc.
        return None
    if any(isinstance(v, (simdjson.Array, simdjson.Object)) for v in others.values()):
        return None
    x = flat.reshape(n, n_features)
    if not np.isfinite(x).all():
        return None
    return x, others


def rows(value, *, field: str, n_features: int | None, dtype: np.dtype | None = None) -> np.ndarray:
    """A JSON list of rows (`[[x11, x12, ...], ...]`) as a 2-D numeric array, float64 unless
    `dtype` says otherwise. Errors name `field` and what was wrong."""
    arr = numeric_array(value, field=field, dtype=dtype)
    return check_rows(arr, field=field, n_features=n_features)


def numeric_array(value, *, field: str, dtype: np.dtype | None = None) -> np.ndarray:
    if not isinstance(value, list):
        raise InvalidInput(f"'{field}' must be a list of rows, got a JSON {_json_kind(value)}")
    if not value:
        raise InvalidInput(f"'{field}' is empty; send at least one row")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged nesting: "inhomogeneous shape ..."
        raise InvalidInput(
            f"'{field}' is not a rectangular array: rows must all have the same length ({_first_line(exc)})"
        ) from None
    if arr.dtype.kind not in _NUMERIC:
        raise InvalidInput(f"'{field}' must contain only numbers, found {_describe_non_numeric(arr)}")
    target = dtype if dtype is not None else np.dtype(np.float64)
    if arr.dtype.kind == "f" and target.kind in "iub":
        raise InvalidInput(f"'{field}' holds non-integer numbers but its datatype is {target.name}")
    if arr.dtype != target:
        if arr.dtype.kind in "iu" and target.kind in "iu" and arr.size:
            info = np.iinfo(target)
            if arr.min() < info.min or arr.max() > info.max:
                raise InvalidInput(f"'{field}' has values outside the range of {target.name}")
        arr = arr.astype(target)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InvalidInput(f"'{field}' contains NaN or infinite values")
    return arr


def check_rows(arr: np.ndarray, *, field: str, n_features: int | None) -> np.ndarray:
    if arr.ndim != 2:
        want = f"[[{n_features} numbers], ...]" if n_features else "[[x1, x2, ...], ...]"
        raise InvalidInput(
            f"'{field}' must be a 2-D array of rows like {want}; got an array of shape {list(arr.shape)}"
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise InvalidInput(
            f"wrong number of features in '{field}': got {arr.shape[1]} per row, the model expects {n_features}"
        )
    return arr


def tensor(data, *, field: str, datatype: str, shape) -> np.ndarray:
    """An Open Inference Protocol tensor (`data` flat or nested, row-major) as an array of
    `shape` and `datatype`."""
    dtype = tensors.dtype_of(datatype, field=field)
    shape = tensors.shape_of(shape, field=field)
    if not isinstance(data, list):
        raise InvalidInput(f"{field}: 'data' must be a list, got a JSON {_json_kind(data)}")
    arr = numeric_array(data, field=f"{field}.data", dtype=dtype)
    expected = math.prod(shape)
    if arr.size != expected:
        raise InvalidInput(f"{field}: shape {shape} needs {expected} values, 'data' has {arr.size}")
    return arr.reshape(shape)


def dumps(obj) -> bytes:
    """JSON bytes; numpy arrays are written natively, falling back to lists for the dtypes
    orjson does not take natively (strings, objects, non-contiguous views)."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return orjson.dumps(obj, default=_fallback, option=orjson.OPT_PASSTHROUGH_SUBCLASS)


def _fallback(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def _json_kind(value) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _describe_non_numeric(arr: np.ndarray) -> str:
    if arr.dtype.kind in "US":
        # numpy turned every element into a string; quote one that was not a number, if any
        sample = next((v for v in arr.flat if not _parses_as_float(v)), arr.flat[0])
        return f"strings (e.g. {str(sample)!r})"
    kinds = {_json_kind(v) for v in arr.flat if not isinstance(v, (int, float))}
    return " and ".join(sorted(kinds)) or "non-numeric values"


def _parses_as_float(text) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200]
