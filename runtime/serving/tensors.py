"""Open Inference Protocol tensors: datatypes, shapes, and raw bytes ⇄ numpy.

Raw bytes are what the binary tensor data extension carries over HTTP and what
`raw_input_contents` / `raw_output_contents` carry over gRPC: the elements row-major, packed,
little-endian; a BYTES element is a 4-byte little-endian length followed by that many bytes.
Both transports decode and encode through here, so they accept and reject exactly the same
tensors with the same messages.

Decoding is `np.frombuffer` over the request's own bytes: no copy, no per-element work beyond
the checks every transport makes (values finite, BOOL bytes 0 or 1), because the server tells
scikit-learn to skip its own finiteness check (model.py).
"""

from __future__ import annotations

import math
import struct

import numpy as np

from trainyard.runtime.serving.errors import InvalidInput

# Little-endian whatever the host: the protocol's byte order.
DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
# Datatypes of the protocol that no scikit-learn model here takes as input.
OTHER_DATATYPES = ("BYTES", "BF16")


def dtype_of(datatype, *, field: str) -> np.dtype:
    dtype = DTYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        known = ", ".join(DTYPES)
        why = "this model takes numbers" if datatype in OTHER_DATATYPES else "not a datatype of the protocol"
        raise InvalidInput(f"{field}: datatype {datatype!r} is not supported ({why}); use one of {known}")
    return dtype


def shape_of(value, *, field: str) -> list[int]:
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value
    ):
        raise InvalidInput(f"{field}: 'shape' must be a list of non-negative integers, got {_show(value)}")
    return list(value)


def from_bytes(raw, *, datatype, shape, field: str) -> np.ndarray:
    """The tensor in `raw` (bytes, bytearray or memoryview) as an array of `shape`, without copying.
    Errors name `field`, the datatype, and how many bytes were expected and found."""
    dtype = dtype_of(datatype, field=field)
    dims = shape_of(shape, field=field)
    count = math.prod(dims)
    need = count * dtype.itemsize
    size = len(raw) if not isinstance(raw, memoryview) else raw.nbytes
    if size != need:
        raise InvalidInput(
            f"{field}: shape {dims} of {datatype} needs {need} bytes ({count} x {dtype.itemsize}), got {size} bytes"
        )
    if dtype.kind == "b":
        octets = np.frombuffer(raw, dtype=np.uint8)
        if octets.size and octets.max() > 1:
            raise InvalidInput(f"{field}: a BOOL element must be the byte 0 or 1")
        arr = octets.view(np.bool_)
    else:
        arr = np.frombuffer(raw, dtype=dtype)
    check_finite(arr, field=field)
    return arr.reshape(dims)


def from_values(values, *, datatype, shape, field: str) -> np.ndarray:
    """A tensor from a flat sequence of numbers (gRPC's typed `contents`), range-checked
    against `datatype` (INT8 values arrive as int32, UINT8 as uint32, ...)."""
    dtype = dtype_of(datatype, field=field)
    dims = shape_of(shape, field=field)
    arr = np.asarray(values)
    if arr.size != math.prod(dims):
        raise InvalidInput(f"{field}: shape {dims} needs {math.prod(dims)} values, got {arr.size}")
    if arr.dtype != dtype:
        if arr.size and dtype.kind in "iu":
            info = np.iinfo(dtype)
            if arr.min() < info.min or arr.max() > info.max:
                raise InvalidInput(f"{field}: values outside the range of {datatype}")
        arr = arr.astype(dtype)
    check_finite(arr, field=field)
    return arr.reshape(dims)


def check_finite(arr: np.ndarray, *, field: str) -> None:
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise InvalidInput(f"{field} contains NaN or infinite values")


def to_bytes(arr: np.ndarray) -> bytes:
    """The raw representation of an output: numbers packed little-endian; strings (labels of a
    classifier trained on strings) as BYTES elements, UTF-8."""
    if arr.dtype.kind in "biuf":
        little = arr.dtype.newbyteorder("<") if arr.dtype.kind != "b" else arr.dtype
        return np.ascontiguousarray(arr, dtype=little).tobytes()
    parts = []
    for item in arr.reshape(-1).tolist():
        data = item if isinstance(item, bytes) else str(item).encode()
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
