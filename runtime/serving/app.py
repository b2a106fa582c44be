"""The ASGI application: routing, body limits, error responses and metrics, with no framework.

Routes are resolved with one dict lookup on the exact path for everything this server serves;
only unknown paths take the slower road that works out which 404 to give. A handler gets the
body and the request's headers and returns (status, body, response headers) or raises a
`ServingError`; `errors.to_response` is the only place an exception becomes a status code.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import orjson

from trainyard.runtime.serving import errors, oip, protocols
from trainyard.runtime.serving.batcher import MicroBatcher
from trainyard.runtime.serving.errors import (
    InvalidInput,
    MethodNotAllowed,
    ModelNotFound,
    ModelNotReady,
    PayloadTooLarge,
    RouteNotFound,
)
from trainyard.runtime.serving.metrics import ServerMetrics
from trainyard.runtime.serving.model import Model

log = logging.getLogger(__name__)

JSON = [(b"content-type", b"application/json")]
BINARY = b"application/octet-stream"
PROMETHEUS = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
DEFAULT_MAX_BODY = 16 * 1024 * 1024
_HEADER_LENGTH = oip.HEADER_LENGTH.lower().encode()

Headers = list[tuple[bytes, bytes]]
Handler = Callable[[bytes, Headers], Awaitable[tuple[int, bytes, Headers]]]


class ClientGone(Exception):
    """The client disconnected before its body arrived: nothing to answer."""


class ServingApp:
    def __init__(
        self,
        model: Model,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        max_batch_rows: int = 1024,
        server_version: str = "0",
    ):
        self.model = model
        self.max_body_bytes = max_body_bytes
        self.metrics = ServerMetrics(model.name)
        self.batcher = MicroBatcher(lambda method: model.method(method), max_rows=max_batch_rows, observer=self.metrics)
        self.server_version = server_version
        # Set on SIGTERM (server.py): not ready, and every response closes its connection.
        self.draining = False
        n = model.name
        # path -> (protocol label for metrics, {HTTP method: handler})
        self.routes: dict[str, tuple[str, dict[str, Handler]]] = {}
        self._add("score", "/score", POST=self.score)
        self._add("azure", "/", GET=self.azure_health)
        self._add("v1", "/v1/models", GET=self.v1_models)
        self._add("v1", f"/v1/models/{n}", GET=self.model_ready_v1)
        self._add("v1", f"/v1/models/{n}:predict", POST=self.v1_predict)
        self._add("v2", "/v2", GET=self.v2_server)
        self._add("v2", "/v2/health/live", GET=self.live)
        self._add("v2", "/v2/health/ready", GET=self.ready)
        versions = [""] + ([f"/versions/{model.version}"] if model.version else [])
        for v in versions:
            self._add("v2", f"/v2/models/{n}{v}", GET=self.v2_model)
            self._add("v2", f"/v2/models/{n}{v}/ready", GET=self.model_ready_v2)
            self._add("v2", f"/v2/models/{n}{v}/infer", POST=self.v2_infer)
        self._add("metrics", "/metrics", GET=self.prometheus)

    def _add(self, protocol: str, path: str, **methods: Handler) -> None:
        self.routes[path] = (protocol, methods)

    # -- ASGI --------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await _lifespan(receive, send)
            return
        started = time.perf_counter()
        route = self.routes.get(scope["path"])
        protocol = route[0] if route else "other"
        try:
            if route is None:
                raise self._not_found(scope["path"])
            handler = route[1].get(scope["method"])
            if handler is None:
                if scope["method"] == "HEAD" and "GET" in route[1]:
                    handler = route[1]["GET"]
                else:
                    raise MethodNotAllowed(
                        f"{scope['method']} is not allowed on {scope['path']}; use {' or '.join(route[1])}",
                        tuple(route[1]),
                    )
            body = await self._body(scope, receive) if scope["method"] == "POST" else b""
            status, payload, headers = await handler(body, scope["headers"])
        except ClientGone:
            return
        except Exception as exc:
            status, payload, headers = errors.to_response(exc)
            headers += JSON
            if status >= 500 and not isinstance(exc, ModelNotReady):
                log.error("%s %s failed", scope["method"], scope["path"], exc_info=exc)
        headers = [*headers, (b"content-length", b"%d" % len(payload))]
        if self.draining:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload if scope["method"] != "HEAD" else b""})
        self.metrics.request(protocol, status, time.perf_counter() - started)

    async def _body(self, scope, receive) -> bytes:
        limit = self.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise InvalidInput("Content-Length is not a number") from None
                if declared > limit:
                    raise PayloadTooLarge(
                        f"request body of {declared} bytes is larger than the limit of {limit} bytes (--max-body-bytes)"
                    )
                break
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        if not message.get("more_body"):
            return body
        chunks, size = [body], len(body)
        while message.get("more_body"):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body is larger than the limit of {limit} bytes (--max-body-bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    def _not_found(self, path: str) -> Exception:
        for prefix in ("/v1/models/", "/v2/models/"):
            if path.startswith(prefix):
                rest = path[len(prefix) :]
                name = rest.split("/", 1)[0].split(":", 1)[0]
                version = rest.split("/versions/", 1)[1].split("/", 1)[0] if "/versions/" in rest else None
                try:
                    oip.check_target(self.model, name, version)
                except ModelNotFound as exc:
                    return exc
        return RouteNotFound(
            f"no endpoint at {path}; see /v2/models/{self.model.name}, /v1/models/{self.model.name}:predict or /score"
        )

    def _require_ready(self) -> None:
        if not self.model.ready:
            raise ModelNotReady(f"model {self.model.name!r} is not loaded yet")

    # -- handlers ----------------------------------------------------------------------------

    async def score(self, body: bytes, _headers: Headers):
        self._require_ready()
        x, method = protocols.decode_score_body(body, self.model)
        return 200, protocols.encode_score(await self.batcher.submit(method, x)), JSON

    async def v1_predict(self, body: bytes, _headers: Headers):
        self._require_ready()
        x, method = protocols.decode_v1_body(body, self.model)
        return 200, protocols.encode_v1(await self.batcher.submit(method, x)), JSON

    async def v2_infer(self, body: bytes, headers: Headers):
        self._require_ready()
        header_length = next((v for k, v in headers if k == _HEADER_LENGTH), None)
        req = oip.decode_http(body, header_length, self.model)
        results = [await self.batcher.submit(out.name, req.x) for out in req.outputs]
        payload, json_length = oip.encode_http(self.model, req, results)
        if json_length is None:
            return 200, payload, JSON
        return 200, payload, [(b"content-type", BINARY), (_HEADER_LENGTH, b"%d" % json_length)]

    async def live(self, _body: bytes, _headers: Headers):
        return 200, b'{"live":true}', JSON

    async def ready(self, _body: bytes, _headers: Headers):
        ok = self.model.healthy() and not self.draining
        return (200 if ok else 503), orjson.dumps({"ready": ok}), JSON

    async def azure_health(self, _body: bytes, _headers: Headers):
        return 200, b'"Healthy"', JSON

    async def v2_server(self, _body: bytes, _headers: Headers):
        doc = {"name": "trainyard", "version": self.server_version, "extensions": oip.EXTENSIONS}
        return 200, orjson.dumps(doc), JSON

    async def v2_model(self, _body: bytes, _headers: Headers):
        self._require_ready()
        return 200, orjson.dumps(oip.metadata(self.model)), JSON

    async def model_ready_v2(self, _body: bytes, _headers: Headers):
        ok = self.model.healthy()
        return (200 if ok else 503), orjson.dumps({"name": self.model.name, "ready": ok}), JSON

    async def model_ready_v1(self, _body: bytes, _headers: Headers):
        ok = self.model.healthy()
        return (200 if ok else 503), orjson.dumps({"name": self.model.name, "ready": ok}), JSON

    async def v1_models(self, _body: bytes, _headers: Headers):
        return 200, orjson.dumps({"models": [self.model.name]}), JSON

    async def prometheus(self, _body: bytes, _headers: Headers):
        self.metrics.ready = self.model.ready
        return 200, self.metrics.render(), PROMETHEUS


async def _lifespan(receive, send) -> None:
    # Loading is driven by server.py (so the port answers liveness while a model loads); the
    # lifespan protocol is acknowledged for servers that insist on it.
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
