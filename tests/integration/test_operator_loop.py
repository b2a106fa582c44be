"""The operator <-> API loop: kopf, in-process, sees a created TrainingRun and writes a condition."""

from __future__ import annotations

from tests.conftest import wait_for
from tests.integration.test_crd_validation import training_run


def test_operator_writes_a_status_condition_on_a_new_run(kubectl, namespace, operator):
    kubectl.apply(training_run(name="loop-1"), namespace)

    def accepted():
        status = kubectl.json("get", "tr", "loop-1", "-n", namespace).get("status") or {}
        return next((c for c in status.get("conditions", []) if c["type"] == "Accepted"), None)

    cond = wait_for(accepted, what="the Accepted condition", timeout=30)
    assert cond["status"] == "True" and cond["reason"] == "Accepted"
    obj = kubectl.json("get", "tr", "loop-1", "-n", namespace)
    assert cond["observedGeneration"] == obj["metadata"]["generation"]
    assert obj["status"]["observedGeneration"] == obj["metadata"]["generation"]
