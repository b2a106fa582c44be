"""The Open Inference Protocol against `trainyard serve` as a real process, with the clients people
already have at their defaults: tritonclient over HTTP (binary tensors both ways) and over gRPC.
Predictions must equal `model.predict` on the same rows; bad input over either transport gets a
4xx or INVALID_ARGUMENT (NOT_FOUND, RESOURCE_EXHAUSTED where the protocol says so) naming the
problem, and the server keeps serving."""

from __future__ import annotations

import concurrent.futures
import json
import socket

import grpc
import joblib
import numpy as np
import pytest
import tritonclient.grpc as tgrpc
import tritonclient.http as thttp
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tests.conftest import wait_for
from tests.integration.test_serving_http import MAX_BODY, NAME, digits, start_server, stop  # noqa: F401

VERSION = "3"
DTYPES = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
}


@pytest.fixture(scope="module")
def server(tmp_path_factory, digits):  # noqa: F811
    tmp = tmp_path_factory.mktemp("serve-oip")
    path = tmp / "model.joblib"
    joblib.dump(digits[1], path)
    proc, client, log = start_server(tmp, path, "--max-body-bytes", str(MAX_BODY), "--model-version", VERSION)
    try:
        wait_for(lambda: proc.poll() is not None or client.up(), what="the model server to be ready", timeout=60)
        assert proc.poll() is None, open(log.name).read()
        yield client
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="module")
def http(server):
    return thttp.InferenceServerClient(f"127.0.0.1:{server.port}")


@pytest.fixture(scope="module")
def grpc_client(server):
    return tgrpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}")


@pytest.fixture(scope="module")
def stub(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def rows_as(x: np.ndarray, datatype: str) -> np.ndarray:
    # digits pixels are whole numbers 0..16: exact in every numeric type; BOOL is "pixel lit".
    return x > 8 if datatype == "BOOL" else x.astype(DTYPES[datatype])


def still_serving(http, digits) -> None:  # noqa: F811
    x, model = digits
    inp = thttp.InferInput("input-0", [3, 64], "FP64")
    inp.set_data_from_numpy(x[:3])
    assert http.infer(NAME, [inp]).as_numpy("predict").tolist() == model.predict(x[:3]).tolist()


# -- tritonclient over HTTP ------------------------------------------------------------------


def test_http_readiness_and_metadata(http):
    assert http.is_server_live() and http.is_server_ready()
    assert http.is_model_ready(NAME) and http.is_model_ready(NAME, VERSION)
    assert not http.is_model_ready(NAME, "9")
    meta = http.get_model_metadata(NAME)
    assert meta["versions"] == [VERSION] and meta["inputs"] == [
        {"name": "input-0", "datatype": "FP64", "shape": [-1, 64]}
    ]
    assert http.get_model_metadata(NAME, VERSION) == meta
    assert "binary_tensor_data" in http.get_server_metadata()["extensions"]


@pytest.mark.parametrize("datatype", list(DTYPES))
def test_http_binary_infer_with_every_datatype_at_the_clients_defaults(http, digits, datatype):
    x, model = digits
    rows = rows_as(x[:32], datatype)
    inp = thttp.InferInput("input-0", list(rows.shape), datatype)
    inp.set_data_from_numpy(rows)  # binary by default; no outputs named: all of them in binary
    result = http.infer(NAME, [inp])
    out = result.get_output("predict")
    assert out["parameters"] == {"binary_data_size": 32 * 8} and "data" not in out
    assert result.as_numpy("predict").tolist() == model.predict(rows).tolist()
    assert result.get_response()["model_version"] == VERSION


def test_http_requested_outputs_binary_and_json_on_the_served_version(http, digits):
    x, model = digits
    inp = thttp.InferInput("input-0", [32, 64], "FP64")
    inp.set_data_from_numpy(x[100:132])
    outputs = [thttp.InferRequestedOutput("predict_proba"), thttp.InferRequestedOutput("predict", binary_data=False)]
    result = http.infer(NAME, [inp], outputs=outputs, model_version=VERSION, request_id="r-9")
    assert [o["name"] for o in result.get_response()["outputs"]] == ["predict_proba", "predict"]
    assert result.get_output("predict")["data"] == model.predict(x[100:132]).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(x[100:132]), rtol=0, atol=1e-12)
    assert result.get_response()["id"] == "r-9"


def test_http_json_input_from_tritonclient(http, digits):
    x, model = digits
    inp = thttp.InferInput("input-0", [8, 64], "FP64")
    inp.set_data_from_numpy(x[:8], binary_data=False)
    result = http.infer(NAME, [inp], outputs=[thttp.InferRequestedOutput("predict", binary_data=False)])
    assert result.get_output("predict")["data"] == model.predict(x[:8]).tolist()


