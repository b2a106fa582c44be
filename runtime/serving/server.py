"""Run the model server: uvicorn's HTTP/1.1 (httptools parser) on uvloop, our raw ASGI app, and
the Open Inference Protocol over gRPC (grpc.aio) on its own port, on the same loop, over the same
model (`--grpc-port 0`: HTTP only).

The ports open at once and answer liveness; the model loads in a worker thread, and readiness
(`/v2/health/ready`, `/v2/models/NAME/ready`, `GET /v1/models/NAME`) turns 200 only once it is
loaded and probed. A model that cannot be loaded stops the server with exit status 1, so a pod
crash-loops with the reason in its log instead of sitting unready.

SIGTERM with `--drain-seconds N` (a pod sets 3): for N seconds the server keeps answering, but
readiness says 503 and every response carries `Connection: close`, so clients move their
keep-alive connections elsewhere instead of finding them closed under a request; then uvicorn's
graceful shutdown finishes what is in flight, and then gRPC's (calls in flight get
GRPC_GRACE_SECONDS). A second SIGTERM, or SIGINT, stops at once.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time

from trainyard.runtime.serving.config import ServeConfig

log = logging.getLogger("trainyard.serving")
GRPC_GRACE_SECONDS = 5.0


async def serve(config: ServeConfig) -> int:
    import uvicorn

    from trainyard import __version__
    from trainyard.runtime.serving.app import ServingApp
    from trainyard.runtime.serving.model import SklearnModel

    model = SklearnModel(config.name, config.model, config.model_version)
    app = ServingApp(
        model, max_body_bytes=config.max_body_bytes, max_batch_rows=config.max_batch_rows, server_version=__version__
    )
    server = _draining_server_class()(
        app,
        config.drain_seconds,
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            http="httptools",
            lifespan="off",
            access_log=False,
            log_config=None,
            log_level=config.log_level,
            server_header=False,
            timeout_keep_alive=75,  # above common load balancers' idle timeouts (60 s)
        ),
    )
    grpc_server = None
    if config.grpc_port:
        from trainyard.runtime.serving.grpc_service import build_server

        try:
            grpc_server = build_server(
                app, host=config.host, port=config.grpc_port, max_message_bytes=config.max_body_bytes
            )
        except OSError as exc:
            log.error("%s", exc)
            return 1
        await grpc_server.start()
    try:
        return await _serve_http(config, model, server)
    finally:
        if grpc_server is not None:
            await grpc_server.stop(GRPC_GRACE_SECONDS)


async def _serve_http(config: ServeConfig, model, server) -> int:
    serving = asyncio.ensure_future(server.serve())
    loading = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(None, model.load))
    await asyncio.wait({serving, loading}, return_when=asyncio.FIRST_COMPLETED)
    if not loading.done():  # the server stopped first: it could not bind, or was told to stop
        await serving
        return 0 if server.started else 1
    if loading.exception() is not None:
        exc = loading.exception()
        log.error("cannot load model %s from %s: %s: %s", config.name, config.model, type(exc).__name__, exc)
        server.should_exit = True
        await serving
        return 1
    log.info(
        "model %s ready: POST http://%s:%d/v2/models/%s/infer, /v1/models/%s:predict, /score%s",
        config.name,
        config.host,
        config.port,
        config.name,
        config.name,
        f"; gRPC inference.GRPCInferenceService on {config.host}:{config.grpc_port}" if config.grpc_port else "",
    )
    await serving
    return 0


@functools.lru_cache(maxsize=1)
def _draining_server_class():
    """uvicorn.Server with a drain phase on the first SIGTERM (uvicorn is imported lazily)."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def __init__(self, app, drain_seconds: float, config):
            super().__init__(config)
            self.app, self.drain_seconds, self.drain_until = app, drain_seconds, None

        def handle_exit(self, sig, frame) -> None:
            if sig != signal.SIGTERM or self.drain_seconds <= 0 or self.drain_until is not None:
                return super().handle_exit(sig, frame)
            self.app.draining = True
            self.drain_until = time.monotonic() + self.drain_seconds

        async def on_tick(self, counter: int) -> bool:
            if self.drain_until is not None and not self.should_exit:
                if not getattr(self, "_drain_logged", False):
                    self._drain_logged = True
                    log.info(
                        "SIGTERM: draining for %.1fs (not ready, Connection: close), then stopping", self.drain_seconds
                    )
                if time.monotonic() >= self.drain_until:
                    self.should_exit = True
            return await super().on_tick(counter)

    return DrainingServer


def run(config: ServeConfig) -> int:
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        return asyncio.run(serve(config))
    return uvloop.run(serve(config))
