"""`trainyard serve` as a real process on loopback, hit over HTTP in all three protocols with
good and bad bodies. Predictions must equal `model.predict` on the same rows, and the server
must keep serving after every bad request. (Binary tensors and gRPC with tritonclient:
test_serving_oip.py, which starts servers with `start_server` from here.)"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import re
import signal
import socket
import subprocess
import sys

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from tests.conftest import wait_for

NAME = "digits"
MAX_BODY = 200_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    def __init__(self, port: int, grpc_port: int = 0):
        self.port, self.grpc_port = port, grpc_port

    def request(self, method: str, path: str, body=None, headers=None, raw: bool = False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            if body is not None and not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, (data if raw else json.loads(data) if data else None)
        finally:
            conn.close()

    def up(self) -> bool:
        try:
            return self.request("GET", "/v2/health/ready")[0] == 200
        except OSError:
            return False


def start_server(tmp_path, model_path, *extra: str) -> tuple[subprocess.Popen, Client, object]:
    """The server on a free HTTP port and a free gRPC port."""
    port, grpc_port = free_port(), free_port()
    log = (tmp_path / f"server-{port}.log").open("wb")
    # cwd is not the repo: its top-level operator/ folder would shadow the standard library.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "trainyard.cli.main",
            "serve",
            "--model",
            str(model_path),
            "--name",
            NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--grpc-port",
            str(grpc_port),
            *extra,
        ],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, Client(port, grpc_port), log


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x, LogisticRegression(max_iter=3000).fit(x, y)


@pytest.fixture(scope="module")
def server(tmp_path_factory, digits):
    tmp = tmp_path_factory.mktemp("serve")
    path = tmp / "model.joblib"
    joblib.dump(digits[1], path)
    proc, client, log = start_server(tmp, path, "--max-body-bytes", str(MAX_BODY), "--model-version", "3")
    try:
        wait_for(lambda: proc.poll() is not None or client.up(), what="the model server to be ready", timeout=60)
        assert proc.poll() is None, open(log.name).read()
        yield client
    finally:
        stop(proc)
        log.close()
    # SIGTERM is a graceful stop: uvicorn re-raises the signal after shutting down cleanly.
    assert proc.returncode in (0, -signal.SIGTERM), open(log.name).read()


def test_health_readiness_and_metadata(server):
    assert server.request("GET", "/v2/health/live") == (200, {"live": True})
    assert server.request("GET", "/v2/health/ready") == (200, {"ready": True})
    assert server.request("GET", f"/v2/models/{NAME}/ready") == (200, {"name": NAME, "ready": True})
    assert server.request("GET", f"/v1/models/{NAME}") == (200, {"name": NAME, "ready": True})
    assert server.request("GET", "/v1/models") == (200, {"models": [NAME]})
    status, meta = server.request("GET", f"/v2/models/{NAME}")
    assert status == 200 and meta["name"] == NAME and meta["versions"] == ["3"]
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 64]}]
    assert {o["name"]: o for o in meta["outputs"]}["predict_proba"]["shape"] == [-1, 10]
    assert server.request("GET", f"/v2/models/{NAME}/versions/3/ready")[0] == 200
    status, body = server.request("GET", f"/v2/models/{NAME}/versions/9/ready")
    assert status == 404 and "version '9'" in body["error"]
    assert server.request("GET", "/v2")[1]["name"] == "trainyard"
    assert server.request("GET", "/v2")[1]["extensions"] == ["binary_tensor_data"]


def test_score_returns_the_list_model_predict_returns(server, digits):
    x, model = digits
    status, body = server.request("POST", "/score", {"data": x[:50].tolist()})
    assert status == 200 and body == model.predict(x[:50]).tolist()
    status, body = server.request("POST", "/score", {"data": x[:5].tolist(), "method": "predict_proba"})
    assert status == 200
    np.testing.assert_allclose(body, model.predict_proba(x[:5]), rtol=0, atol=1e-12)


def test_kserve_v1_predict(server, digits):
    x, model = digits
    status, body = server.request("POST", f"/v1/models/{NAME}:predict", {"instances": x[100:164].tolist()})
    assert status == 200 and body == {"predictions": model.predict(x[100:164]).tolist()}


@pytest.mark.parametrize("datatype, dtype", [("FP64", np.float64), ("FP32", np.float32), ("INT64", np.int64)])
def test_v2_infer_with_each_datatype(server, digits, datatype, dtype):
    x, model = digits
    rows = x[200:232].astype(dtype)  # digits pixels are whole numbers: exact in every type
    req = {
        "id": "req-1",
        "inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": datatype, "data": rows.ravel().tolist()}],
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    status, body = server.request("POST", f"/v2/models/{NAME}/infer", req)
    assert status == 200, body
    assert body["model_name"] == NAME and body["model_version"] == "3" and body["id"] == "req-1"
    pred, proba = body["outputs"]
    assert (pred["name"], pred["datatype"], pred["shape"]) == ("predict", "INT64", [32])
    assert pred["data"] == model.predict(rows).tolist()
    assert (proba["datatype"], proba["shape"]) == ("FP64", [32, 10])
    np.testing.assert_allclose(np.reshape(proba["data"], (32, 10)), model.predict_proba(rows), rtol=0, atol=1e-12)
    # versioned path and nested data are the same request
    req["inputs"][0]["data"] = rows.tolist()
    status, again = server.request("POST", f"/v2/models/{NAME}/versions/3/infer", req)
    assert status == 200 and again["outputs"][0]["data"] == pred["data"]


def test_concurrent_requests_each_get_their_own_prediction(server, digits):
    x, model = digits
    expected = model.predict(x[:96]).tolist()

    def one(i: int):
        protocol = i % 3
        if protocol == 0:
            return server.request("POST", "/score", {"data": [x[i].tolist()]})[1][0]
        if protocol == 1:
            return server.request("POST", f"/v1/models/{NAME}:predict", {"instances": [x[i].tolist()]})[1][
                "predictions"
            ][0]
        req = {"inputs": [{"name": "x", "shape": [1, 64], "datatype": "FP64", "data": x[i].tolist()}]}
        return server.request("POST", f"/v2/models/{NAME}/infer", req)[1]["outputs"][0]["data"][0]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        got = list(pool.map(one, range(96)))
    assert got == expected


def _v2(**tensor):
    t = {"name": "x", "shape": [1, 64], "datatype": "FP64", "data": [0.0] * 64}
    t.update(tensor)
    return {"inputs": [t]}


BAD = [
    (
        "POST",
        "/score",
        {"data": [[1, 2, 3]]},
        400,
        "wrong number of features in 'data': got 3 per row, the model expects 64",
    ),
    ("POST", "/score", {"data": [["a"] * 64]}, 400, "must contain only numbers, found strings"),
    ("POST", "/score", b"this is not json", 400, "not valid JSON"),
    ("POST", "/score", {"rows": []}, 400, 'missing key "data"'),
    ("POST", "/score", {"data": [[0] * 64], "method": "explain"}, 400, "'method' must be"),
    ("POST", f"/v1/models/{NAME}:predict", {"instances": [[0] * 63]}, 400, "got 63 per row, the model expects 64"),
    ("POST", f"/v1/models/{NAME}:predict", {"instances": [[0] * 64, [0] * 10]}, 400, "not a rectangular array"),
    ("POST", f"/v1/models/{NAME}:predict", b"", 400, "body is empty"),
    ("POST", f"/v2/models/{NAME}/infer", _v2(datatype="BYTES"), 400, "datatype 'BYTES' is not supported"),
    ("POST", f"/v2/models/{NAME}/infer", _v2(shape=[2, 64]), 400, "needs 128 values, 'data' has 64"),
    ("POST", f"/v2/models/{NAME}/infer", _v2(data=["x"] * 64), 400, "only numbers, found strings"),
    (
        "POST",
        f"/v2/models/{NAME}/infer",
        {**_v2(), "outputs": [{"name": "embedding"}]},
        400,
        "unknown output 'embedding'",
    ),
    # KServe's name for its one output: not an output of this server (it used to mean predict).
    (
        "POST",
        f"/v2/models/{NAME}/infer",
        {**_v2(), "outputs": [{"name": "output-0"}]},
        400,
        "unknown output 'output-0'",
    ),
    ("POST", f"/v2/models/{NAME}/versions/9/infer", _v2(), 404, "version '9' of model 'digits' is not served here"),
    ("POST", "/v1/models/other:predict", {"instances": [[0] * 64]}, 404, "model 'other' is not served here"),
    ("POST", "/v2/models/other/infer", _v2(), 404, "model 'other' is not served here"),
    ("GET", "/nowhere", None, 404, "no endpoint at /nowhere"),
    ("GET", f"/v2/models/{NAME}/infer", None, 405, "GET is not allowed"),
    ("POST", "/score", b"{" + b" " * (MAX_BODY + 1) + b"}", 413, f"larger than the limit of {MAX_BODY} bytes"),
]


@pytest.mark.parametrize("method, path, body, status, message", BAD, ids=[f"{b[3]}-{b[4][:30]}" for b in BAD])
def test_bad_requests_get_a_4xx_naming_the_problem_and_serving_goes_on(
    server, digits, method, path, body, status, message
):
    got_status, got = server.request(method, path, body, {"Content-Type": "application/json"})
    assert got_status == status and message in got["error"], got
    x, model = digits
    assert server.request("POST", "/score", {"data": x[:3].tolist()}) == (200, model.predict(x[:3]).tolist())


def test_oversized_chunked_body_gets_413(server, digits):
    # No Content-Length: the limit is enforced while the chunks arrive.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.putrequest("POST", "/score")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b" " * 65536
        try:
            for _ in range(MAX_BODY // len(chunk) + 2):
                conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the last chunks
        resp = conn.getresponse()
        assert resp.status == 413 and b"larger than the limit" in resp.read()
    finally:
        conn.close()
    x, model = digits
    assert server.request("POST", "/score", {"data": x[:1].tolist()}) == (200, model.predict(x[:1]).tolist())


def _samples(text: str) -> dict[str, float]:
    return {m[0]: float(m[1]) for m in re.findall(r"^(\S+) (\S+)$", text, re.M) if not m[0].startswith("#")}


def test_metrics_count_requests_by_protocol_and_code(server, digits):
    x, _ = digits
    before = _samples(server.request("GET", "/metrics", raw=True)[1].decode())
    server.request("POST", "/score", {"data": [[1]]})
    server.request("POST", f"/v1/models/{NAME}:predict", {"instances": x[:4].tolist()})
    status, text = server.request("GET", "/metrics", raw=True)
    after = _samples(text.decode())
    assert status == 200
    key = 'trainyard_serving_requests_total{model="digits",protocol="%s",code="%s"}'
    assert after[key % ("score", 400)] - before.get(key % ("score", 400), 0) == 1
    assert after[key % ("v1", 200)] - before.get(key % ("v1", 200), 0) == 1
    assert after['trainyard_serving_request_duration_seconds_count{model="digits",protocol="v1"}'] >= 1
    assert (
        after['trainyard_serving_batch_rows_sum{model="digits"}']
        - before['trainyard_serving_batch_rows_sum{model="digits"}']
        == 4
    )
    assert after['trainyard_serving_model_ready{model="digits"}'] == 1


@pytest.mark.parametrize("content", [b"not a model", b"\x80\x04K\x01."], ids=["not-a-pickle", "pickled-int"])
def test_a_model_that_cannot_load_stops_the_server(tmp_path, content):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    proc, _client, log = start_server(tmp_path, path)
    try:
        proc.wait(timeout=60)
    finally:
        stop(proc)
        log.close()
    output = open(log.name).read()
    assert proc.returncode == 1, output
    assert "cannot load model digits" in output
