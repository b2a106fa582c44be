#!/usr/bin/env python
"""Model-server benchmark: trainyard's server against the KServe sklearn pattern and MLServer.

All three serve the same LogisticRegression trained on MNIST (the t10k IDX files under
/work/shared/data/mnist, scaled to [0, 1] as in the Azure ML tutorial; scikit-learn's digits
when that folder is absent). Each server process is pinned to core 0 and `wrk` (one thread)
to core 1; one cell per protocol x batch (1, 32 rows per request) x connections (1, 16).
All servers run for the whole benchmark (idle but the one under load) and are measured back
to back within each cell, so drift on a shared machine hits them alike.

- trainyard: `python -m trainyard.runtime.serving`, measured on KServe V1 (compared with
  KServe) and on V2 (compared with MLServer), so each ratio compares the same protocol.
- KServe: `kserve` from PyPI, the model wrapped in `kserve.Model` exactly as its sklearnserver
  does (`get_predict_input` → `predict` → `get_predict_response`), `ModelServer` defaults.
- MLServer 1.7 + mlserver-sklearn, its defaults (one parallel inference worker).

The peers are installed into their own virtualenvs, ~/.cache/trainyard/bench-venv-<name>,
created on first use. Baselines are measured in the same run; the script prints ratios and
whether each goal is met, and exits 1 only if some server's predictions differ from
`model.predict` on the same rows.

    python benchmarks/bench_serving.py [--duration 6] [--servers trainyard,kserve,mlserver]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("TRAINYARD_CACHE", Path.home() / ".cache" / "trainyard"))
MNIST_DIR = Path("/work/shared/data/mnist")
NAME = "mnist"
PEERS = {
    "kserve": ["kserve==0.21.0"],
    # uvloop 0.22 made get_event_loop() raise without a running loop; MLServer 1.7's inference
    # workers call it at start and die.
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22"],
}
CORES = os.cpu_count() or 1

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "socket_errors": %d, ' ..
    '"non2xx": %d, "p50_us": %.1f, "p99_us": %.1f}\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))
end
"""

KSERVE_RUNNER = r"""
import sys, joblib
from kserve import Model, ModelServer
from kserve.utils.utils import get_predict_input, get_predict_response

class SKLearnModel(Model):  # as kserve's sklearnserver/model.py
    def __init__(self, name, path):
        super().__init__(name)
        self.path, self.ready = path, False
    def load(self):
        self._model = joblib.load(self.path)
        self.ready = True
        return self.ready
    def predict(self, payload, headers=None):
        instances = get_predict_input(payload)
        result = self._model.predict(instances)
        return get_predict_response(payload, result, self.name)

model = SKLearnModel(sys.argv[1], sys.argv[2])
model.load()
ModelServer(http_port=int(sys.argv[3]), grpc_port=int(sys.argv[4]), workers=1).start([model])
"""


# -- data and model -------------------------------------------------------------------------


def load_data(folder: Path) -> tuple[np.ndarray, np.ndarray, str]:
    images, labels = folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    if images.exists() and labels.exists():
        with gzip.open(images) as f:
            _magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
            x = np.frombuffer(f.read(), dtype=np.uint8).reshape(n, rows * cols)
        with gzip.open(labels) as f:
            f.read(8)
            y = np.frombuffer(f.read(), dtype=np.uint8).astype(np.int64)
        return x / 255.0, y, f"MNIST t10k from {folder} ({n} images of {rows}x{cols})"
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x / 16.0, y, f"scikit-learn digits ({len(x)} images of 8x8; {folder} not found)"


def train(x: np.ndarray, y: np.ndarray):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return LogisticRegression(max_iter=100).fit(x, y)


# -- processes ------------------------------------------------------------------------------


