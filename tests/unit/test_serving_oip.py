"""The Open Inference Protocol over HTTP as data: JSON tensors, the binary tensor data extension
in both directions for every numeric datatype, requested outputs, and the 400s bad requests get."""

from __future__ import annotations

import struct

import numpy as np
import orjson
import pytest

from trainyard.runtime.serving import oip, tensors
from trainyard.runtime.serving.errors import InvalidInput, ModelNotFound
from trainyard.runtime.serving.model import Model, OutputSpec

DTYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


@pytest.fixture
def model() -> Model:
    m = Model(name="iris", version="2", ready=True, n_features=4)
    m.outputs = {
        "predict": OutputSpec("predict", np.dtype(np.int64), "INT64", None),
        "predict_proba": OutputSpec("predict_proba", np.dtype(np.float64), "FP64", 3),
    }
    return m


def binary_body(doc: dict, raw: bytes) -> tuple[bytes, bytes]:
    header = orjson.dumps(doc)
    return header + raw, str(len(header)).encode()


def tensor_doc(rows: np.ndarray, datatype: str, **extra) -> dict:
    spec = {"name": "input-0", "shape": list(rows.shape), "datatype": datatype}
    spec["parameters"] = {"binary_data_size": rows.nbytes}
    return {"inputs": [spec], **extra}


# -- JSON ------------------------------------------------------------------------------------


def test_json_tensor_flat_or_nested_with_its_datatype(model):
    doc = {
        "id": "a",
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6, 7, 8]}],
        "outputs": [{"name": "predict_proba"}, {"name": "predict"}],
    }
    req = oip.decode(doc, model)
    assert req.x.dtype == np.float32 and req.x.shape == (2, 4) and req.id == "a"
    assert req.outputs == [oip.Output("predict_proba"), oip.Output("predict")]
    doc["inputs"][0].update(data=[[1, 2, 3, 4], [5, 6, 7, 8]], datatype="INT64")
    req = oip.decode(doc, model)
    assert req.x.dtype == np.int64 and req.x.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_json_response_is_flat_with_shape_datatype_and_version(model):
    req = oip.InferRequest(np.zeros((2, 4)), [oip.Output("predict"), oip.Output("predict_proba")], "r1")
    body, json_length = oip.encode_http(model, req, [np.array([0, 2]), np.arange(6.0).reshape(2, 3)])
    assert json_length is None
    assert orjson.loads(body) == {
        "model_name": "iris",
        "model_version": "2",
        "id": "r1",
        "outputs": [
            {"name": "predict", "shape": [2], "datatype": "INT64", "data": [0, 2]},
            {"name": "predict_proba", "shape": [2, 3], "datatype": "FP64", "data": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]},
        ],
    }


def test_string_labels_are_bytes_tensors_in_json_and_in_binary(model):
    labels = np.array(["setosa", "virginica"])
    body, _ = oip.encode_http(model, oip.InferRequest(np.zeros((2, 4)), [oip.Output("predict")], None), [labels])
    out = orjson.loads(body)["outputs"][0]
    assert out["datatype"] == "BYTES" and out["data"] == ["setosa", "virginica"]
    assert tensors.to_bytes(labels) == struct.pack("<I", 6) + b"setosa" + struct.pack("<I", 9) + b"virginica"


