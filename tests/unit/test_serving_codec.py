"""Decoding /score and KServe V1 bodies into numpy, and the errors bad bodies get (V2: test_serving_oip.py)."""

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


def test_string_labels_encode_as_lists(model):
    labels = np.array(["setosa", "virginica"])
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
