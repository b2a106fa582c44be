"""The servers bench_serving.py measures, and the model they serve.

- trainyard: `python -m trainyard.runtime.serving`, HTTP and gRPC (`--grpc-port`).
- KServe: `kserve` from PyPI, the model wrapped in `kserve.Model` exactly as its sklearnserver
  does (`get_predict_input` → `predict` → `get_predict_response`), `ModelServer` defaults, HTTP
  and gRPC.
- MLServer 1.7 + mlserver-sklearn, its defaults (one parallel inference worker), HTTP.

The peers are installed into their own virtualenvs, ~/.cache/trainyard/bench-venv-<name>,
created on first use, with scikit-learn and joblib pinned to this interpreter's versions (so the
same pickle loads). Every server process is pinned to core 0 (load generators get core 1).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np

CACHE = Path(os.environ.get("TRAINYARD_CACHE", Path.home() / ".cache" / "trainyard"))
REPO = Path(__file__).resolve().parents[1]
# The shared data folder sits beside the repository; $TRAINYARD_MNIST_DIR points elsewhere.
MNIST_DIR = Path(os.environ.get("TRAINYARD_MNIST_DIR", REPO.parent / "shared" / "data" / "mnist"))
NAME = "mnist"
PEERS = {
    "kserve": ["kserve==0.21.0"],
    # uvloop 0.22 made get_event_loop() raise without a running loop; MLServer 1.7's inference
    # workers call it at start and die.
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22"],
}
CORES = os.cpu_count() or 1

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
    def __init__(self, label: str, cmd: list[str], *, cwd: Path, port: int, ready_path: str, grpc_port: int = 0):
        self.label, self.port, self.grpc_port = label, port, grpc_port
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
    port, grpc_port = free_port(), free_port()
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
            "--grpc-port",
            str(grpc_port),
            "--log-level",
            "warning",
        ]
        return Server(label, cmd, cwd=work, port=port, grpc_port=grpc_port, ready_path=f"/v2/models/{NAME}/ready")
    if label == "kserve":
        runner = work / "kserve_runner.py"
        runner.write_text(KSERVE_RUNNER)
        cmd = [str(ensure_venv("kserve")), str(runner), NAME, str(model_path), str(port), str(grpc_port)]
        return Server(label, cmd, cwd=work, port=port, grpc_port=grpc_port, ready_path=f"/v1/models/{NAME}")
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