@pytest.mark.parametrize(
    "outputs, version, status, message",
    [
        (["output-0"], "", "400", "unknown output 'output-0'; this model offers predict, predict_proba"),
        (["predict"], "9", "404", "version '9' of model 'digits' is not served here (serving '3')"),
    ],
)
def test_http_unknown_output_or_version_through_tritonclient(http, digits, outputs, version, status, message):
    x, _ = digits
    inp = thttp.InferInput("input-0", [2, 64], "FP64")
    inp.set_data_from_numpy(x[:2])
    with pytest.raises(InferenceServerException) as info:
        http.infer(NAME, [inp], outputs=[thttp.InferRequestedOutput(o) for o in outputs], model_version=version)
    assert info.value.status() == status and message in info.value.message()
    still_serving(http, digits)


def _binary(x: np.ndarray, *, datatype="FP64", shape=None, raw=None, header_length=None, size=None):
    raw = x.tobytes() if raw is None else raw
    doc = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(x.shape) if shape is None else shape,
                "datatype": datatype,
                "parameters": {"binary_data_size": len(raw) if size is None else size},
            }
        ]
    }
    header = json.dumps(doc).encode()
    length = len(header) if header_length is None else header_length
    return header + raw, {"Inference-Header-Content-Length": str(length)}


BAD_HTTP = {
    "truncated binary": (
        dict(raw=np.zeros((2, 64)).tobytes()[:-5], size=1024),
        400,
        "1024 bytes, past the end of the 1019",
    ),
    "header length past the body": (dict(header_length=10**6), 400, "1000000 bytes, past the end of the body"),
    "shape not the bytes": (dict(shape=[3, 64]), 400, "shape [3, 64] of FP64 needs 1536 bytes (192 x 8), got 1024"),
    "unknown datatype": (dict(datatype="FP8"), 400, "datatype 'FP8' is not supported"),
    "bad size": (dict(size=-1), 400, "binary_data_size must be a non-negative integer, got -1"),
    "oversized message": (dict(raw=np.zeros((400, 64)).tobytes()), 413, f"larger than the limit of {MAX_BODY} bytes"),
}


@pytest.mark.parametrize("case", list(BAD_HTTP))
def test_bad_binary_over_http_gets_a_4xx_naming_it_and_serving_goes_on(server, http, digits, case):
    kwargs, status, message = BAD_HTTP[case]
    body, headers = _binary(np.zeros((2, 64)), **kwargs)
    got, doc = server.request("POST", f"/v2/models/{NAME}/infer", body, headers)
    assert got == status and message in doc["error"], doc
    still_serving(http, digits)


# -- tritonclient over gRPC ------------------------------------------------------------------


def test_grpc_readiness_and_metadata(grpc_client):
    assert grpc_client.is_server_live() and grpc_client.is_server_ready()
    assert grpc_client.is_model_ready(NAME) and grpc_client.is_model_ready(NAME, VERSION)
    meta = grpc_client.get_model_metadata(NAME, as_json=True)
    assert meta["versions"] == [VERSION] and meta["platform"] == "sklearn"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": ["-1", "64"]}]
    assert [o["name"] for o in meta["outputs"]] == ["predict", "predict_proba"]
    server_meta = grpc_client.get_server_metadata(as_json=True)
    assert server_meta["name"] == "trainyard" and "binary_tensor_data" in server_meta["extensions"]
    with pytest.raises(InferenceServerException) as info:
        grpc_client.is_model_ready(NAME, "9")
    assert info.value.status() == "StatusCode.NOT_FOUND"


@pytest.mark.parametrize("datatype", list(DTYPES))
def test_grpc_infer_raw_contents_with_every_datatype(grpc_client, digits, datatype):
    x, model = digits
    rows = rows_as(x[:32], datatype)
    inp = tgrpc.InferInput("input-0", list(rows.shape), datatype)
    inp.set_data_from_numpy(rows)  # raw_input_contents
    result = grpc_client.infer(NAME, [inp])
    assert result.as_numpy("predict").tolist() == model.predict(rows).tolist()
    assert result.get_response().model_version == VERSION and len(result.get_response().raw_output_contents) == 1


def test_grpc_requested_outputs_on_the_served_version(grpc_client, digits):
    x, model = digits
    inp = tgrpc.InferInput("input-0", [32, 64], "FP64")
    inp.set_data_from_numpy(x[200:232])
    outputs = [tgrpc.InferRequestedOutput("predict_proba"), tgrpc.InferRequestedOutput("predict")]
    result = grpc_client.infer(NAME, [inp], outputs=outputs, model_version=VERSION, request_id="g-1")
    assert [o.name for o in result.get_response().outputs] == ["predict_proba", "predict"]
    assert result.as_numpy("predict").tolist() == model.predict(x[200:232]).tolist()
    np.testing.assert_allclose(result.as_numpy("predict_proba"), model.predict_proba(x[200:232]), rtol=0, atol=1e-12)
    assert result.get_response().id == "g-1"


def _request(rows: np.ndarray, *, datatype="FP64", shape=None, raw=None, model=NAME, version="", outputs=()):
    req = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    req.inputs.add(name="input-0", datatype=datatype, shape=list(rows.shape) if shape is None else shape)
    req.raw_input_contents.append(rows.tobytes() if raw is None else raw)
    for name in outputs:
        req.outputs.add(name=name)
    return req


