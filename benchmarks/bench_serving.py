#!/usr/bin/env python
"""Model-server benchmark: trainyard's server against the KServe sklearn pattern and MLServer.

All three serve the same LogisticRegression trained on MNIST (the t10k IDX files under
../shared/data/mnist beside the repository, or $TRAINYARD_MNIST_DIR, scaled to [0, 1] as in
the Azure ML tutorial; scikit-learn's digits when that folder is absent). Each server process is
pinned to core 0 and the load generator to core 1; one cell per protocol x batch (1, 32 rows per
request) x connections (1, 16). All servers run for the whole benchmark (idle but the one under
load) and are measured back to back within each cell, so drift on a shared machine hits them
alike. The servers and how they are started: serving_servers.py.

Protocols (trainyard speaks all of them; each ratio compares the same protocol):
- `v1`: KServe V1 JSON (trainyard vs KServe), with wrk;
- `v2`: Open Inference Protocol JSON (trainyard vs MLServer), with wrk;
- `v2bin`: the same over HTTP with the binary tensor data extension, binary input and binary
  output, as tritonclient sends by default (trainyard vs its own `v2`), with wrk;
- `grpc`: the Open Inference Protocol over gRPC, `raw_input_contents` (trainyard vs KServe's
  gRPC server), with grpc_load.py, the same load generator for both.

The script prints ratios and whether each goal is met, and exits 1 only if some server's
predictions differ from `model.predict` on the same rows.

    python benchmarks/bench_serving.py [--duration 6] [--servers trainyard,kserve,mlserver]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from serving_servers import CORES, MNIST_DIR, NAME, PEERS, Server, ensure_venv, load_data, pin, start, train

HERE = Path(__file__).resolve().parent
SPEAKS = {"trainyard": ("v1", "v2", "v2bin", "grpc"), "kserve": ("v1", "grpc"), "mlserver": ("v2",)}
PROTOCOLS = ("v1", "v2", "v2bin", "grpc")

LUA = r"""
wrk.method = "POST"
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
local header_length = os.getenv("BENCH_HEADER_LENGTH")
if header_length and header_length ~= "" then
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = header_length
else
  wrk.headers["Content-Type"] = "application/json"
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "errors": %d, ' ..
    '"p50_us": %.1f, "p99_us": %.1f}\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status, latency:percentile(50), latency:percentile(99)))
