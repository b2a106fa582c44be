"""The Open Inference Protocol over gRPC as data: ModelInferRequest → the request the model sees
(raw or typed contents, every numeric datatype), the response, metadata, and the errors (with
their gRPC codes) bad requests get."""

from __future__ import annotations

import numpy as np
import pytest

from trainyard.runtime.serving import errors, grpc_service, oip
from trainyard.runtime.serving import grpc_predict_v2_pb2 as pb
from trainyard.runtime.serving.errors import InvalidInput, ModelNotFound
from trainyard.runtime.serving.model import Model, OutputSpec

from .test_serving_oip import DTYPES


@pytest.fixture
def model() -> Model:
    m = Model(name="iris", version="2", ready=True, n_features=4)
    m.outputs = {
        "predict": OutputSpec("predict", np.dtype(np.int64), "INT64", None),
        "predict_proba": OutputSpec("predict_proba", np.dtype(np.float64), "FP64", 3),
    }
    return m


def raw_request(rows: np.ndarray, datatype: str, *outputs: str, **fields) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name="iris", **fields)
    req.inputs.add(name="input-0", datatype=datatype, shape=rows.shape)
    req.raw_input_contents.append(rows.astype(rows.dtype.newbyteorder("<")).tobytes())
    for name in outputs:
        req.outputs.add(name=name)
    return req


@pytest.mark.parametrize("datatype", list(DTYPES))
def test_raw_input_of_every_numeric_datatype(model, datatype):
    rows = (np.arange(8).reshape(2, 4) % 2).astype(DTYPES[datatype])
    req = grpc_service.decode(raw_request(rows, datatype, id="r7"), model)
    assert req.x.dtype == rows.dtype and np.array_equal(req.x, rows) and req.id == "r7"
    assert req.outputs == [oip.Output("predict", binary=True)]


@pytest.mark.parametrize("datatype", [d for d in DTYPES if d != "FP16"])
def test_typed_contents_of_every_datatype_that_has_a_field(model, datatype):
    rows = (np.arange(8).reshape(2, 4) % 2).astype(DTYPES[datatype])
    req = pb.ModelInferRequest(model_name="iris", model_version="2")
    spec = req.inputs.add(name="input-0", datatype=datatype, shape=[2, 4])
    getattr(spec.contents, grpc_service.CONTENTS[datatype]).extend(rows.ravel().tolist())
    got = grpc_service.decode(req, model).x
    assert got.dtype == rows.dtype and np.array_equal(got, rows)


def test_requested_outputs_in_order(model):
    req = grpc_service.decode(raw_request(np.zeros((1, 4)), "FP64", "predict_proba", "predict"), model)
    assert [o.name for o in req.outputs] == ["predict_proba", "predict"]


def test_response_is_raw_with_shape_datatype_version_and_id(model):
    req = oip.InferRequest(np.zeros((2, 4)), [oip.Output("predict", True), oip.Output("predict_proba", True)], "r1")
    proba = np.arange(6.0).reshape(2, 3)
    resp = grpc_service.encode(model, req, [np.array([0, 2]), proba])
    assert (resp.model_name, resp.model_version, resp.id) == ("iris", "2", "r1")
    assert [(o.name, o.datatype, list(o.shape)) for o in resp.outputs] == [
        ("predict", "INT64", [2]),
        ("predict_proba", "FP64", [2, 3]),
    ]
    assert np.frombuffer(resp.raw_output_contents[0], "<i8").tolist() == [0, 2]
    assert np.array_equal(np.frombuffer(resp.raw_output_contents[1], "<f8").reshape(2, 3), proba)


def test_metadata_message(model):
    meta = grpc_service.metadata(model)
    assert (meta.name, list(meta.versions), meta.platform) == ("iris", ["2"], "sklearn")
    assert [(t.name, t.datatype, list(t.shape)) for t in meta.inputs] == [("input-0", "FP64", [-1, 4])]
    assert [(t.name, list(t.shape)) for t in meta.outputs] == [("predict", [-1]), ("predict_proba", [-1, 3])]


def _typed(datatype: str, field: str, values, shape=(1, 4)) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name="iris")
    spec = req.inputs.add(name="input-0", datatype=datatype, shape=shape)
    getattr(spec.contents, field).extend(values)
    return req


def _two_raw() -> pb.ModelInferRequest:
    req = raw_request(np.zeros((1, 4)), "FP64")
    req.raw_input_contents.append(b"")
    return req


def _raw_and_contents() -> pb.ModelInferRequest:
    req = raw_request(np.zeros((1, 4)), "FP64")
    req.inputs[0].contents.fp64_contents.extend([0.0] * 4)
    return req


def _truncated() -> pb.ModelInferRequest:
    req = raw_request(np.zeros((2, 4)), "FP64")
    req.raw_input_contents[0] = req.raw_input_contents[0][:-3]
    return req


def _classification() -> pb.ModelInferRequest:
    req = raw_request(np.zeros((1, 4)), "FP64")
    req.outputs.add(name="predict").parameters["classification"].int64_param = 2
    return req


BAD = [
    (_truncated(), InvalidInput, r"shape \[2, 4\] of FP64 needs 64 bytes \(8 x 8\), got 61 bytes"),
    (raw_request(np.zeros((1, 4)), "FP64", model_version="9"), ModelNotFound, "version '9' of model 'iris'"),
    (pb.ModelInferRequest(model_name="other"), ModelNotFound, "model 'other' is not served here"),
    (pb.ModelInferRequest(model_name="iris"), InvalidInput, "exactly one input tensor, got 0"),
    (raw_request(np.zeros((1, 4)), "FP8"), InvalidInput, "datatype 'FP8' is not supported"),
    (raw_request(np.zeros((1, 4)), "BYTES"), InvalidInput, "datatype 'BYTES' is not supported"),
    (raw_request(np.zeros((1, 3)), "FP64"), InvalidInput, "got 3 per row, the model expects 4"),
    (raw_request(np.zeros((1, 4)), "FP64", "output-0"), InvalidInput, "unknown output 'output-0'"),
    (raw_request(np.full((1, 4), np.inf), "FP64"), InvalidInput, "NaN or infinite"),
    (_two_raw(), InvalidInput, "raw_input_contents has 2 entries for 1 input"),
    (_raw_and_contents(), InvalidInput, "both contents and raw_input_contents"),
    (_typed("FP64", "fp32_contents", [0.0] * 4), InvalidInput, "FP64 but its contents are in fp32_contents"),
    (_typed("FP16", "fp32_contents", [0.0] * 4), InvalidInput, "FP16 has no typed contents field"),
    (_typed("FP64", "fp64_contents", [0.0] * 3), InvalidInput, r"shape \[1, 4\] needs 4 values, got 3"),
    (_typed("INT8", "int_contents", [1, 2, 3, 300]), InvalidInput, "values outside the range of INT8"),
    (_typed("FP64", "fp64_contents", [], shape=(0, 4)), InvalidInput, "has no rows"),
    (_classification(), InvalidInput, "classification extension is not supported"),
]


@pytest.mark.parametrize("request_, error, message", BAD, ids=[m[:40] for *_, m in BAD])
def test_bad_requests_name_the_problem_with_the_protocols_code(model, request_, error, message):
    with pytest.raises(error, match=message) as info:
        grpc_service.decode(request_, model)
    code, text = errors.grpc_status(info.value)
    assert code == ("NOT_FOUND" if error is ModelNotFound else "INVALID_ARGUMENT") and text == str(info.value)
