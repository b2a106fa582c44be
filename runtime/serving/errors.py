"""Every error the model server can answer with, and the one map from error to status: the HTTP
status, and the gRPC status code of the same error.

Handlers raise these; only `app.py` (HTTP, through `to_response`) and `grpc_service.py` (gRPC,
through `grpc_status`) turn them into answers, so a status is decided in exactly one place (the
kserve `errors.py` habit). Each message is
meant for the client: it names what was wrong with the request and, where it helps, what was
expected.
"""

from __future__ import annotations

import orjson


class ServingError(Exception):
    """Base of every error a client may see. `str(exc)` is the message sent back."""


class InvalidInput(ServingError):
    """The request is well-formed HTTP but its body is not what the protocol or model expects:
    not JSON, a missing key, a wrong shape, a wrong number of features, a wrong dtype."""


class PayloadTooLarge(ServingError):
    """The body is larger than the server's configured maximum."""


class ModelNotFound(ServingError):
    """The URL names a model (or model version) this server does not serve."""


class RouteNotFound(ServingError):
    """No endpoint at this path."""


class MethodNotAllowed(ServingError):
    """The path exists but not for this HTTP method."""

    def __init__(self, message: str, allowed: tuple[str, ...]):
        super().__init__(message)
        self.allowed = allowed


class ModelNotReady(ServingError):
    """The model is still loading (or failed to load): readiness means loaded."""


class InferenceError(ServingError):
    """The model raised while predicting on input that passed validation."""


STATUS: dict[type[ServingError], int] = {
    InvalidInput: 400,
    RouteNotFound: 404,
    ModelNotFound: 404,
    MethodNotAllowed: 405,
    PayloadTooLarge: 413,
    InferenceError: 500,
    ModelNotReady: 503,
}


# gRPC status code names (grpc.StatusCode members; named here so this module needs no grpc).
GRPC_STATUS: dict[type[ServingError], str] = {
    InvalidInput: "INVALID_ARGUMENT",
    RouteNotFound: "UNIMPLEMENTED",
    ModelNotFound: "NOT_FOUND",
    MethodNotAllowed: "UNIMPLEMENTED",
    PayloadTooLarge: "RESOURCE_EXHAUSTED",
    InferenceError: "INTERNAL",
    ModelNotReady: "UNAVAILABLE",
}


def status_of(exc: BaseException) -> int:
    """The HTTP status for `exc`; anything that is not a ServingError is a 500."""
    for cls in type(exc).__mro__:
        code = STATUS.get(cls)  # type: ignore[arg-type]
        if code is not None:
            return code
    return 500


def to_response(exc: BaseException) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    """(status, JSON body, extra headers) for `exc`. The body is `{"error": message}`, the
    shape KServe and MLServer clients already parse."""
    status = status_of(exc)
    if isinstance(exc, ServingError):
        message = str(exc)
    else:  # a bug of ours: say what kind, never a traceback
        message = f"internal error: {type(exc).__name__}: {exc}"
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(exc, MethodNotAllowed):
        headers.append((b"allow", ", ".join(exc.allowed).encode()))
    if isinstance(exc, PayloadTooLarge):
        # The rest of the body is not read: the connection cannot be reused.
        headers.append((b"connection", b"close"))
    return status, orjson.dumps({"error": message}), headers


def grpc_status(exc: BaseException) -> tuple[str, str]:
    """(gRPC status code name, message) for `exc`; anything that is not a ServingError is INTERNAL."""
    for cls in type(exc).__mro__:
        code = GRPC_STATUS.get(cls)  # type: ignore[arg-type]
        if code is not None:
            return code, str(exc)
    return "INTERNAL", f"internal error: {type(exc).__name__}: {exc}"
