"""Model-server settings: one dataclass, filled from command-line flags whose defaults come
from `TRAINYARD_SERVE_*` environment variables (so a Deployment can set either).

Import-light on purpose: the CLI builds its parser from here without loading numpy or uvicorn.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BODY = 16 * 1024 * 1024
DEFAULT_GRPC_PORT = 8081  # KServe's gRPC port


@dataclass(frozen=True)
class ServeConfig:
    model: Path
    name: str
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int = DEFAULT_GRPC_PORT  # 0: no gRPC
    model_version: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_batch_rows: int = 1024
    log_level: str = "info"
    drain_seconds: float = 0.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeConfig:
        return cls(
            model=Path(args.model),
            name=args.name,
            host=args.host,
            port=args.port,
            grpc_port=args.grpc_port,
            model_version=args.model_version,
            max_body_bytes=args.max_body_bytes,
            max_batch_rows=args.max_batch_rows,
            log_level=args.log_level,
            drain_seconds=args.drain_seconds,
        )


def add_arguments(parser: argparse.ArgumentParser, environ: dict[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ

    def default(key: str, value):
        return env.get(f"TRAINYARD_SERVE_{key}", value)

    parser.add_argument(
        "--model",
        required="TRAINYARD_SERVE_MODEL" not in env,
        default=default("MODEL", None),
        help="the model file (joblib or pickle) [$TRAINYARD_SERVE_MODEL]",
    )
    parser.add_argument(
        "--name",
        required="TRAINYARD_SERVE_NAME" not in env,
        default=default("NAME", None),
        help="the model name used in URLs [$TRAINYARD_SERVE_NAME]",
    )
    parser.add_argument(
        "--host",
        default=default("HOST", "127.0.0.1"),
        help="address to bind (default 127.0.0.1; 0.0.0.0 in a pod) [$TRAINYARD_SERVE_HOST]",
    )
    parser.add_argument(
        "--port", type=int, default=int(default("PORT", 8080)), help="port (default 8080) [$TRAINYARD_SERVE_PORT]"
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=int(default("GRPC_PORT", DEFAULT_GRPC_PORT)),
        help=f"port of the Open Inference Protocol over gRPC, on the same host (default {DEFAULT_GRPC_PORT}; "
        "0: no gRPC) [$TRAINYARD_SERVE_GRPC_PORT]",
    )
    parser.add_argument(
        "--model-version",
        default=default("MODEL_VERSION", None),
        help="version reported by V2 metadata and accepted in /versions/V paths",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=int(default("MAX_BODY_BYTES", DEFAULT_MAX_BODY)),
        help="larger request bodies get 413, larger gRPC messages RESOURCE_EXHAUSTED (default 16 MiB)",
    )
    parser.add_argument(
        "--max-batch-rows",
        type=int,
        default=int(default("MAX_BATCH_ROWS", 1024)),
        help="most rows in one call into the model when batching requests (default 1024)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=float(default("DRAIN_SECONDS", 0)),
        help="on SIGTERM, keep serving this long answering `Connection: close` and not "
        "ready, so clients leave their keep-alive connections, then stop (default 0)",
    )
    parser.add_argument(
        "--log-level", default=default("LOG_LEVEL", "info"), choices=["debug", "info", "warning", "error"]
    )
