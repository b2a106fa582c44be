"""Install the Helm chart `charts/trainyard` on a cluster: helm + kubectl invocations, and the
values for each kind of cluster as pure functions (tested as data in tests/unit/test_chart_values.py).

- **local real node** (`trainyard local up --real-node`): images imported into its containerd
  (pullPolicy Never), MinIO on a hostPath PersistentVolume under the cluster's state directory
  (no storage provisioner), the node's content cache there too.
- **kind**: images loaded with `kind load image-archive`, MinIO on a PVC of kind's `standard`
  (local-path) class, exposed as NodePort 30900, which kind-config.yaml maps to localhost:9000.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "trainyard"
RELEASE = "trainyard"
NAMESPACE = "trainyard"


class ChartError(RuntimeError):
    pass


def merge(base: dict, extra: dict) -> dict:
    """Deep merge of Helm values (extra wins)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def local_values(image_values: dict, state_dir: Path) -> dict:
    """Values for the local real node (see the module doc)."""
    return merge(
        image_values,
        {
            "runtime": {"nodeCachePath": str(state_dir / "node" / "cache")},
            "objectStore": {
                "minio": {
                    "persistence": {"type": "hostPath", "size": "10Gi", "hostPath": str(state_dir / "minio-data")},
                    # One small machine: leave CPU for training and serving.
                    "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
                }
            },
            "operator": {"resources": {"requests": {"cpu": "50m", "memory": "192Mi"}}},
        },
    )


def kind_values(image_values: dict) -> dict:
    return merge(
        image_values,
        {
            "objectStore": {
                "minio": {
                    "persistence": {"type": "pvc", "storageClass": "standard"},
                    "service": {"type": "NodePort", "nodePort": 30900},
                }
            },
        },
    )


@dataclasses.dataclass
class Helm:
    helm: str
    kubectl: str
    kubeconfig: Path
    namespace: str = NAMESPACE
    release: str = RELEASE

    def _run(
        self, argv: list[str], *, what: str, timeout: float = 900, input: str | None = None
    ) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input)
        if proc.returncode != 0:
            raise ChartError(f"{what} failed:\n{(proc.stderr or proc.stdout)[-3000:]}")
        return proc

    def helm_cmd(self, *args: str) -> list[str]:
        return [self.helm, "--kubeconfig", str(self.kubeconfig), "-n", self.namespace, *args]

    def kubectl_cmd(self, *args: str) -> list[str]:
        return [self.kubectl, "--kubeconfig", str(self.kubeconfig), *args]

    def _recover_interrupted(self) -> None:
        """A release left pending by an interrupted helm (Ctrl-C, a killed job) blocks every later
        operation: roll an upgrade back, remove an install."""
        proc = subprocess.run(self.helm_cmd("status", self.release, "-o", "json"), capture_output=True, text=True)
        if proc.returncode != 0:
            return
        info = json.loads(proc.stdout)
        state = info.get("info", {}).get("status", "")
        if state == "pending-install":
            self._run(self.helm_cmd("uninstall", self.release, "--wait"), what="helm uninstall (interrupted install)")
        elif state.startswith("pending-"):
            self._run(self.helm_cmd("rollback", self.release, "--wait"), what="helm rollback (interrupted upgrade)")

    def install(self, values: dict, *, timeout_s: int = 600) -> str:
        """`helm upgrade --install --wait`: a first install and an in-place upgrade alike."""
        self._recover_interrupted()
        with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="trainyard-values-") as fh:
            json.dump(values, fh)
            fh.flush()
            proc = self._run(
                self.helm_cmd(
                    "upgrade",
                    "--install",
                    self.release,
                    str(CHART),
                    "--create-namespace",
                    "-f",
                    fh.name,
                    "--wait",
                    f"--timeout={timeout_s}s",
                ),
                what="helm upgrade --install",
                timeout=timeout_s + 60,
            )
        return proc.stdout

    def uninstall(self, *, timeout_s: int = 300) -> None:
        self._run(
            self.helm_cmd("uninstall", self.release, "--wait", f"--timeout={timeout_s}s"),
            what="helm uninstall",
            timeout=timeout_s + 60,
        )

    def status(self) -> dict:
        return json.loads(self._run(self.helm_cmd("status", self.release, "-o", "json"), what="helm status").stdout)

    def store_credentials(self) -> tuple[str, str]:
        """(access key, secret key) of the chart's MinIO."""
        out = self._run(
            self.kubectl_cmd("get", "secret", f"{self.release}-store", "-n", self.namespace, "-o", "json"),
            what="reading the store Secret",
        ).stdout
        import base64

        data = json.loads(out)["data"]
        return base64.b64decode(data["accessKey"]).decode(), base64.b64decode(data["secretKey"]).decode()

    def wait_operator_ready(self, timeout: float = 300) -> None:
        self._run(
            self.kubectl_cmd(
                "rollout",
                "status",
                f"deploy/{self.release}-operator",
                "-n",
                self.namespace,
                f"--timeout={int(timeout)}s",
            ),
            what="operator rollout",
            timeout=timeout + 30,
        )


class PortForward:
    """`kubectl port-forward` to a Service on 127.0.0.1, stopped by PID (works on kind and the
    local node alike)."""

    def __init__(self, kubectl_cmd: list[str], namespace: str, target: str, remote_port: int):
        from trainyard.local.processes import free_port

        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                *kubectl_cmd,
                "port-forward",
                "-n",
                namespace,
                "--address=127.0.0.1",
                target,
                f"{self.port}:{remote_port}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        from trainyard.local.processes import port_listening

        while not port_listening(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read() if self.proc.poll() is not None else "timed out"
                self.stop()
                raise ChartError(f"kubectl port-forward {target} failed: {err}")
            time.sleep(0.2)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> PortForward:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
