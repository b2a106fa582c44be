"""Decoding request bodies of the three protocols into numpy, and the errors bad bodies get."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from trainyard.runtime.serving import codec, protocols
from trainyard.runtime.serving.errors import InvalidInput
from trainyard.runtime.serving.model import Model, OutputSpec


@pytest.fixture
def model() -> Model:
    m = Model(name="iris", ready=True, n_features=4)
    m.outputs = {
        "predict": OutputSpec("predict", np.dtype(np.int64), "INT64", None),
        "predict_proba": OutputSpec("predict_proba", np.dtype(np.float64), "FP64", 3),
    }
    return m


def test_score_rows_become_float64(model):
    x, method = protocols.decode_score({"data": [[1, 2, 3, 4], [5.5, 6, 7, 8]]}, model)
    assert x.dtype == np.float64 and x.shape == (2, 4) and method == "predict"
    assert x.tolist() == [[1, 2, 3, 4], [5.5, 6, 7, 8]]


def test_v1_accepts_instances_or_inputs_and_a_method(model):
    x, method = protocols.decode_v1({"instances": [[1, 2, 3, 4]], "method": "predict_proba"}, model)
    assert x.shape == (1, 4) and method == "predict_proba"
    x, _ = protocols.decode_v1({"inputs": [[1, 2, 3, 4]]}, model)
    assert x.shape == (1, 4)


def test_v2_tensor_flat_or_nested_with_its_datatype(model):
    doc = {
        "id": "a",
        "inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6, 7, 8]}],
        "outputs": [{"name": "predict_proba"}, {"name": "output-0"}],
    }
    req = protocols.decode_v2(doc, model)
    assert req.x.dtype == np.float32 and req.x.shape == (2, 4) and req.id == "a"
    assert req.outputs == [("predict_proba", "predict_proba"), ("output-0", "predict")]
    doc["inputs"][0].update(data=[[1, 2, 3, 4], [5, 6, 7, 8]], datatype="INT64")
    req = protocols.decode_v2(doc, model)
    assert req.x.dtype == np.int64 and req.x.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_v2_response_is_flat_with_shape_and_datatype(model):
    req = protocols.V2Request(np.zeros((2, 4)), [("predict", "predict"), ("predict_proba", "predict_proba")], "r1")
    body = orjson.loads(protocols.encode_v2(model, req, [np.array([0, 2]), np.arange(6.0).reshape(2, 3)]))
    assert body == {
        "model_name": "iris",
        "id": "r1",
        "outputs": [
            {"name": "predict", "shape": [2], "datatype": "INT64", "data": [0, 2]},
            {"name": "predict_proba", "shape": [2, 3], "datatype": "FP64", "data": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]},
        ],
    }


def test_string_labels_encode_as_bytes_tensors_and_lists(model):
    labels = np.array(["setosa", "virginica"])
    req = protocols.V2Request(np.zeros((2, 4)), [("predict", "predict")], None)
    out = orjson.loads(protocols.encode_v2(model, req, [labels]))["outputs"][0]
    assert out["datatype"] == "BYTES" and out["data"] == ["setosa", "virginica"]
    assert orjson.loads(protocols.encode_score(labels)) == ["setosa", "virginica"]
    assert orjson.loads(protocols.encode_v1(labels)) == {"predictions": ["setosa", "virginica"]}


@pytest.mark.parametrize(
    "body, message",
    [
        (b"", "body is empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got a JSON array"),
    ],
)
def test_bodies_that_are_not_a_json_object(body, message):
    with pytest.raises(InvalidInput, match=message):
        codec.parse_json(body)


@pytest.mark.parametrize(
    "doc, message",
    [
        ({}, 'missing key "data"'),
        ({"data": [[1, 2, 3]]}, "wrong number of features in 'data': got 3 per row, the model expects 4"),
        ({"data": [1, 2, 3, 4]}, "must be a 2-D array of rows"),
        ({"data": [[1, 2, "x", 4]]}, "must contain only numbers, found strings \\(e.g. 'x'\\)"),
        ({"data": [["1", "2", "3", "4"]]}, "must contain only numbers, found strings"),
        ({"data": [[1, 2, None, 4]]}, "must contain only numbers, found null"),
        ({"data": [[1, 2, 3, 4], [1, 2]]}, "not a rectangular array"),
        ({"data": []}, "is empty"),
        ({"data": "1,2,3,4"}, "must be a list of rows, got a JSON string"),
        ({"data": [[1, 2, 3, 1e400]]}, "NaN or infinite"),
        ({"data": [[1, 2, 3, 4]], "method": "transform"}, "'method' must be"),
    ],
)
def test_score_errors_name_the_problem(model, doc, message):
    with pytest.raises(InvalidInput, match=message):
        protocols.decode_score(doc, model)


def test_method_the_model_lacks(model):
    del model.outputs["predict_proba"]
    with pytest.raises(InvalidInput, match="does not offer predict_proba; available: predict"):
        protocols.decode_v1({"instances": [[1, 2, 3, 4]], "method": "predict_proba"}, model)


def _v2(**tensor):
    base = {"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}
    return {"inputs": [{**base, **tensor}]}


@pytest.mark.parametrize(
    "doc, message",
    [
        ({}, 'missing "inputs"'),
        ({"inputs": [_v2()["inputs"][0]] * 2}, "exactly one input tensor, got 2"),
        ({"inputs": [{"name": "x", "data": [1]}]}, "missing shape, datatype"),
        (_v2(datatype="BYTES"), "datatype 'BYTES' is not supported"),
        (_v2(datatype="FP128"), "datatype 'FP128' is not supported"),
        (_v2(shape=[1, 5]), r"shape \[1, 5\] needs 5 values, 'data' has 4"),
        (_v2(shape=[1, 3], data=[1, 2, 3]), "wrong number of features in 'inputs\\[0\\]': got 3"),
        (_v2(shape=[4]), "must be a 2-D array"),
        (_v2(shape="1,4"), "'shape' must be a list"),
        (_v2(datatype="INT64", data=[1.5, 2, 3, 4]), "non-integer numbers"),
        (_v2(datatype="UINT8", data=[1, 2, 3, 300]), "outside the range"),
        (_v2(data=[1, 2, "three", 4]), "only numbers, found strings \\(e.g. 'three'\\)"),
        (
            {**_v2(), "outputs": [{"name": "transform"}]},
            "unknown output 'transform'; this model offers predict, predict_proba",
        ),
        ({**_v2(), "outputs": "predict"}, '"outputs" must be a list'),
        ({**_v2(), "id": 7}, "'id' must be a string"),
    ],
)
def test_v2_errors_name_the_problem(model, doc, message):
    with pytest.raises(InvalidInput, match=message):
        protocols.decode_v2(doc, model)


def test_v2_metadata_describes_inputs_and_outputs(model):
    meta = protocols.v2_metadata(model)
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 4]}]
    assert meta["outputs"] == [
        {"name": "predict", "datatype": "INT64", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
    ]


FAST_BODIES = [
    b'{"instances": [[1, 2, 3, 4], [0.1, 0.2, 0.30000000000000004, 4e-300]]}',
    b'{"instances": [[1, 2, 3, 4]], "method": "predict_proba"}',
    b'{"inputs": [[-1, 2.5, 3, 4]]}',
    b'{"instances": [[1, 2, 3], [4, 5, 6, 7, 8]]}',
    b'{"instances": [[1, 2, 3, [4]]]}',
    b'{"instances": [[[1, 2, 3, 4]]]}',
    b'{"instances": [[1, 2, "3", 4]]}',
    b'{"instances": [[1, 2, null, 4]]}',
    b'{"instances": [[true, 2, 3, 4]]}',
    b'{"instances": [[1, 2, 3, 1e400]]}',
    b'{"instances": [[1, 2, 3, 4]], "method": "transform"}',
    b'{"instances": [[1, 2, 3, 4]], "parameters": {"a": [1]}}',
    b'{"instances": []}',
    b'{"instances": [1, 2, 3, 4]}',
    b"[[1, 2, 3, 4]]",
    b"not json",
]


@pytest.mark.parametrize("body", FAST_BODIES)
def test_fast_path_decodes_exactly_like_the_orjson_path(model, body):
    """The simdjson fast path either declines or gives the very array (and method) the orjson
    path gives; errors always come from the orjson path."""
    try:
        slow = protocols.decode_v1(codec.parse_json(body), model)
    except InvalidInput as exc:
        slow = exc
    fast = codec.fast_rows(body, ("instances", "inputs"), model.n_features)
    if fast is not None:
        assert not isinstance(slow, InvalidInput) or "'method' must be" in str(slow)
        if not isinstance(slow, InvalidInput):
            assert fast[0].dtype == slow[0].dtype and np.array_equal(fast[0], slow[0])
    try:
        both = protocols.decode_v1_body(body, model)
    except InvalidInput as exc:
        assert isinstance(slow, InvalidInput) and str(exc) == str(slow)
    else:
        assert not isinstance(slow, InvalidInput)
        assert both[1] == slow[1] and np.array_equal(both[0], slow[0])


def test_fast_path_is_taken_for_plain_rows(model):
    x = np.random.default_rng(0).random((32, 4))
    fast = codec.fast_rows(orjson.dumps({"data": x.tolist()}), ("data",), 4)
    assert fast is not None and np.array_equal(fast[0], x)  # JSON floats round-trip exactly
