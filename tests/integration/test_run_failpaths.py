"""Failure paths of a run on the real API server, with pods run as processes: a code ConfigMap
that does not exist, and a run's pod deleted while its script runs (issue 19, items 3 and 4)."""

from __future__ import annotations

import json
import textwrap
import threading
import uuid

import pytest

from tests.conftest import wait_for, wait_for_phase
from tests.integration.test_cli_runs import cpu_cluster

WAIT_FOR_FLAG = textwrap.dedent("""
    import os, sys, time
    deadline = time.monotonic() + 120
    while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
        time.sleep(0.05)
    print("flag seen")
""")


def training_run(name: str, config_map: str, args: list[str], **spec) -> dict:
    return {
        "apiVersion": "trainyard.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": {
            "compute": "cpu",
            "source": {"configMap": {"name": config_map}},
            "entryScript": "train.py",
            "args": args,
            **spec,
        },
    }


def code_config_map(name: str, script: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"train.py": script}}


class PhaseLog:
    """Every (phase, message) the run's status shows, polled while the test acts."""

    def __init__(self, kubectl, name: str, namespace: str):
        self.seen: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(kubectl, name, namespace), daemon=True)

    def _poll(self, kubectl, name, namespace) -> None:
        while not self._stop.is_set():
            got = kubectl.run("get", "tr", name, "-n", namespace, "-o", "json", check=False)
            st = (json.loads(got.stdout).get("status") or {}) if got.returncode == 0 else {}
            now = (st.get("phase", ""), st.get("message", ""))
            if st and (not self.seen or self.seen[-1] != now):
                self.seen.append(now)
            self._stop.wait(0.05)

    def __enter__(self) -> PhaseLog:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_a_missing_code_configmap_fails_the_run_at_once_naming_it(kubectl, namespace, operator, process_kubelet):
    cpu_cluster(kubectl, namespace)
    kubectl.apply(training_run("no-code", "no-such-code", []), namespace)
    st = wait_for_phase(kubectl, "no-code", namespace, ("Failed", "Preparing", "Running"), timeout=30)
    assert st["phase"] == "Failed", st
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "CodeConfigMapNotFound"
    assert "'no-such-code'" in failed["message"] and "kubectl create configmap no-such-code" in failed["message"]
    assert "jobName" not in st, "no Job is made for a run whose code does not exist"


@pytest.mark.parametrize("max_retries", [0, 1])
def test_a_deleted_run_pod_is_named_and_counted(kubectl, namespace, operator, process_kubelet, tmp_path, max_retries):
    cpu_cluster(kubectl, namespace)
    name, flag = f"del-{uuid.uuid4().hex[:6]}", tmp_path / "finish"
    kubectl.apply(code_config_map("code", WAIT_FOR_FLAG), namespace)
    with PhaseLog(kubectl, name, namespace) as log:
        kubectl.apply(training_run(name, "code", [str(flag)], maxRetries=max_retries), namespace)
        wait_for_phase(kubectl, name, namespace, "Running", timeout=120)
        pod = kubectl.json("get", "pods", "-n", namespace, "-l", f"trainyard.dev/run={name}")["items"][0]
        kubectl.run("delete", "pod", pod["metadata"]["name"], "-n", namespace, "--wait=false")
        if max_retries:
            wait_for(
                lambda: any(m.startswith("retrying (attempt 2 of 2): previous pod deleted") for _, m in log.seen),
                what="the run to say it is retrying",
                timeout=60,
            )
            wait_for_phase(kubectl, name, namespace, "Running", timeout=120)
            flag.write_text("")
        st = wait_for_phase(kubectl, name, namespace, ("Completed", "Failed"), timeout=120)
    phases = [p for p, _ in log.seen]
    first_running = phases.index("Running")
    assert "Queued" not in phases[first_running:], log.seen
    # A succeeded pod completes the run at once; the Job controller counts it a moment later.
    job = wait_for(
        lambda: (lambda s: s if not s.get("active") else None)(
            kubectl.json("get", "job", st["jobName"], "-n", namespace)["status"]
        ),
        what="the Job controller to count the last pod",
        timeout=30,
    )
    assert st["attempts"] == (job.get("failed") or 0) + (job.get("succeeded") or 0) == max_retries + 1, (st, job)
    assert st["podsDeleted"] == 1
    if max_retries:
        assert st["phase"] == "Completed", st
        assert phases[first_running:].count("Preparing") >= 1
    else:
        assert st["phase"] == "Failed", st
        failed = next(c for c in st["conditions"] if c["type"] == "Failed")
        assert failed["reason"] == "PodDeleted", failed
        assert "was deleted before the script ended" in failed["message"]


def test_args_naming_no_input_fail_the_run_at_once(kubectl, namespace, operator, process_kubelet):
    cpu_cluster(kubectl, namespace)
    kubectl.apply(code_config_map("code", WAIT_FOR_FLAG), namespace)
    kubectl.apply(training_run("bad-ref", "code", ["$(TRAINYARD_INPUT_NOPE)"]), namespace)
    st = wait_for_phase(kubectl, "bad-ref", namespace, ("Failed", "Preparing", "Running"), timeout=30)
    assert st["phase"] == "Failed", st
    failed = next(c for c in st["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "UnknownInputReference"
    assert "$(TRAINYARD_INPUT_NOPE), which names no input (inputs: none)" in failed["message"]
    assert "jobName" not in st, "no Job is made for a run that would fail in its script"