def test_metadata_carries_the_served_version(model):
    assert oip.metadata(model) == {
        "name": "iris",
        "versions": ["2"],
        "platform": "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }
    model.version = None
    assert oip.metadata(model)["versions"] == []


def test_target_model_and_version(model):
    oip.check_target(model, "iris", None)
    oip.check_target(model, "iris", "2")
    with pytest.raises(ModelNotFound, match="model 'other' is not served here; this server serves 'iris'"):
        oip.check_target(model, "other", None)
    with pytest.raises(ModelNotFound, match=r"version '9' of model 'iris' is not served here \(serving '2'\)"):
        oip.check_target(model, "iris", "9")


# -- binary in, binary out ----------------------------------------------------------------------


@pytest.mark.parametrize("datatype", list(DTYPES))
def test_binary_input_of_every_numeric_datatype_is_the_same_array(model, datatype):
    rows = (np.arange(12).reshape(3, 4) % 2).astype(DTYPES[datatype])
    body, length = binary_body(tensor_doc(rows, datatype), rows.astype(rows.dtype.newbyteorder("<")).tobytes())
    req = oip.decode_http(body, length, model)
    assert req.x.dtype == rows.dtype and np.array_equal(req.x, rows)
    assert req.outputs == [oip.Output("predict")]


@pytest.mark.parametrize("datatype", list(DTYPES))
def test_binary_output_of_every_numeric_datatype_round_trips(model, datatype):
    result = (np.arange(6) % 2).astype(DTYPES[datatype])
    req = oip.InferRequest(np.zeros((6, 4)), [oip.Output("predict", binary=True)], None)
    body, json_length = oip.encode_http(model, req, [result])
    header = orjson.loads(body[:json_length])
    out = header["outputs"][0]
    assert out == {
        "name": "predict",
        "shape": [6],
        "datatype": datatype,
        "parameters": {"binary_data_size": result.nbytes},
    }
    got = np.frombuffer(body[json_length:], dtype=np.dtype(DTYPES[datatype]).newbyteorder("<"))
    assert len(body) == json_length + result.nbytes and np.array_equal(got, result)


def test_binary_and_json_outputs_in_one_response(model):
    req = oip.InferRequest(np.zeros((2, 4)), [oip.Output("predict"), oip.Output("predict_proba", binary=True)], None)
    proba = np.arange(6.0).reshape(2, 3)
    body, json_length = oip.encode_http(model, req, [np.array([1, 0]), proba])
    header = orjson.loads(body[:json_length])
    assert header["outputs"][0]["data"] == [1, 0] and "data" not in header["outputs"][1]
    assert np.array_equal(np.frombuffer(body[json_length:]).reshape(2, 3), proba)


@pytest.mark.parametrize(
    "request_flag, output_flag, binary",
    [(None, None, False), (True, None, True), (True, False, False), (False, True, True), (None, True, True)],
)
def test_which_outputs_are_binary(model, request_flag, output_flag, binary):
    rows = np.zeros((1, 4))
    doc = tensor_doc(rows, "FP64")
    if request_flag is not None:
        doc["parameters"] = {"binary_data_output": request_flag}
    out = {"name": "predict_proba"}
    if output_flag is not None:
        out["parameters"] = {"binary_data": output_flag}
    doc["outputs"] = [out]
    body, length = binary_body(doc, rows.tobytes())
    assert oip.decode_http(body, length, model).outputs == [oip.Output("predict_proba", binary)]


def test_no_outputs_named_means_predict_in_the_requested_form(model):
    rows = np.zeros((1, 4))
    body, length = binary_body(tensor_doc(rows, "FP64", parameters={"binary_data_output": True}), rows.tobytes())
    assert oip.decode_http(body, length, model).outputs == [oip.Output("predict", True)]


def test_a_json_input_may_ask_for_binary_outputs(model):
    doc = {
        "inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}],
        "outputs": [{"name": "predict", "parameters": {"binary_data": True}}],
    }
    body = orjson.dumps(doc)
    assert oip.decode_http(body, None, model).outputs == [oip.Output("predict", True)]
    assert oip.decode_http(body, str(len(body)).encode(), model).outputs == [oip.Output("predict", True)]


# -- bad requests -----------------------------------------------------------------------------

ROWS = np.arange(8.0).reshape(2, 4)
RAW = ROWS.tobytes()


def _bin(doc_update=None, raw=RAW, length=None, **spec_update):
    doc = tensor_doc(ROWS, "FP64")
    doc["inputs"][0].update(spec_update)
    doc.update(doc_update or {})
    body, true_length = binary_body(doc, raw)
    return body, true_length if length is None else length


BAD_BINARY = [
    (_bin(raw=RAW[:-8]), "binary_data_size is 64 bytes, past the end of the 56 bytes of binary data"),
    (_bin(raw=RAW + b"\0" * 8), "binary_data_size is 64 bytes, short of the 72 bytes of binary data"),
    (_bin(length=b"100000"), "Inference-Header-Content-Length is 100000 bytes, past the end of the body"),
    (_bin(length=b"twelve"), "Inference-Header-Content-Length must be a number of bytes, got b'twelve'"),
    (_bin(length=b"-1"), "must not be negative"),
    (_bin(length=b"10"), "the JSON header \\(the first 10 bytes of the body, per Inference-Header-Content-Length\\)"),
    (_bin(shape=[3, 4]), r"shape \[3, 4\] of FP64 needs 96 bytes \(12 x 8\), got 64 bytes"),
    (_bin(datatype="FP32"), r"shape \[2, 4\] of FP32 needs 32 bytes \(8 x 4\), got 64 bytes"),
    (_bin(datatype="FP8"), "datatype 'FP8' is not supported \\(not a datatype of the protocol\\); use one of BOOL"),
    (_bin(datatype="BYTES"), "datatype 'BYTES' is not supported \\(this model takes numbers\\)"),
    (_bin(parameters={"binary_data_size": -64}), "binary_data_size must be a non-negative integer, got -64"),
    (_bin(parameters={"binary_data_size": "64"}), "binary_data_size must be a non-negative integer, got '64'"),
    (_bin(parameters={"binary_data_size": 64}, data=[0] * 8), "has both 'data' and parameters.binary_data_size"),
    (_bin(parameters=[1]), r"inputs\[0\].parameters must be an object"),
    (_bin(raw=np.full((2, 4), np.nan).tobytes()), "contains NaN or infinite values"),
    (_bin(shape=[8], raw=RAW), "must be a 2-D array of rows"),
    (_bin(shape=[2, 2], parameters={"binary_data_size": 32}, raw=RAW[:32]), "got 2 per row, the model expects 4"),
    (_bin(shape=[0, 4], parameters={"binary_data_size": 0}, raw=b""), "has no rows"),
    (_bin({"outputs": [{"name": "output-0"}]}), "unknown output 'output-0'; this model offers predict, predict_proba"),
    (_bin({"outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]}), "binary_data must be true or false"),
    (_bin({"parameters": {"binary_data_output": "yes"}}), "binary_data_output must be true or false"),
    (
        _bin({"outputs": [{"name": "predict", "parameters": {"classification": 3}}]}),
        "the classification extension is not supported",
    ),
]


@pytest.mark.parametrize("request_, message", BAD_BINARY, ids=[m[:40] for _, m in BAD_BINARY])
def test_bad_binary_requests_name_the_problem(model, request_, message):
    body, length = request_
    with pytest.raises(InvalidInput, match=message):
        oip.decode_http(body, length, model)


def test_bool_bytes_other_than_0_and_1_are_refused(model):
    rows = np.ones((1, 4), dtype=np.uint8) * 2
    body, length = binary_body(tensor_doc(rows, "BOOL"), rows.tobytes())
    with pytest.raises(InvalidInput, match="a BOOL element must be the byte 0 or 1"):
        oip.decode_http(body, length, model)


def test_binary_data_without_the_header_length_is_not_json(model):
    body, _ = _bin()
    with pytest.raises(InvalidInput, match="not valid JSON"):
        oip.decode_http(body, None, model)


def test_binary_size_without_binary_data_says_what_is_missing(model):
    doc = tensor_doc(ROWS, "FP64")
    with pytest.raises(InvalidInput, match="carries no binary data \\(send the JSON header's length in Inference-"):
        oip.decode_http(orjson.dumps(doc), None, model)
    with pytest.raises(InvalidInput, match="8 bytes of binary data follow the JSON header but no input has"):
        doc = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
        body, length = binary_body(doc, b"\0" * 8)
        oip.decode_http(body, length, model)


def _json(**tensor):
    base = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
    return {"inputs": [{**base, **tensor}]}


@pytest.mark.parametrize(
    "doc, message",
    [
        ({}, 'missing "inputs"'),
        ({"inputs": [_json()["inputs"][0]] * 2}, "exactly one input tensor, got 2"),
        ({"inputs": [{"name": "x", "data": [1]}]}, "missing shape, datatype"),
        ({"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64"}]}, "missing data"),
        (_json(datatype="BYTES"), "datatype 'BYTES' is not supported"),
        (_json(datatype="FP128"), "datatype 'FP128' is not supported"),
        (_json(shape=[1, 5]), r"shape \[1, 5\] needs 5 values, 'data' has 4"),
        (_json(shape=[1, 3], data=[1, 2, 3]), "wrong number of features in 'inputs\\[0\\]': got 3"),
        (_json(shape=[4]), "must be a 2-D array"),
        (_json(shape="1,4"), "'shape' must be a list"),
        (_json(datatype="INT64", data=[1.5, 2, 3, 4]), "non-integer numbers"),
        (_json(datatype="UINT8", data=[1, 2, 3, 300]), "outside the range"),
        (_json(data=[1, 2, "three", 4]), "only numbers, found strings \\(e.g. 'three'\\)"),
        ({**_json(), "outputs": [{"name": "transform"}]}, "unknown output 'transform'; this model offers predict"),
        ({**_json(), "outputs": [{"name": "output-0"}]}, "unknown output 'output-0'"),
        ({**_json(), "outputs": "predict"}, '"outputs" must be a list'),
        ({**_json(), "id": 7}, "'id' must be a string"),
    ],
)
def test_json_errors_name_the_problem(model, doc, message):
    with pytest.raises(InvalidInput, match=message):
        oip.decode(doc, model)


def test_an_output_the_model_lacks_is_refused(model):
    del model.outputs["predict_proba"]
    with pytest.raises(InvalidInput, match="unknown output 'predict_proba'; this model offers predict"):
        oip.decode({**_json(), "outputs": [{"name": "predict_proba"}]}, model)
