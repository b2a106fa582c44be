"""The operator <-> API loop on simulated (KWOK) nodes: a run becomes a Job, its pod is scheduled
and completes, and the run's status follows with named reasons and one Event per transition."""

from __future__ import annotations

from tests.conftest import wait_for, wait_for_phase
from tests.integration.test_crd_validation import compute_cluster, training_run


def kwok_cluster() -> dict:
    cc = compute_cluster(nodeSelector={"trainyard.dev/pool": "kwok"})
    del cc["spec"]["instanceType"]
    return cc


def simulated_run(name: str, **spec) -> dict:
    run = training_run(name=name, **spec)
    run["metadata"]["annotations"] = {"pod-complete.stage.kwok.x-k8s.io/delay": "1s"}
    return run


def test_run_on_kwok_nodes_goes_from_queued_to_completed(kubectl, namespace, operator):
    kubectl.apply([kwok_cluster(), simulated_run("loop-1")], namespace)
    status = wait_for_phase(kubectl, "loop-1", namespace, "Completed", timeout=60)
    conds = {c["type"]: c for c in status["conditions"]}
    assert conds["Accepted"]["status"] == "True" and conds["Succeeded"]["reason"] == "Completed"
    obj = kubectl.json("get", "tr", "loop-1", "-n", namespace)
    assert conds["Succeeded"]["observedGeneration"] == obj["metadata"]["generation"]
    assert status["attempts"] == 1 and status["jobName"] == "loop-1"
    assert status["outputs"] == [], "a simulated pod uploads nothing"
    assert status["completionTime"] >= status["startTime"]
    # Exactly one Job, owned by the run; the pod's identity and store secret exist.
    jobs = kubectl.json("get", "jobs", "-n", namespace)["items"]
    assert [j["metadata"]["name"] for j in jobs] == ["loop-1"]
    assert jobs[0]["metadata"]["ownerReferences"][0]["kind"] == "TrainingRun"
    kubectl.run("get", "secret", "loop-1-store", "-n", namespace)
    kubectl.run("get", "rolebinding", "loop-1-run", "-n", namespace)
    events = kubectl.json("get", "events", "-n", namespace, "--field-selector", "involvedObject.name=loop-1")
    reasons = [e["reason"] for e in events["items"] if e["involvedObject"]["kind"] == "TrainingRun"]
    assert "Completed" in reasons, reasons


def test_missing_compute_cluster_fails_with_a_clear_reason(kubectl, namespace, operator):
    kubectl.apply(training_run(name="orphan", compute="nope"), namespace)
    status = wait_for_phase(kubectl, "orphan", namespace, "Failed", timeout=30)
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "ComputeClusterNotFound"
    assert "ComputeCluster 'nope' does not exist" in failed["message"]
    assert kubectl.json("get", "jobs", "-n", namespace)["items"] == []


def test_suspend_cancels_a_running_run(kubectl, namespace, operator):
    run = simulated_run("long-1")
    run["metadata"]["annotations"]["pod-complete.stage.kwok.x-k8s.io/delay"] = "10m"
    kubectl.apply([kwok_cluster(), run], namespace)
    wait_for_phase(kubectl, "long-1", namespace, ("Preparing", "Running"), timeout=60)
    kubectl.run("patch", "tr", "long-1", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}')
    status = wait_for_phase(kubectl, "long-1", namespace, "Canceled", timeout=30)
    assert next(c for c in status["conditions"] if c["type"] == "Canceled")["reason"] == "Canceled"
    wait_for(lambda: kubectl.json("get", "jobs", "-n", namespace)["items"] == [], what="the Job to be deleted")


def test_timeout_ends_in_deadline_exceeded(kubectl, namespace, operator):
    run = simulated_run("slow-1", timeoutSeconds=3)
    run["metadata"]["annotations"]["pod-complete.stage.kwok.x-k8s.io/delay"] = "10m"
    kubectl.apply([kwok_cluster(), run], namespace)
    status = wait_for_phase(kubectl, "slow-1", namespace, "Failed", timeout=60)
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "DeadlineExceeded" and "timeoutSeconds=3" in failed["message"]


def test_failing_script_ends_in_script_failed_with_exit_code(kubectl, namespace, operator):
    run = simulated_run("bad-1")
    run["metadata"]["annotations"]["trainyard.dev/simulated-exit-code"] = "3"
    kubectl.apply([kwok_cluster(), run], namespace)
    status = wait_for_phase(kubectl, "bad-1", namespace, "Failed", timeout=60)
    failed = next(c for c in status["conditions"] if c["type"] == "Failed")
    assert failed["reason"] == "ScriptFailed" and "exited with code 3" in failed["message"]


def test_deleting_a_run_mid_run_removes_its_job_and_pod(kubectl, namespace, operator):
    run = simulated_run("gone-1")
    run["metadata"]["annotations"]["pod-complete.stage.kwok.x-k8s.io/delay"] = "10m"
    kubectl.apply([kwok_cluster(), run], namespace)
    wait_for_phase(kubectl, "gone-1", namespace, ("Preparing", "Running"), timeout=60)
    kubectl.run("delete", "tr", "gone-1", "-n", namespace, "--wait=true", "--timeout=30s")
    wait_for(
        lambda: (
            not kubectl.json("get", "jobs", "-n", namespace)["items"]
            and not kubectl.json("get", "pods", "-n", namespace)["items"]
        ),
        what="garbage collection of the run's Job and pod",
        timeout=60,
    )


def test_operator_restart_mid_run_creates_no_second_job(kubectl, namespace, local_cluster, crds):
    from kopf.testing import KopfRunner

    args = ["run", "--standalone", "--namespace", namespace, "-m", "trainyard.operator.main"]
    run = simulated_run("restart-1")
    run["metadata"]["annotations"]["pod-complete.stage.kwok.x-k8s.io/delay"] = "8s"
    with KopfRunner(args, timeout=60):
        kubectl.apply([kwok_cluster(), run], namespace)
        wait_for_phase(kubectl, "restart-1", namespace, ("Preparing", "Running"), timeout=60)
    # The operator is gone while the pod runs; the pod finishes meanwhile or soon after.
    with KopfRunner(args, timeout=60):
        status = wait_for_phase(kubectl, "restart-1", namespace, "Completed", timeout=60)
    jobs = kubectl.json("get", "jobs", "-n", namespace)["items"]
    assert len(jobs) == 1 and status["attempts"] == 1
