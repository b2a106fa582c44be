"""Live metrics through the real API server: the runner's reporter PATCHes the TrainingRun's
status subresource (merge patch, plain urllib, client-certificate auth here; a service-account
token in a pod) and `kubectl get tr` shows the primary metric while the script is still going."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

from tests.conftest import wait_for
from tests.integration.test_crd_validation import training_run

SCRIPT = textwrap.dedent("""
    import os, sys, time
    from trainyard import Run
    run = Run.get_context()
    run.log("accuracy", 0.5)
    run.log("note", "strings stay out of status")
    print("logged", flush=True)
    deadline = time.monotonic() + 60
    while not os.path.exists("go") and time.monotonic() < deadline:
        time.sleep(0.05)
    run.log("loss", 0.125)
    run.log("accuracy", 0.75)
""")


def runner_env(local_cluster, tmp_path, name: str, namespace: str, **extra) -> dict:
    st = local_cluster.state()
    pki = st.dir / "pki"
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "train.py").write_text(SCRIPT)
    return {
        **os.environ,
        **st.env(),
        "TRAINYARD_RUN_NAME": name,
        "TRAINYARD_RUN_NAMESPACE": namespace,
        "TRAINYARD_WORKDIR": str(ws),
        "TRAINYARD_ENTRY_SCRIPT": "train.py",
        "TRAINYARD_TERMINATION_LOG": str(tmp_path / "termination"),
        "TRAINYARD_KUBE_API": st.server,
        "TRAINYARD_KUBE_CA_FILE": str(pki / "ca.crt"),
        "TRAINYARD_KUBE_CLIENT_CERT": str(pki / "admin.crt"),
        "TRAINYARD_KUBE_CLIENT_KEY": str(pki / "admin.key"),
        **extra,
    }


def status(kubectl, namespace: str, name: str) -> dict:
    return kubectl.json("get", "trainingrun", name, "-n", namespace).get("status") or {}


def test_metrics_reach_status_within_seconds(local_cluster, kubectl, crds, namespace, tmp_path):
    name = f"mnist-{uuid.uuid4().hex[:6]}"
    kubectl.apply(training_run(name), namespace)
    env = runner_env(local_cluster, tmp_path, name, namespace)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainyard.runtime.run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "logged"
        logged = time.monotonic()
        # The reporter runs every 2 s: the value must be in status well within 5 s of run.log.
        wait_for(
            lambda: status(kubectl, namespace, name).get("metrics", {}).get("accuracy") == 0.5,
            what="accuracy=0.5 in status",
            timeout=5.0,
        )
        assert time.monotonic() - logged < 5.0
        assert status(kubectl, namespace, name)["primaryMetric"] == "accuracy=0.5"
        row = kubectl.run("get", "tr", name, "-n", namespace).stdout
        assert "accuracy=0.5" in row, row
        (tmp_path / "ws" / "go").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    # The final flush at exit carries the last values, whatever the timing of the last tick.
    final = status(kubectl, namespace, name)
    assert final["metrics"] == {"accuracy": 0.75, "loss": 0.125}
    assert final["primaryMetric"] == "accuracy=0.75"


def test_reporting_failures_never_fail_the_script(local_cluster, kubectl, crds, namespace, tmp_path):
    # No such TrainingRun: every PATCH is a 404. The script still completes and ships.
    env = runner_env(
        local_cluster, tmp_path, f"ghost-{uuid.uuid4().hex[:6]}", namespace, TRAINYARD_METRICS_INTERVAL="0.2"
    )
    (tmp_path / "ws" / "go").touch()
    proc = subprocess.run(
        [sys.executable, "-m", "trainyard.runtime.run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "metrics report to status failed (will retry)" in proc.stderr and "HTTP 404" in proc.stderr
    assert json.loads((tmp_path / "termination").read_text())["reason"] == "Completed"


def test_primary_metric_from_the_spec(local_cluster, kubectl, crds, namespace, tmp_path):
    name = f"mnist-{uuid.uuid4().hex[:6]}"
    kubectl.apply(training_run(name), namespace)
    env = runner_env(local_cluster, tmp_path, name, namespace, TRAINYARD_PRIMARY_METRIC="loss")
    (tmp_path / "ws" / "go").touch()
    proc = subprocess.run(
        [sys.executable, "-m", "trainyard.runtime.run"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert status(kubectl, namespace, name)["primaryMetric"] == "loss=0.125"
