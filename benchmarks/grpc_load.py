#!/usr/bin/env python
"""A small closed-loop gRPC load generator (ghz-style) for the Open Inference Protocol, on grpc.aio.

    python benchmarks/grpc_load.py --target 127.0.0.1:8081 --request req.bin --conns 16 --seconds 6

`--request` is a serialized `inference.ModelInferRequest`. It is sent as bytes, and responses are
kept as bytes (no protobuf work in the loop), over `--conns` connections (a channel each, with a
subchannel pool of its own so none share a TCP connection), each with one call in flight at a
time, like wrk's connections. bench_serving.py runs it against every server it measures over gRPC,
so they all face the same client. Prints one line: `RESULT {"requests": ..., "duration_us": ...,
"errors": ..., "p50_us": ..., "p99_us": ...}`; a call that fails counts as an error, with the
first failure's status on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time

import grpc

METHOD = "/inference.GRPCInferenceService/ModelInfer"
MAX_MESSAGE = 64 * 1024 * 1024


async def run(target: str, request: bytes, *, conns: int, seconds: float) -> dict:
    options = [
        ("grpc.use_local_subchannel_pool", 1),
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_MESSAGE),
    ]
    channels = [grpc.aio.insecure_channel(target, options=options) for _ in range(conns)]
    latencies: list[float] = []
    errors = 0
    first_error: list[str] = []
    try:
        for ch in channels:
            await asyncio.wait_for(ch.channel_ready(), timeout=10)
        deadline = time.perf_counter() + seconds

        async def worker(channel) -> None:
            nonlocal errors
            call = channel.unary_unary(METHOD)  # no serializers: bytes in, bytes out
            while True:
                started = time.perf_counter()
                if started >= deadline:
                    return
                try:
                    await call(request, timeout=10)
                except grpc.aio.AioRpcError as exc:
                    errors += 1
                    if not first_error:
                        first_error.append(f"{exc.code().name}: {exc.details()}")
                    continue
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker(ch) for ch in channels))
        elapsed = time.perf_counter() - began
    finally:
        for ch in channels:
            await ch.close()
    if first_error:
        print(f"grpc_load: {errors} failed calls, first: {first_error[0]}", file=sys.stderr)
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1e6 if latencies else 0.0

    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * 1e6),
        "errors": errors,
        "p50_us": round(pct(0.50), 1),
        "p99_us": round(pct(0.99), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--request", required=True, help="a file holding one serialized ModelInferRequest")
    ap.add_argument("--conns", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=6)
    args = ap.parse_args(argv)
    with open(args.request, "rb") as f:
        request = f.read()
    work = run(args.target, request, conns=args.conns, seconds=args.seconds)
    try:  # the same loop the servers run on, when there
        import uvloop
    except ImportError:
        result = asyncio.run(work)
    else:
        result = uvloop.run(work)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
