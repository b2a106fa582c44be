"""How a ComputeCluster pass sees its runs (reconcile_cluster.run_views), from a snapshot as data."""

from trainyard.operator.computecluster.queue import ADMITTED, BOUND, QUEUED
from trainyard.operator.computecluster.reconcile import Snapshot, run_views

CLUSTER = {
    "metadata": {"name": "pool", "namespace": "ns"},
    "spec": {"provider": {"type": "kwok"}, "maxNodes": 2, "nodeResources": {"cpu": "2", "memory": "8Gi"}},
}


def run(name, created="2026-01-01T00:00:00Z"):
    return {
        "metadata": {"name": name, "namespace": "ns", "creationTimestamp": created},
        "spec": {"compute": "pool", "resources": {"cpu": "1", "memory": "1Gi"}},
    }


def job(name, finished=False):
    conds = [{"type": "Complete", "status": "True"}] if finished else []
    return {"metadata": {"name": name, "labels": {"trainyard.dev/run": name}}, "status": {"conditions": conds}}


def pod(name, node=None):
    return {
        "metadata": {
            "name": f"{name}-x",
            "namespace": "ns",
            "labels": {"trainyard.dev/run": name, "trainyard.dev/compute": "pool"},
        },
        "spec": {"nodeName": node} if node else {},
    }


def snap(runs, jobs, pods):
    return Snapshot(CLUSTER, runs, {j["metadata"]["name"]: j for j in jobs}, pods, [])


def test_states_from_jobs_and_pods():
    s = snap(
        [run("q"), run("a"), run("b"), run("done")],
        [job("a"), job("b"), job("done", finished=True)],
        [pod("a"), pod("b", node="n1")],
    )
    views = {v.name: (v.state, v.node) for v in run_views(s)}
    assert views == {"q": (QUEUED, None), "a": (ADMITTED, None), "b": (BOUND, "n1")}


def test_a_run_whose_pod_was_seen_ending_holds_nothing_before_its_job_says_so():
    s = snap([run("ended"), run("starting")], [job("ended"), job("starting")], [])
    # Without the memo both look admitted (a Job, no live pod): demand for two slots.
    assert [v.state for v in run_views(s)] == [ADMITTED, ADMITTED]
    assert [v.name for v in run_views(s, frozenset({"ended"}))] == ["starting"]


def test_a_retried_run_with_a_new_pod_counts_again():
    s = snap([run("retry")], [job("retry")], [pod("retry", node="n2")])
    assert [(v.name, v.state) for v in run_views(s, frozenset({"retry"}))] == [("retry", BOUND)]
