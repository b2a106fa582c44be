"""Which events wake a ComputeCluster's pass (computecluster/wake.py) and a run's reconcile
(trainingrun/handlers.py), as data: the fields each filter compares, event by event."""

import asyncio
import copy

import pytest

from trainyard.operator.computecluster import handlers as cluster_handlers
from trainyard.operator.computecluster import wake
from trainyard.operator.core.seen import LastSeen
from trainyard.operator.trainingrun import handlers as run_handlers

RUN = {
    "metadata": {"uid": "u1", "name": "r", "namespace": "ns"},
    "spec": {"compute": "pool", "priority": 0},
    "status": {"phase": "Running", "metrics": {"loss": 0.5}, "admission": {"admitted": True, "message": "m"}},
}
POD = {
    "metadata": {"uid": "p1"},
    "spec": {"nodeName": "n1"},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
}
JOB = {"metadata": {"uid": "j1"}, "spec": {"suspend": False}, "status": {"active": 1, "conditions": []}}
NODE = {
    "metadata": {"uid": "n1", "labels": {"pool": "a"}},
    "spec": {},
    "status": {
        "allocatable": {"cpu": "2"},
        "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t0"}],
    },
}


def changed(obj, path, value):
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    d = out
    for p in parents:
        d = d.setdefault(p, {})
    d[last] = value
    return out


CASES = [
    # (id, fields function, object, path changed, new value, wakes)
    ("run metrics patch", wake.run_fields, RUN, "status.metrics", {"loss": 0.4}, False),
    ("run primaryMetric", wake.run_fields, RUN, "status.primaryMetric", "loss=0.4", False),
    ("run message", wake.run_fields, RUN, "status.message", "staging", False),
    ("run queue position", wake.run_fields, RUN, "status.admission", {"admitted": True, "message": "x"}, False),
    ("run phase", wake.run_fields, RUN, "status.phase", "Finalizing", True),
    ("run suspended", wake.run_fields, RUN, "spec.suspend", True, True),
    ("run priority", wake.run_fields, RUN, "spec.priority", 5, True),
    ("run admitted", wake.run_fields, RUN, "status.admission", {"admitted": False}, True),
    ("run being deleted", wake.run_fields, RUN, "metadata.deletionTimestamp", "t", True),
    ("pod conditions", wake.pod_fields, POD, "status.conditions", [], False),
    ("pod running", wake.pod_fields, POD, "status.phase", "Pending", False),
    ("pod bound", wake.pod_fields, POD, "spec.nodeName", "n2", True),
    ("pod ended", wake.pod_fields, POD, "status.phase", "Succeeded", True),
    ("pod failed", wake.pod_fields, POD, "status.phase", "Failed", True),
    ("job active count", wake.job_fields, JOB, "status.active", 0, False),
    ("job unsuspended", wake.job_fields, JOB, "spec.suspend", True, True),
    ("job finished", wake.job_fields, JOB, "status.conditions", [{"type": "Complete", "status": "True"}], True),
    (
        "node heartbeat",
        wake.node_fields,
        NODE,
        "status.conditions",
        [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t1"}],
        False,
    ),
    ("node not ready", wake.node_fields, NODE, "status.conditions", [{"type": "Ready", "status": "False"}], True),
    ("node cordoned", wake.node_fields, NODE, "spec.unschedulable", True, True),
    ("node relabelled", wake.node_fields, NODE, "metadata.labels", {"pool": "b"}, True),
    ("node allocatable", wake.node_fields, NODE, "status.allocatable", {"cpu": "4"}, True),
]


@pytest.mark.parametrize("fields, obj, path, value, wakes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_fields_table(fields, obj, path, value, wakes):
    assert (fields(obj) != fields(changed(obj, path, value))) is wakes


@pytest.mark.parametrize(
    "path, value, wakes",
    [
        ("status.metrics", {"loss": 0.1}, False),
        ("status.phase", "Finalizing", False),
        ("status.admission", {"admitted": True, "message": "m2"}, True),
        ("status.admission", {"admitted": False, "position": 2}, True),
    ],
)
def test_a_runs_own_reconcile_is_woken_by_its_admission_only(path, value, wakes):
    a, b = run_handlers.admission_fields(RUN), run_handlers.admission_fields(changed(RUN, path, value))
    assert (a != b) is wakes


def test_last_seen():
    seen = LastSeen()
    assert seen.changed("k", (1,)) and not seen.changed("k", (1,)) and seen.changed("k", (2,))
    assert seen.forget("k") and len(seen) == 0 and seen.changed("k", (2,))


def test_metrics_patches_do_not_wake_the_cluster_but_a_phase_change_does():
    wake.forget("ns", "pool")
    s = wake._get("ns", "pool")

    def event(body, type="MODIFIED"):
        s.event.clear()
        asyncio.run(cluster_handlers.run_event(namespace="ns", name="r", body=body, type=type))
        return s.event.is_set()

    assert event(RUN, None), "the first sight of a run counts"
    for loss in (0.4, 0.3, 0.2):
        assert not event(changed(RUN, "status.metrics", {"loss": loss}))
    assert event(changed(RUN, "status.phase", "Finalizing"))
    assert event(RUN, "DELETED")
    wake.forget("ns", "pool")


def test_a_node_heartbeat_wakes_nothing():
    wake.forget("ns", "pool")
    wake.watch_nodes("ns", "pool", {"pool": "a"})
    s = wake._get("ns", "pool")

    def event(body):
        s.event.clear()
        asyncio.run(
            cluster_handlers.node_event(name="n1", labels=body["metadata"]["labels"], body=body, type="MODIFIED")
        )
        return s.event.is_set()

    event(NODE)
    beat = changed(NODE, "status.conditions", [{"type": "Ready", "status": "True", "lastHeartbeatTime": "t9"}])
    assert not event(beat)
    assert event(changed(NODE, "spec.unschedulable", True))
    wake.forget("ns", "pool")
