"""One map from domain errors to HTTP status codes, and the JSON error body."""

from __future__ import annotations

import orjson
import pytest

from trainyard.runtime.serving import errors


@pytest.mark.parametrize(
    "exc, status",
    [
        (errors.InvalidInput("bad"), 400),
        (errors.RouteNotFound("x"), 404),
        (errors.ModelNotFound("x"), 404),
        (errors.MethodNotAllowed("x", ("POST",)), 405),
        (errors.PayloadTooLarge("x"), 413),
        (errors.InferenceError("x"), 500),
        (errors.ModelNotReady("x"), 503),
        (KeyError("bug"), 500),
    ],
)
def test_status_codes(exc, status):
    assert errors.status_of(exc) == status
    assert errors.to_response(exc)[0] == status


def test_every_serving_error_has_a_status():
    subclasses = errors.ServingError.__subclasses__()
    assert subclasses and all(cls in errors.STATUS for cls in subclasses)


def test_body_carries_the_message_and_headers_follow_the_error():
    status, body, headers = errors.to_response(errors.InvalidInput("wrong number of features"))
    assert (status, orjson.loads(body), headers) == (400, {"error": "wrong number of features"}, [])
    assert (b"allow", b"GET, HEAD") in errors.to_response(errors.MethodNotAllowed("no", ("GET", "HEAD")))[2]
    assert (b"connection", b"close") in errors.to_response(errors.PayloadTooLarge("big"))[2]
    assert orjson.loads(errors.to_response(ValueError("oops"))[1]) == {"error": "internal error: ValueError: oops"}


@pytest.mark.parametrize(
    "exc, code",
    [
        (errors.InvalidInput("bad"), "INVALID_ARGUMENT"),
        (errors.ModelNotFound("x"), "NOT_FOUND"),
        (errors.PayloadTooLarge("x"), "RESOURCE_EXHAUSTED"),
        (errors.InferenceError("x"), "INTERNAL"),
        (errors.ModelNotReady("x"), "UNAVAILABLE"),
        (KeyError("bug"), "INTERNAL"),
    ],
)
def test_grpc_codes(exc, code):
    assert errors.grpc_status(exc)[0] == code


def test_every_serving_error_has_a_grpc_code_that_grpc_knows():
    import grpc

    assert all(cls in errors.GRPC_STATUS for cls in errors.ServingError.__subclasses__())
    assert all(grpc.StatusCode[name] for name in errors.GRPC_STATUS.values())
