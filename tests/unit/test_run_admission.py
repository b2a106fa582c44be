"""A run's status derived from the decision its ComputeCluster recorded on it (status.admission) —
a table: the Admitted condition, the phase (Queued, Scaling), queuePosition and the message; and
JobLost, for a run whose Job is gone."""

import pytest

from trainyard.api import trainingrun as tr
from trainyard.operator.trainingrun.status import Observed, derive

NOW = "2026-11-22T10:00:00Z"


def run(admission=None, *, job_name=None, **spec):
    base = {"compute": "pool", "source": {"configMap": {"name": "c"}}, "entryScript": "t.py"}
    base.update(spec)
    status = {}
    if admission is not None:
        status["admission"] = admission
    if job_name:
        status["jobName"] = job_name
    return {"metadata": {"name": "r", "namespace": "ns", "generation": 1}, "spec": base, "status": status}


def job(suspend=False):
    conds = [{"type": "Suspended", "status": "True"}] if suspend else []
    return {"metadata": {"name": "r"}, "spec": {"suspend": suspend}, "status": {"conditions": conds}}


def pod(node=None, running=False):
    status = {"phase": "Running" if running else "Pending", "conditions": []}
    if not node:
        status["conditions"].append({"type": "PodScheduled", "status": "False", "message": "0/0 nodes are available"})
    if running:
        status["initContainerStatuses"] = [{"name": "stage", "state": {"terminated": {"exitCode": 0}}}]
        status["containerStatuses"] = [{"name": "run", "state": {"running": {}}}]
    return {
        "metadata": {"name": "r-x", "creationTimestamp": "2026-11-22T09:00:01Z"},
        "spec": {"nodeName": node} if node else {},
        "status": status,
    }


QUEUED_3 = {
    "admitted": False,
    "reason": tr.REASON_WAITING_FOR_CAPACITY,
    "position": 3,
    "message": "position 3 of 7 in the queue of ComputeCluster 'pool': the pool is at maxNodes=2",
}
SCALING_2 = {
    "admitted": False,
    "reason": tr.REASON_WAITING_FOR_SCALE_UP,
    "position": 2,
    "message": "position 2 of 2 in the queue of ComputeCluster 'pool': waiting for a node being added",
}
ADMITTED = {"admitted": True, "reason": tr.REASON_ADMITTED, "message": "admitted by ComputeCluster 'pool'"}
ONTO_NEW = {
    "admitted": True,
    "reason": tr.REASON_WAITING_FOR_SCALE_UP,
    "message": "admitted by ComputeCluster 'pool'; its pod waits for a node being added",
}
KUEUE = {"admitted": True, "reason": tr.REASON_ADMITTED, "kueueQueue": "team-q", "message": "handed to Kueue"}

