"""The queue decision a ComputeCluster pass records on its runs (computecluster/admission.py) and
how the next pass reads it back (reconcile.run_views), as data; the cluster's status when a pass
failed or its deletion is blocked (status.derive)."""

import pytest

from trainyard.api import trainingrun as tr
from trainyard.api.conditions import parse_time
from trainyard.operator.computecluster import admission
from trainyard.operator.computecluster.queue import ADMITTED, BOUND, QUEUED, NodeView, Plan, Res, plan
from trainyard.operator.computecluster.reconcile import Snapshot, run_views
from trainyard.operator.computecluster.status import Facts, derive

CLUSTER = {
    "metadata": {"name": "pool", "namespace": "ns", "generation": 2},
    "spec": {"provider": {"type": "kwok"}, "maxNodes": 2, "nodeResources": {"cpu": "2", "memory": "8Gi"}},
}
T0 = 1_800_000_000.0


def run(name, record=None, created="2026-01-01T00:00:00Z"):
    r = {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
        "spec": {"compute": "pool", "resources": {"cpu": "1", "memory": "1Gi"}},
    }
    if record is not None:
        r["status"] = {"admission": record}
    return r


def job(name, suspend=False):
    return {"metadata": {"name": name, "labels": {"trainyard.dev/run": name}}, "spec": {"suspend": suspend}}


ADMIT = admission.admitted_record("pool")


def test_decisions_for_a_plan():
    p = Plan(
        admit=("a", "b"),
        onto_new_nodes=("b",),
        positions={"q1": 1, "q2": 2},
        waiting_for_new_nodes=("q1",),
        too_big=("huge",),
    )
    got = admission.decisions(p, CLUSTER, {"old": None, "kept": ADMIT}, at_max=True, scaling_up=False, kueue_queue=None)
    assert {r: (d["admitted"], d["reason"], d.get("position")) for r, d in got.items()} == {
        "a": (True, tr.REASON_ADMITTED, None),
        "b": (True, tr.REASON_WAITING_FOR_SCALE_UP, None),
        "q1": (False, tr.REASON_WAITING_FOR_SCALE_UP, 1),
        "q2": (False, tr.REASON_WAITING_FOR_CAPACITY, 2),
        "huge": (False, tr.REASON_WAITING_FOR_CAPACITY, 3),
        "old": (True, tr.REASON_ADMITTED, None),  # a Job made before records existed: admitted
        "kept": (True, tr.REASON_ADMITTED, None),
    }
    assert got["q2"]["message"] == "position 2 of 3 in the queue of ComputeCluster 'pool': the pool is at maxNodes=2"
    assert "needs more than one node" in got["huge"]["message"]
    assert "node being added" in got["b"]["message"]


def test_with_kueue_every_run_is_handed_to_the_local_queue_and_admitted_records_are_kept():
    p = Plan(positions={"q1": 1})
    got = admission.decisions(p, CLUSTER, {"held": ADMIT}, at_max=False, scaling_up=False, kueue_queue="team-q")
    assert got["q1"] == admission.kueue_record("team-q") and got["q1"]["kueueQueue"] == "team-q"
    assert got["held"] == ADMIT


QUEUED_1 = {"admitted": False, "reason": tr.REASON_WAITING_FOR_CAPACITY, "position": 1, "message": "m"}