BAD_GRPC = {
    "truncated raw": (dict(raw=np.zeros((2, 64)).tobytes()[:-5]), "INVALID_ARGUMENT", "needs 1024 bytes"),
    "shape not the bytes": (dict(shape=[3, 64]), "INVALID_ARGUMENT", "shape [3, 64] of FP64 needs 1536 bytes"),
    "unknown datatype": (dict(datatype="FP8"), "INVALID_ARGUMENT", "datatype 'FP8' is not supported"),
    "unknown output": (dict(outputs=["output-0"]), "INVALID_ARGUMENT", "unknown output 'output-0'"),
    "wrong features": (dict(shape=[4, 32]), "INVALID_ARGUMENT", "got 32 per row, the model expects 64"),
    "unknown model": (dict(model="other"), "NOT_FOUND", "model 'other' is not served here"),
    "unknown version": (dict(version="9"), "NOT_FOUND", "version '9' of model 'digits' is not served here"),
    "oversized message": (dict(raw=np.zeros((400, 64)).tobytes()), "RESOURCE_EXHAUSTED", "larger than max"),
}


@pytest.mark.parametrize("case", list(BAD_GRPC))
def test_bad_input_over_grpc_gets_the_protocols_code_and_serving_goes_on(stub, grpc_client, digits, case):
    kwargs, code, message = BAD_GRPC[case]
    with pytest.raises(grpc.RpcError) as info:
        stub.ModelInfer(_request(np.zeros((2, 64)), **kwargs), timeout=10)
    assert info.value.code() == getattr(grpc.StatusCode, code) and message in info.value.details()
    x, model = digits
    inp = tgrpc.InferInput("input-0", [3, 64], "FP64")
    inp.set_data_from_numpy(x[:3])
    assert grpc_client.infer(NAME, [inp]).as_numpy("predict").tolist() == model.predict(x[:3]).tolist()


def test_grpc_and_binary_http_at_once_each_get_their_own_prediction(server, grpc_client, digits):
    x, model = digits
    expected = model.predict(x[:64]).tolist()

    def one(i: int):
        if i % 2:
            inp = tgrpc.InferInput("input-0", [1, 64], "FP64")
            inp.set_data_from_numpy(x[i : i + 1])
            return grpc_client.infer(NAME, [inp]).as_numpy("predict")[0]
        body, headers = _binary(x[i : i + 1])
        status, doc = server.request("POST", f"/v2/models/{NAME}/infer", body, headers)
        assert status == 200, doc
        return doc["outputs"][0]["data"][0]  # no binary output asked for: JSON

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        assert [int(v) for v in pool.map(one, range(64))] == expected


@pytest.fixture(scope="module")
def named_digits_server(tmp_path_factory, digits):  # noqa: F811
    """A classifier whose labels are strings: its predictions are BYTES tensors."""
    from sklearn.linear_model import LogisticRegression

    x, _ = digits
    words = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    model = LogisticRegression(max_iter=3000).fit(x, words[digits[1].predict(x)])
    tmp = tmp_path_factory.mktemp("serve-bytes")
    joblib.dump(model, tmp / "model.joblib")
    proc, client, log = start_server(tmp, tmp / "model.joblib")
    try:
        wait_for(lambda: proc.poll() is not None or client.up(), what="the model server to be ready", timeout=60)
        assert proc.poll() is None, open(log.name).read()
        yield client, model
    finally:
        stop(proc)
        log.close()


def test_string_labels_come_back_as_bytes_tensors_over_both_transports(named_digits_server, digits):  # noqa: F811
    server, model = named_digits_server
    x = digits[0][:16]
    expected = [label.encode() for label in model.predict(x)]
    inp = thttp.InferInput("input-0", [16, 64], "FP64")
    inp.set_data_from_numpy(x)
    result = thttp.InferenceServerClient(f"127.0.0.1:{server.port}").infer(NAME, [inp])
    assert result.get_output("predict")["datatype"] == "BYTES"
    assert result.as_numpy("predict").tolist() == expected
    inp = tgrpc.InferInput("input-0", [16, 64], "FP64")
    inp.set_data_from_numpy(x)
    result = tgrpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}").infer(NAME, [inp])
    assert result.as_numpy("predict").tolist() == expected
    meta = tgrpc.InferenceServerClient(f"127.0.0.1:{server.grpc_port}").get_model_metadata(NAME, as_json=True)
    assert "versions" not in meta and meta["outputs"][0]["datatype"] == "BYTES"  # no --model-version: none


def test_a_grpc_port_in_use_stops_the_server_with_the_reason(tmp_path, digits):  # noqa: F811
    joblib.dump(digits[1], tmp_path / "model.joblib")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc, _client, log = start_server(tmp_path, tmp_path / "model.joblib", "--grpc-port", str(port))
        try:
            proc.wait(timeout=60)
        finally:
            stop(proc)
            log.close()
    output = open(log.name).read()
    assert proc.returncode == 1 and f"cannot listen for gRPC on 127.0.0.1:{port}" in output, output