CASES = [
    # (id, run, observed, phase, (progress condition, reason), (Admitted status, reason), queuePosition, message has)
    (
        "no-decision-yet",
        run(),
        Observed(),
        tr.PHASE_QUEUED,
        (tr.QUEUED, tr.REASON_ACCEPTED),
        ("False", tr.REASON_PENDING_ADMISSION),
        None,
        "waiting for ComputeCluster 'pool' to place this run in its queue",
    ),
    (
        "queued-at-max",
        run(QUEUED_3),
        Observed(),
        tr.PHASE_QUEUED,
        (tr.QUEUED, tr.REASON_WAITING_FOR_CAPACITY),
        ("False", tr.REASON_WAITING_FOR_CAPACITY),
        3,
        "position 3 of 7",
    ),
    (
        "queued-while-the-pool-scales-up",
        run(SCALING_2),
        Observed(),
        tr.PHASE_SCALING,
        (tr.QUEUED, tr.REASON_WAITING_FOR_SCALE_UP),
        ("False", tr.REASON_WAITING_FOR_SCALE_UP),
        2,
        "waiting for a node being added",
    ),
    (
        "admitted-job-not-made-yet",
        run(ADMITTED),
        Observed(),
        tr.PHASE_QUEUED,
        (tr.QUEUED, tr.REASON_ACCEPTED),
        ("True", tr.REASON_ADMITTED),
        None,
        "creating the run's Job",
    ),
    (
        "admitted-onto-a-node-being-added",
        run(ONTO_NEW),
        Observed(job=job(), pods=(pod(),)),
        tr.PHASE_SCALING,
        (tr.QUEUED, tr.REASON_WAITING_FOR_SCALE_UP),
        ("True", tr.REASON_ADMITTED),
        None,
        "admitted onto a node being added to ComputeCluster 'pool'",
    ),
    (
        "admitted-pod-not-placed-yet",
        run(ADMITTED),
        Observed(job=job(), pods=(pod(),)),
        tr.PHASE_QUEUED,
        (tr.QUEUED, tr.REASON_WAITING_FOR_CAPACITY),
        ("True", tr.REASON_ADMITTED),
        None,
        "0/0 nodes",
    ),
    (
        "admitted-onto-a-new-node-now-running",
        run(ONTO_NEW),
        Observed(job=job(), pods=(pod(node="n1", running=True),)),
        tr.PHASE_RUNNING,
        (tr.RUNNING, tr.REASON_SCRIPT_RUNNING),
        ("True", tr.REASON_ADMITTED),
        None,
        "running",
    ),
    (
        "job-from-before-admission-records",
        run(),
        Observed(job=job(), pods=(pod(node="n1", running=True),)),
        tr.PHASE_RUNNING,
        (tr.RUNNING, tr.REASON_SCRIPT_RUNNING),
        ("True", tr.REASON_ADMITTED),
        None,
        "running",
    ),
    (
        "handed-to-kueue-job-suspended",
        run(KUEUE),
        Observed(job=job(suspend=True)),
        tr.PHASE_QUEUED,
        (tr.QUEUED, tr.REASON_WAITING_FOR_CAPACITY),
        ("False", tr.REASON_WAITING_FOR_CAPACITY),
        None,
        "waiting for admission by the queue",
    ),
    (
        "kueue-unsuspended-the-job",
        run(KUEUE),
        Observed(job=job(), pods=(pod(node="n1", running=True),)),
        tr.PHASE_RUNNING,
        (tr.RUNNING, tr.REASON_SCRIPT_RUNNING),
        ("True", tr.REASON_ADMITTED),
        None,
        "running",
    ),
    (
        "job-lost",
        run(ADMITTED, job_name="r"),
        Observed(),
        tr.PHASE_FAILED,
        (tr.FAILED, tr.REASON_JOB_LOST),
        ("True", tr.REASON_ADMITTED),
        None,
        "the run's Job 'r' was deleted before the run ended",
    ),
    (
        "canceled-after-its-job-was-deleted-is-not-lost",
        run(ADMITTED, job_name="r", suspend=True),
        Observed(),
        tr.PHASE_CANCELED,
        (tr.CANCELED, tr.REASON_CANCELED),
        ("True", tr.REASON_ADMITTED),
        None,
        "spec.suspend",
    ),
]


@pytest.mark.parametrize(
    "r, obs, phase, progress, admitted, position, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_derive_with_admission(r, obs, phase, progress, admitted, position, message):
    st = derive(r, obs, now=NOW)
    conds = {c["type"]: c for c in st["conditions"]}
    assert st["phase"] == phase
    assert conds[progress[0]]["status"] == "True" and conds[progress[0]]["reason"] == progress[1]
    assert (conds[tr.ADMITTED]["status"], conds[tr.ADMITTED]["reason"]) == admitted
    assert st.get("queuePosition") == position
    assert message in st["message"]
    # The decision itself is carried along untouched: the run's status patch never writes it.
    assert st.get("admission") == r["status"].get("admission")


def test_a_run_moving_up_from_queued_to_admitted_loses_its_position():
    r = run(QUEUED_3)
    r["status"] = {**derive(r, Observed(), now=NOW), "admission": ADMITTED}
    st = derive(r, Observed(job=job()), now=NOW)
    assert "queuePosition" not in st and st["phase"] == tr.PHASE_QUEUED
    assert {c["type"]: c["status"] for c in st["conditions"]}[tr.ADMITTED] == "True"