@pytest.mark.parametrize(
    "case, old, new, now, expected",
    [
        ("none yet", None, QUEUED_1, T0, True),
        ("same", {**QUEUED_1, "time": "2027-01-15T08:00:00Z"}, QUEUED_1, T0, False),
        ("admitted now", {**QUEUED_1, "time": "2027-01-15T08:00:00Z"}, ADMIT, T0, True),
        ("position only, no time recorded", {**QUEUED_1, "time": None}, {**QUEUED_1, "position": 2}, T0, True),
        ("never un-admitted", {**ADMIT, "time": "x"}, QUEUED_1, T0, False),
        (
            "an admitted record is final",
            {**ADMIT, "time": "x"},
            admission.admitted_record("pool", onto_new_node=True),
            T0,
            False,
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_when_a_record_is_written(case, old, new, now, expected):
    assert admission.due(old, new, now) is expected


def test_position_only_changes_are_rate_limited_by_the_recorded_time():
    written = {**QUEUED_1, **admission.patch_for(None, QUEUED_1, T0)["admission"]}
    moved = {**QUEUED_1, "position": 2, "message": "m2"}
    assert parse_time(written["time"]) == T0
    assert not admission.due(written, moved, T0 + admission.POSITION_REFRESH_SECONDS - 0.5)
    assert admission.due(written, moved, T0 + admission.POSITION_REFRESH_SECONDS)
    assert admission.due(written, ADMIT, T0 + 0.1), "admission itself is never held back"


def test_the_patch_removes_keys_of_the_old_record():
    body = admission.patch_for({**QUEUED_1, "time": "t"}, ADMIT, T0)["admission"]
    assert body["admitted"] is True and body["position"] is None and body["time"].startswith("2027-01-15T08:00:00")


def snap(runs, jobs=(), pods=()):
    return Snapshot(CLUSTER, runs, {j["metadata"]["name"]: j for j in jobs}, list(pods), [])


def test_a_run_admitted_whose_job_does_not_exist_yet_holds_its_place():
    s = snap(
        [run("a", ADMIT), run("q", QUEUED_1), run("k", admission.kueue_record("team-q")), run("new")],
        jobs=[job("k", suspend=True)],
    )
    assert {v.name: v.state for v in run_views(s)} == {"a": ADMITTED, "q": QUEUED, "k": QUEUED, "new": QUEUED}


def test_the_next_pass_does_not_give_an_admitted_runs_slot_away():
    """Pass 1 admits `a` onto the one free slot; before a's Job exists pass 2 runs: `b` waits."""
    node = NodeView("n1", True, Res(2000, 8 * 2**30, 110), used=Res(1000, 2**30, 1))
    cap = Res(2000, 8 * 2**30, 110)
    first = plan(run_views(snap([run("a", created="1"), run("b", created="2")])), [node], node_capacity=cap)
    assert first.admit == ("a",) and first.positions == {"b": 1}
    second = plan(run_views(snap([run("a", ADMIT, "1"), run("b", QUEUED_1, "2")])), [node], node_capacity=cap)
    assert second.admit == () and second.positions == {"b": 1} and second.unbound == 1


def test_a_bound_run_stays_bound():
    pod = {
        "metadata": {
            "name": "a-x",
            "namespace": "ns",
            "labels": {"trainyard.dev/run": "a", "trainyard.dev/compute": "pool"},
        },
        "spec": {"nodeName": "n1"},
    }
    assert [v.state for v in run_views(snap([run("a", ADMIT)], [job("a")], [pod]))] == [BOUND]


def test_a_failed_pass_keeps_the_counts_and_says_why_in_ready():
    cluster = {**CLUSTER, "status": {"currentNodes": 2, "readyNodes": 2, "queuedRuns": 4, "conditions": []}}
    st = derive(cluster, Facts.partial(error="connection reset"), now="t")
    ready = {c["type"]: c for c in st["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"]) == ("False", "ReconcileError")
    assert ready["message"] == "reconcile failed (retrying): connection reset" and ready["observedGeneration"] == 2
    assert (st["currentNodes"], st["readyNodes"], st["queuedRuns"]) == (2, 2, 4)
    st = derive(cluster, Facts.partial(blocked_by=("r1", "r2")), now="t")
    ready = {c["type"]: c for c in st["conditions"]}["Ready"]
    assert ready["reason"] == "DeletionBlockedByRuns" and "2 run(s) to end: r1, r2" in ready["message"]
