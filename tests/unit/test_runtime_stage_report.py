"""The run pod tells its run's status which step it is in around environment.pip (issue 19 item 6):
a real HTTP server stands in for the API server, so the PATCHes are the ones the pod would send."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from trainyard.api import trainingrun as tr
from trainyard.runtime import run as run_main
from trainyard.runtime.config import RunConfig

pytestmark = pytest.mark.unit


@pytest.fixture
def api():
    patches: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_PATCH(self):  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            patches.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", patches
    server.shutdown()


def test_the_pod_says_environment_while_pip_installs_then_script(api, monkeypatch, tmp_path):
    url, patches = api
    env = {
        "TRAINYARD_RUN_NAME": "r1",
        "TRAINYARD_RUN_NAMESPACE": "ns",
        "TRAINYARD_WORKDIR": str(tmp_path),
        "TRAINYARD_ENTRY_SCRIPT": "train.py",
        "TRAINYARD_KUBE_API": url,
        "TRAINYARD_POD_NAME": "r1-abcde",
        "TRAINYARD_PIP_REQUIREMENTS": json.dumps(["scikit-learn==1.7.2"]),
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    cfg = RunConfig.from_env(env)
    during: list[int] = []

    def prepare(reqs, cache_dir, say):
        during.append(len(patches))  # what the status said while the install ran
        return "/venv/bin/python"

    from trainyard.runtime import pipenv

    monkeypatch.setattr(pipenv, "prepare", prepare)
    out = run_main._with_environment(cfg)
    assert str(out.python) == "/venv/bin/python"
    assert during == [1]
    assert [p for _, p in patches] == [
        {"status": {tr.STAGE: {"pod": "r1-abcde", "step": tr.STAGE_ENVIRONMENT}}},
        {"status": {tr.STAGE: {"pod": "r1-abcde", "step": tr.STAGE_SCRIPT}}},
    ]
    assert patches[0][0] == "/apis/trainyard.dev/v1alpha1/namespaces/ns/trainingruns/r1/status"


def test_no_requirements_no_report(api, monkeypatch, tmp_path):
    url, patches = api
    env = {"TRAINYARD_RUN_NAME": "r1", "TRAINYARD_WORKDIR": str(tmp_path), "TRAINYARD_KUBE_API": url}
    monkeypatch.delenv("TRAINYARD_PIP_REQUIREMENTS", raising=False)
    cfg = RunConfig.from_env(env)
    assert run_main._with_environment(cfg) is cfg and patches == []
