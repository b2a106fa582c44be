"""Run the model server: uvicorn's HTTP/1.1 (httptools parser) on uvloop, our raw ASGI app.

The port opens at once and answers liveness; the model loads in a worker thread, and readiness
(`/v2/health/ready`, `/v2/models/NAME/ready`, `GET /v1/models/NAME`) turns 200 only once it is
loaded and probed. A model that cannot be loaded stops the server with exit status 1, so a pod
crash-loops with the reason in its log instead of sitting unready.
"""

from __future__ import annotations

import asyncio
import logging

from trainyard.runtime.serving.config import ServeConfig

log = logging.getLogger("trainyard.serving")


async def serve(config: ServeConfig) -> int:
    import uvicorn

    from trainyard import __version__
    from trainyard.runtime.serving.app import ServingApp
    from trainyard.runtime.serving.model import SklearnModel

    model = SklearnModel(config.name, config.model, config.model_version)
    app = ServingApp(model, max_body_bytes=config.max_body_bytes,
                     max_batch_rows=config.max_batch_rows, server_version=__version__)
    server = uvicorn.Server(uvicorn.Config(
        app, host=config.host, port=config.port, http="httptools", lifespan="off",
        access_log=False, log_config=None, log_level=config.log_level, server_header=False,
        timeout_keep_alive=75,  # above common load balancers' idle timeouts (60 s)
    ))
    serving = asyncio.ensure_future(server.serve())
    loading = asyncio.ensure_future(asyncio.get_running_loop().run_in_executor(None, model.load))
    await asyncio.wait({serving, loading}, return_when=asyncio.FIRST_COMPLETED)
    if not loading.done():  # the server stopped first: it could not bind, or was told to stop
        await serving
        return 0 if server.started else 1
    if loading.exception() is not None:
        exc = loading.exception()
        log.error("cannot load model %s from %s: %s: %s", config.name, config.model,
                  type(exc).__name__, exc)
        server.should_exit = True
        await serving
        return 1
    log.info("model %s ready: POST http://%s:%d/v2/models/%s/infer, /v1/models/%s:predict, /score",
             config.name, config.host, config.port, config.name, config.name)
    await serving
    return 0


def run(config: ServeConfig) -> int:
    logging.basicConfig(level=config.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; plain asyncio still works
        return asyncio.run(serve(config))
    return uvloop.run(serve(config))
