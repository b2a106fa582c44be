"""A version switch with zero failed requests, on real `trainyard serve` processes over loopback.

This is the rollout the operator drives (operator/registeredmodel/serving.py): the new version's server
joins the endpoints only once ready (readiness means loaded), then the old one leaves them and is
sent SIGTERM. The test plays kube-proxy with a client-side endpoint list and keep-alive
connections, and is harsher than a pod: SIGTERM comes at once, without the preStop sleep.
Kubernetes itself doing the same (Deployments, probes, EndpointSlices, real kube-proxy) is left to
the end-to-end tier, since integration-tier pods do not run servers."""

from __future__ import annotations

import http.client
import itertools
import json
import threading

import joblib
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from tests.conftest import wait_for
from tests.integration.test_serving_http import NAME, start_server, stop


class Endpoints:
    def __init__(self, *ports: int):
        self.lock, self.ports, self.rr = threading.Lock(), list(ports), itertools.count()

    def pick(self) -> int:
        with self.lock:
            return self.ports[next(self.rr) % len(self.ports)]

    def set(self, *ports: int) -> None:
        with self.lock:
            self.ports = list(ports)


def client(endpoints: Endpoints, body: bytes, stop_flag: threading.Event, served: list, failures: list) -> None:
    conn = None
    while not stop_flag.is_set():
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", endpoints.pick(), timeout=10)
            conn.request("POST", f"/v2/models/{NAME}/infer", body=body, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                failures.append(f"HTTP {resp.status}: {data[:200]!r}")
            else:
                served.append(json.loads(data)["model_version"])
            if resp.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
        except Exception as exc:  # any error at all is a failed request
            failures.append(f"{type(exc).__name__}: {exc}")
            conn = None


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    d = tmp_path_factory.mktemp("versions")
    x, y = load_digits(return_X_y=True)
    for version, c in (("1", 0.1), ("2", 1.0)):
        joblib.dump(LogisticRegression(C=c, max_iter=300).fit(x, y), d / f"v{version}.pkl")
    return d, x


def test_switching_versions_drops_no_request(tmp_path, two_versions):
    d, x = two_versions
    old, old_client, old_log = start_server(tmp_path, d / "v1.pkl", "--model-version", "1", "--drain-seconds", "1.5")
    new = None
    try:
        wait_for(old_client.up, what="version 1 to be ready", timeout=30)
        endpoints = Endpoints(old_client.port)
        body = json.dumps(
            {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP64", "data": x[0].tolist()}]}
        ).encode()
        stop_flag, served, failures = threading.Event(), [], []
        threads = [
            threading.Thread(target=client, args=(endpoints, body, stop_flag, served, failures)) for _ in range(4)
        ]
        for t in threads:
            t.start()
        wait_for(lambda: len(served) > 100, what="traffic on version 1")
        new, new_client, new_log = start_server(
            tmp_path, d / "v2.pkl", "--model-version", "2", "--drain-seconds", "1.5"
        )
        wait_for(new_client.up, what="version 2 to be loaded and ready", timeout=30)
        # Keep-alive connections stay on version 1 (kube-proxy balances connections, not requests)
        # until its drain closes them; then the clients reconnect to what the endpoints list.
        endpoints.set(old_client.port, new_client.port)
        endpoints.set(new_client.port)
        old.send_signal(15)
        assert old.wait(timeout=15) == 0, "version 1 drains and exits cleanly"
        mark = len(served)
        wait_for(lambda: len(served) > mark + 200, what="traffic after version 1 is gone")
        stop_flag.set()
        for t in threads:
            t.join(timeout=15)
        assert failures == [], failures[:5]
        assert set(served[:50]) == {"1"} and set(served[-100:]) == {"2"}
        assert "draining for 1.5s" in (tmp_path / f"server-{old_client.port}.log").read_text()
    finally:
        stop(old)
        if new is not None:
            stop(new)