end
"""


# -- requests -------------------------------------------------------------------------------


def body(protocol: str, rows: np.ndarray) -> tuple[bytes, int | None]:
    """(request body, JSON header length for v2bin) — for grpc, a serialized ModelInferRequest."""
    if protocol == "v1":
        return json.dumps({"instances": rows.tolist()}).encode(), None
    if protocol == "v2":
        tensor = {"name": "input-0", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}
        return json.dumps({"inputs": [tensor]}).encode(), None
    raw = np.ascontiguousarray(rows, dtype="<f8").tobytes()
    if protocol == "v2bin":
        tensor = {"name": "input-0", "shape": list(rows.shape), "datatype": "FP64"}
        tensor["parameters"] = {"binary_data_size": len(raw)}
        header = json.dumps({"inputs": [tensor], "parameters": {"binary_data_output": True}}).encode()
        return header + raw, len(header)
    from trainyard.runtime.serving import grpc_predict_v2_pb2 as pb

    req = pb.ModelInferRequest(model_name=NAME)
    req.inputs.add(name="input-0", datatype="FP64", shape=rows.shape)
    req.raw_input_contents.append(raw)
    return req.SerializeToString(), None


def path(protocol: str) -> str:
    return f"/v1/models/{NAME}:predict" if protocol == "v1" else f"/v2/models/{NAME}/infer"


def predict(server: Server, protocol: str, rows: np.ndarray) -> np.ndarray:
    data, header_length = body(protocol, rows)
    if protocol == "grpc":
        return _predict_grpc(server, data)
    headers = {"Content-Type": "application/json"}
    if header_length is not None:
        headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(header_length)}
    req = urllib.request.Request(server.url(path(protocol)), data=data, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        answer, json_length = r.read(), r.headers.get("Inference-Header-Content-Length")
    if protocol == "v1":
        return np.asarray(json.loads(answer)["predictions"])
    if json_length is None:
        return np.asarray(json.loads(answer)["outputs"][0]["data"])
    out = json.loads(answer[: int(json_length)])["outputs"][0]
    assert out["datatype"] == "INT64", out
    return np.frombuffer(answer[int(json_length) :], dtype="<i8")


def _predict_grpc(server: Server, request: bytes) -> np.ndarray:
    import grpc

    from trainyard.runtime.serving import grpc_predict_v2_pb2 as pb

    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        answer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")(request, timeout=30)
    resp = pb.ModelInferResponse.FromString(answer)
    out = resp.outputs[0]
    if resp.raw_output_contents:
        dtype = {"INT64": "<i8", "INT32": "<i4", "FP64": "<f8", "FP32": "<f4"}[out.datatype]
        return np.frombuffer(resp.raw_output_contents[0], dtype=dtype)
    return np.asarray(out.contents.int64_contents or out.contents.int_contents or out.contents.fp64_contents)


def check_predictions(server: Server, protocol: str, x: np.ndarray, expected: np.ndarray) -> bool:
    """Sequential batches of 32, then 64 single-row requests at once (which the trainyard
    server batches together): every answer must equal `model.predict` on the same rows."""
    n = min(256, len(x))
    got = np.concatenate([predict(server, protocol, x[i : i + 32]) for i in range(0, n, 32)])
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        single = list(pool.map(lambda i: predict(server, protocol, x[i : i + 1]), range(64)))
    return bool(np.array_equal(got, expected[:n]) and np.array_equal(np.concatenate(single), expected[:64]))


# -- load -----------------------------------------------------------------------------------


@dataclass
class Cell:
    server: str
    protocol: str
    batch: int
    conns: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rows_per_s(self) -> float:
        return self.rps * self.batch


def load(server: Server, protocol: str, body_file: Path, header_length, lua: Path, *, conns: int, seconds: float):
    if protocol == "grpc":
        cmd = [sys.executable, str(HERE / "grpc_load.py"), "--target", f"127.0.0.1:{server.grpc_port}"]
        cmd += ["--request", str(body_file), "--conns", str(conns), "--seconds", str(seconds)]
        env = dict(os.environ)
    else:
        cmd = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "-s", str(lua)]
        cmd.append(server.url(path(protocol)))
        env = {**os.environ, "BENCH_BODY": str(body_file), "BENCH_HEADER_LENGTH": str(header_length or "")}
    proc = subprocess.run(pin(1) + cmd, env=env, capture_output=True, text=True, timeout=seconds + 60)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def measure(servers: dict[str, Server], x: np.ndarray, work: Path, lua: Path, *, seconds: int, warmup: int):
    """Every cell, with the servers that speak its protocol measured back to back (the
    machine is shared: interleaving keeps a slow minute from landing on one server only)."""
    cells = []
    for protocol in PROTOCOLS:
        for batch in (1, 32):
            data, header_length = body(protocol, x[:batch])
            body_file = work / f"{protocol}-{batch}.body"
            body_file.write_bytes(data)
            group = [s for label, s in servers.items() if protocol in SPEAKS[label]]
            for server in group:
                load(server, protocol, body_file, header_length, lua, conns=16, seconds=warmup)
            for conns in (1, 16):
                for server in group:
                    r = load(server, protocol, body_file, header_length, lua, conns=conns, seconds=seconds)
                    cell = Cell(
                        server.label,
                        protocol,
                        batch,
                        conns,
                        r["requests"] / (r["duration_us"] / 1e6),
                        r["p50_us"] / 1000,
                        r["p99_us"] / 1000,
                        r["errors"],
                    )
                    print(
                        f"  {cell.server:<10} {protocol:<5}  batch {batch:>2}  conns {conns:>2}: {cell.rps:9.0f} req/s "
                        f"{cell.rows_per_s:10.0f} rows/s  p50 {cell.p50_ms:7.2f} ms  p99 {cell.p99_ms:7.2f} ms"
                        + (f"  ERRORS {cell.errors}" if cell.errors else ""),
                        flush=True,
                    )
                    cells.append(cell)
    return cells


# -- report ---------------------------------------------------------------------------------

# (ours, theirs, rows/s goal at batch 32 or None, req/s goal at batch 1 or None, p99 goal at 16 conns or None)
COMPARISONS = [
    (("trainyard", "v1"), ("kserve", "v1"), 1.3, 2.0, 0.5),
    (("trainyard", "v2"), ("mlserver", "v2"), None, 4.0, None),
    (("trainyard", "v2bin"), ("trainyard", "v2"), 3.0, 1.0, None),
    (("trainyard", "grpc"), ("kserve", "grpc"), 2.0, None, None),
    (("trainyard", "grpc"), ("trainyard", "v2"), None, 1.0, None),
]


def report(cells: list[Cell]) -> None:
    by = {(c.server, c.protocol, c.batch, c.conns): c for c in cells}
    print("\n== ratios (ours / baseline, same cell)")
    goals = []
    for ours_key, theirs_key, rows_goal, rps_goal, p99_goal in COMPARISONS:
        label = f"{'/'.join(ours_key)} vs {'/'.join(theirs_key)}"
        for batch in (1, 32):
            for conns in (1, 16):
                ours, theirs = by.get((*ours_key, batch, conns)), by.get((*theirs_key, batch, conns))
                if not ours or not theirs:
                    continue
                ratio = ours.rps / theirs.rps
                p50, p99 = ours.p50_ms / theirs.p50_ms, ours.p99_ms / theirs.p99_ms
                print(
                    f"  {label:<34} batch {batch:>2} conns {conns:>2}: rows/s x{ratio:5.2f}  "
                    f"p50 x{p50:5.2f}  p99 x{p99:5.2f}"
                )
                if batch == 32 and rows_goal:
                    goals.append(
                        (f"{label}: rows/s at batch 32, {conns} conn >= {rows_goal}x", ratio >= rows_goal, ratio)
                    )
                if batch == 1 and rps_goal:
                    goals.append((f"{label}: req/s at batch 1, {conns} conn >= {rps_goal}x", ratio >= rps_goal, ratio))
                if conns == 16 and p99_goal:
                    goals.append((f"{label}: p99 at 16 conns, batch {batch} <= {p99_goal}x", p99 <= p99_goal, p99))
    if goals:
        print("\n== goals")
        for text, ok, value in goals:
            print(f"  [{'met' if ok else 'MISSED'}] {text} (x{value:.2f})")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=6, help="seconds per measured cell (default 6)")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of load before each batch size")
    ap.add_argument("--servers", default="trainyard,kserve,mlserver")
    ap.add_argument("--mnist-dir", type=Path, default=MNIST_DIR)
    args = ap.parse_args(argv)
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    for peer in servers:
        if peer in PEERS:
            ensure_venv(peer)

    x, y, source = load_data(args.mnist_dir)
    started = time.monotonic()
    model = train(x, y)
    expected = model.predict(x[:256])
    print(
        f"data: {source}; LogisticRegression trained in {time.monotonic() - started:.1f}s, "
        f"training accuracy {model.score(x, y):.4f}"
    )
    print(
        f"cores: {CORES} (servers pinned to core 0, load generators to core 1)"
        if pin(0)
        else "cores: 1 — not pinning; numbers are less meaningful"
    )
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    cells: list[Cell] = []
    identical: dict[str, bool] = {}
    with tempfile.TemporaryDirectory(prefix="trainyard-bench-") as tmp:
        work = Path(tmp)  # also the servers' cwd: never the repo (its operator/ shadows stdlib)
        import joblib

        model_path = work / "model.joblib"
        joblib.dump(model, model_path)
        lua = work / "post.lua"
        lua.write_text(LUA)
        running: dict[str, Server] = {}
        try:
            for label in servers:  # all idle but one at a time under load, all on core 0
                running[label] = start(label, model_path, work)
            for label, server in running.items():
                for protocol in SPEAKS[label]:
                    identical[f"{label} {protocol}"] = check_predictions(server, protocol, x, expected)
            cells = measure(running, x, work, lua, seconds=args.duration, warmup=args.warmup)
        finally:
            for server in running.values():
                server.stop()

    report(cells)
    print(f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("\n== predictions identical to model.predict on the same rows")
    for key, ok in identical.items():
        print(f"  {key:<16} {'yes' if ok else 'NO'}")
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
