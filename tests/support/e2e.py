"""Helpers of the e2e tier: requests to a model's endpoint through the API server's service
proxy (as on kind, where the host cannot reach ClusterIPs), the model's own `predict` in a pod of
the image it was trained with, and bounded waits on a resource's phase with its status on failure."""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tests.conftest import wait_for

LOCAL_PREDICT = r"""
import base64, gzip, io, json, os, sys
import joblib, numpy as np
from trainyard.storage.config import StoreConfig
from trainyard.storage.uri import parse_s3
uri = parse_s3(os.environ["MODEL_URI"])
cfg = StoreConfig.from_env()
data = cfg.client().get_object(uri.bucket, uri.key).read()
model = joblib.load(io.BytesIO(data))
rows = np.load(io.BytesIO(gzip.decompress(base64.b64decode(os.environ["ROWS_NPY_GZ_B64"]))))
print(json.dumps(model.predict(rows).tolist()))
"""


class ApiProxy:
    """POST JSON to `http:<service>:<port>` through the API server (client certificate auth)."""

    def __init__(self, kubeconfig: Path):
        cfg = yaml.safe_load(Path(kubeconfig).read_text())
        cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
        self.server = cluster["server"]
        self.ctx = ssl.create_default_context(cafile=cluster["certificate-authority"])
        self.ctx.load_cert_chain(user["client-certificate"], user["client-key"])

    def url(self, endpoint: str) -> str:
        host, path = endpoint.removeprefix("http://").split("/", 1)
        service, namespace = host.split(".")[:2]
        return f"{self.server}/api/v1/namespaces/{namespace}/services/http:{service}:80/proxy/{path}"

    def post(self, endpoint: str, body: dict, timeout: float = 30) -> tuple[int, object]:
        req = urllib.request.Request(
            self.url(endpoint),
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=timeout) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(errors="replace")[:500]


def wait_phase(
    kubectl,
    kind: str,
    name: str,
    ns: str,
    want: str,
    *,
    timeout: float,
    fail: tuple[str, ...] = ("Failed",),
    check=None,
) -> dict:
    """Poll (bounded) until `.status.phase` is `want` (and `check(obj)` holds); fail fast with the
    whole status when the phase is a failing one."""

    def probe():
        proc = kubectl.run("get", kind, name, "-n", ns, "-o", "json", check=False)
        if proc.returncode != 0:
            return None
        obj = json.loads(proc.stdout)
        phase = (obj.get("status") or {}).get("phase")
        if phase in fail:
            raise AssertionError(f"{kind}/{name} is {phase}: {json.dumps(obj.get('status'), indent=1)[:4000]}")
        return obj if phase == want and (check is None or check(obj)) else None

    return wait_for(probe, what=f"{kind}/{name} in {ns} to be {want}", timeout=timeout, interval=1.0)


def copy_store_secret(kubectl, release_ns: str, ns: str, name: str = "e2e-store") -> str:
    src = json.loads(kubectl.run("get", "secret", "trainyard-store", "-n", release_ns, "-o", "json").stdout)
    kubectl.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "data": src["data"]}, ns)
    return name


def local_predict(
    kubectl, ns: str, image: str, model_uri: str, rows: list, *, secret: str, store_endpoint: str, timeout: float = 180
) -> list:
    """The model's own `predict` on `rows`, in a pod of the runtime image (the scikit-learn it was
    trained with), reading the registered file straight from the object store."""
    name = f"local-predict-{int(time.time() * 1000) % 100000}"
    import gzip
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(rows, dtype=float))  # exact floats, compact (MNIST rows are mostly 0)
    packed = base64.b64encode(gzip.compress(buf.getvalue())).decode()
    env = [
        {"name": "MODEL_URI", "value": model_uri},
        {"name": "ROWS_NPY_GZ_B64", "value": packed},
        {"name": "TRAINYARD_S3_ENDPOINT", "value": store_endpoint},
        {"name": "TRAINYARD_S3_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": secret, "key": "accessKey"}}},
        {"name": "TRAINYARD_S3_SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": secret, "key": "secretKey"}}},
    ]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "enableServiceLinks": False,
            "containers": [
                {
                    "name": "predict",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["python", "-c", LOCAL_PREDICT],
                    "env": env,
                    "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                }
            ],
        },
    }
    # create, not apply: apply would copy the whole pod into an annotation (256 KiB at most)
    kubectl.run("create", "-n", ns, "-f", "-", input=json.dumps(pod))

    def done():
        phase = json.loads(kubectl.run("get", "pod", name, "-n", ns, "-o", "json").stdout)["status"].get("phase")
        return phase if phase in ("Succeeded", "Failed") else None

    phase = wait_for(done, what=f"pod {name}", timeout=timeout, interval=1.0)
    logs = kubectl.run("logs", name, "-n", ns).stdout
    kubectl.run("delete", "pod", name, "-n", ns, "--wait=false", check=False)
    assert phase == "Succeeded", logs
    return json.loads(logs.strip().splitlines()[-1])


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()
