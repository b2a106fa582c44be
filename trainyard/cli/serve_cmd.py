"""`trainyard serve --model PATH --name NAME`: the model server, in the foreground.

Azure ML `POST /score`, KServe V1 `POST /v1/models/NAME:predict`, the Open Inference Protocol
(V2) under `/v2/` and over gRPC (`--grpc-port`), and Prometheus metrics on `/metrics`.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from trainyard.runtime.serving.config import add_arguments

    p = sub.add_parser(
        "serve",
        help="serve a scikit-learn model (Azure ML /score, KServe V1, Open Inference Protocol on HTTP and gRPC)",
    )
    add_arguments(p)
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    from trainyard.runtime.serving.config import ServeConfig
    from trainyard.runtime.serving.server import run

    return run(ServeConfig.from_args(args))