def ensure_venv(name: str) -> Path:
    """~/.cache/trainyard/bench-venv-<name> with the peer installed, scikit-learn and joblib
    pinned to this interpreter's versions (so the same pickle loads)."""
    import joblib
    import sklearn

    reqs = PEERS[name] + [f"scikit-learn=={sklearn.__version__}", f"joblib=={joblib.__version__}"]
    venv = CACHE / f"bench-venv-{name}"
    marker = venv / "trainyard-requirements.txt"
    python = venv / "bin" / "python"
    if python.exists() and marker.exists() and marker.read_text().split() == reqs:
        return python
    print(f"installing {' '.join(reqs)} into {venv} (once) ...", file=sys.stderr)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *reqs], check=True)
    marker.write_text("\n".join(reqs) + "\n")
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if CORES >= 2 and shutil.which("taskset") else []


class Server:
    def __init__(self, label: str, cmd: list[str], *, cwd: Path, port: int, ready_path: str):
        self.label, self.port = label, port
        self.log = cwd / f"{label}.log"
        self.proc = subprocess.Popen(
            pin(0) + cmd, cwd=cwd, stdout=self.log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{label} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url(ready_path), timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{label} not ready within 120 s:\n{self.log.read_text()[-3000:]}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        """SIGTERM to the server's own process group (MLServer forks its worker), then SIGKILL."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def start(label: str, model_path: Path, work: Path) -> Server:
    port = free_port()
    if label == "trainyard":
        cmd = [
            sys.executable,
            "-m",
            "trainyard.runtime.serving",
            "--model",
            str(model_path),
            "--name",
            NAME,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        return Server(label, cmd, cwd=work, port=port, ready_path=f"/v2/models/{NAME}/ready")
    if label == "kserve":
        runner = work / "kserve_runner.py"
        runner.write_text(KSERVE_RUNNER)
        cmd = [str(ensure_venv("kserve")), str(runner), NAME, str(model_path), str(port), str(free_port())]
        return Server(label, cmd, cwd=work, port=port, ready_path=f"/v1/models/{NAME}")
    if label == "mlserver":
        repo = work / "mlserver"
        (repo / NAME).mkdir(parents=True, exist_ok=True)
        shutil.copy(model_path, repo / NAME / "model.joblib")
        (repo / "settings.json").write_text(
            json.dumps({"host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_port": free_port()})
        )
        (repo / NAME / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": NAME,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib"},
                }
            )
        )
        mlserver = ensure_venv("mlserver").parent / "mlserver"
        return Server(
            label, [str(mlserver), "start", str(repo)], cwd=work, port=port, ready_path=f"/v2/models/{NAME}/ready"
        )
    raise ValueError(label)


# -- requests -------------------------------------------------------------------------------


def body(protocol: str, rows: np.ndarray) -> bytes:
    if protocol == "v1":
        return json.dumps({"instances": rows.tolist()}).encode()
    return json.dumps(
        {"inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP64", "data": rows.ravel().tolist()}]}
    ).encode()


def path(protocol: str) -> str:
    return f"/v1/models/{NAME}:predict" if protocol == "v1" else f"/v2/models/{NAME}/infer"


def predict_over_http(server: Server, protocol: str, rows: np.ndarray) -> np.ndarray:
    req = urllib.request.Request(
        server.url(path(protocol)), data=body(protocol, rows), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        doc = json.loads(r.read())
    return np.asarray(doc["predictions"] if protocol == "v1" else doc["outputs"][0]["data"])


def check_predictions(server: Server, protocol: str, x: np.ndarray, expected: np.ndarray) -> bool:
    """Sequential batches of 32, then 64 single-row requests at once (which the trainyard
    server batches together): every answer must equal `model.predict` on the same rows."""
    n = min(256, len(x))
    got = np.concatenate([predict_over_http(server, protocol, x[i : i + 32]) for i in range(0, n, 32)])
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        single = list(pool.map(lambda i: predict_over_http(server, protocol, x[i : i + 1]), range(64)))
    return bool(np.array_equal(got, expected[:n]) and np.array_equal(np.concatenate(single), expected[:64]))


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


def wrk(server: Server, protocol: str, body_file: Path, lua: Path, *, conns: int, seconds: float) -> dict:
    cmd = pin(1) + [
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(lua),
        server.url(path(protocol)),
    ]
    proc = subprocess.run(
        cmd, env={**os.environ, "BENCH_BODY": str(body_file)}, capture_output=True, text=True, timeout=seconds + 60
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    out = proc.stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def measure(
    servers: dict[str, Server], x: np.ndarray, work: Path, lua: Path, *, seconds: int, warmup: int
) -> list[Cell]:
    """Every cell, with the servers that speak its protocol measured back to back (the
    machine is shared: interleaving keeps a slow minute from landing on one server only)."""
    speaks = {"trainyard": ("v1", "v2"), "kserve": ("v1",), "mlserver": ("v2",)}
    cells = []
    for protocol in ("v1", "v2"):
        for batch in (1, 32):
            body_file = work / f"{protocol}-{batch}.json"
            body_file.write_bytes(body(protocol, x[:batch]))
            group = [s for label, s in servers.items() if protocol in speaks[label]]
            for server in group:
                wrk(server, protocol, body_file, lua, conns=16, seconds=warmup)
            for conns in (1, 16):
                for server in group:
                    r = wrk(server, protocol, body_file, lua, conns=conns, seconds=seconds)
                    cell = Cell(
                        server.label,
                        protocol,
                        batch,
                        conns,
                        r["requests"] / (r["duration_us"] / 1e6),
                        r["p50_us"] / 1000,
                        r["p99_us"] / 1000,
                        r["socket_errors"] + r["non2xx"],
                    )
                    print(
                        f"  {cell.server:<10} {protocol}  batch {batch:>2}  conns {conns:>2}: {cell.rps:9.0f} req/s "
                        f"{cell.rows_per_s:10.0f} rows/s  p50 {cell.p50_ms:7.2f} ms  p99 {cell.p99_ms:7.2f} ms"
                        + (f"  ERRORS {cell.errors}" if cell.errors else ""),
                        flush=True,
                    )
                    cells.append(cell)
    return cells


# -- report ---------------------------------------------------------------------------------


def report(cells: list[Cell]) -> None:
    by = {(c.server, c.protocol, c.batch, c.conns): c for c in cells}
    print("\n== ratios (trainyard / peer, same protocol, same cell)")
    goals = []
    for peer, protocol, rps_goal in (("kserve", "v1", 2.0), ("mlserver", "v2", 4.0)):
        for batch in (1, 32):
            for conns in (1, 16):
                ours, theirs = by.get(("trainyard", protocol, batch, conns)), by.get((peer, protocol, batch, conns))
                if not ours or not theirs:
                    continue
                ratio = ours.rps / theirs.rps
                p99 = ours.p99_ms / theirs.p99_ms
                print(
                    f"  vs {peer:<8} {protocol} batch {batch:>2} conns {conns:>2}: req/s x{ratio:5.2f}  "
                    f"rows/s x{ratio:5.2f}  p99 x{p99:5.2f}"
                )
                if batch == 1:
                    goals.append((f"req/s at batch 1, {conns} conn >= {rps_goal}x {peer}", ratio >= rps_goal, ratio))
                if batch == 32 and peer == "kserve":
                    goals.append((f"rows/s at batch 32, {conns} conn >= 1.3x kserve", ratio >= 1.3, ratio))
                if conns == 16 and peer == "kserve":
                    goals.append((f"p99 at 16 conns, batch {batch} <= 0.5x kserve", p99 <= 0.5, p99))
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
        f"cores: {CORES} (servers pinned to core 0, wrk to core 1)"
        if pin(0)
        else "cores: 1 — not pinning; numbers are less meaningful"
    )

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
                for protocol in {"trainyard": ("v1", "v2"), "kserve": ("v1",), "mlserver": ("v2",)}[label]:
                    identical[f"{label} {protocol}"] = check_predictions(server, protocol, x, expected)
            cells = measure(running, x, work, lua, seconds=args.duration, warmup=args.warmup)
        finally:
            for server in running.values():
                server.stop()

    report(cells)
    print("\n== predictions identical to model.predict on the same rows")
    for key, ok in identical.items():
        print(f"  {key:<14} {'yes' if ok else 'NO'}")
    return 0 if all(identical.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
