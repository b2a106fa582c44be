"""ComputeCluster children and status as data: simulated nodes, Kueue Jobs, the derived status."""

from __future__ import annotations

from trainyard.api.conditions import parse_time, rfc3339
from trainyard.operator.computecluster.preemption import disruption_patch, lost_pods
from trainyard.operator.computecluster.providers.base import Observation
from trainyard.operator.computecluster.providers.clusterapi import replicas_patch, target
from trainyard.operator.computecluster.providers.kwok import node_manifest
from trainyard.operator.computecluster.queue import NodeView, Plan, Res
from trainyard.operator.computecluster.scaling import Decision
from trainyard.operator.computecluster.status import Facts, derive, previous_idle
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.trainingrun.job import build_job


def cluster(**spec) -> dict:
    base = {
        "minNodes": 0,
        "maxNodes": 4,
        "provider": {"type": "kwok"},
        "instanceType": "Standard_D2_v2",
        "nodeSelector": {"trainyard.dev/pool": "cpu"},
        "nodeResources": {"cpu": 2, "memory": "7Gi"},
    }
    base.update(spec)
    return {"metadata": {"name": "cpu", "namespace": "team-a", "generation": 3}, "spec": base}


def test_kwok_node_carries_the_pool_labels_and_capacity():
    n = node_manifest(cluster(), "cpu-team-a-abc123")
    assert n["metadata"]["labels"] == {
        "kubernetes.io/hostname": "cpu-team-a-abc123",
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        "trainyard.dev/pool": "cpu",
        "node.kubernetes.io/instance-type": "Standard_D2_v2",
        "trainyard.dev/compute-cluster": "cpu",
        "trainyard.dev/compute-namespace": "team-a",
    }
    assert n["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert n["spec"]["taints"] == [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]
    assert n["status"]["allocatable"] == {"cpu": "2", "memory": "7Gi", "pods": "110"}


def test_spot_kwok_node_is_tainted():
    taints = node_manifest(cluster(priority="spot"), "n")["spec"]["taints"]
    assert {"key": "trainyard.dev/spot", "value": "true", "effect": "NoSchedule"} in taints


def run() -> dict:
    return {
        "metadata": {"name": "r1", "namespace": "team-a", "uid": "u-1"},
        "spec": {"compute": "cpu", "source": {"snapshot": "s3://b/s.tar.gz"}, "entryScript": "train.py"},
    }


def test_job_for_kueue_is_suspended_and_labelled():
    job = build_job(run(), cluster(queueName="team-a"), OperatorConfig(), kueue_queue="team-a")
    assert job["spec"]["suspend"] is True
    assert job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-a"
    assert "kueue.x-k8s.io/queue-name" not in job["spec"]["template"]["metadata"]["labels"]


def test_job_without_kueue_is_not_suspended():
    job = build_job(run(), cluster(queueName="team-a"), OperatorConfig())
    assert "suspend" not in job["spec"] and "kueue.x-k8s.io/queue-name" not in job["metadata"]["labels"]


def test_cluster_api_target_and_patch():
    c = cluster(provider={"type": "clusterAPI", "clusterAPI": {"machineDeployment": "md-0"}})
    assert target(c) == ("team-a", "md-0")
    c["spec"]["provider"]["clusterAPI"]["namespace"] = "capi"
    assert target(c) == ("capi", "md-0") and replicas_patch(3) == {"spec": {"replicas": 3}}


def test_lost_pods_are_those_on_missing_nodes():
    pods = [
        {"metadata": {"name": "a"}, "spec": {"nodeName": "gone"}, "status": {"phase": "Running"}},
        {"metadata": {"name": "b"}, "spec": {"nodeName": "here"}, "status": {"phase": "Running"}},
        {"metadata": {"name": "c"}, "spec": {}, "status": {"phase": "Pending"}},
        {"metadata": {"name": "d"}, "spec": {"nodeName": "gone"}, "status": {"phase": "Succeeded"}},
    ]
    assert [p["metadata"]["name"] for p in lost_pods(pods, {"here"})] == ["a"]
    patch = disruption_patch("gone", "2026-01-01T00:00:00Z")["status"]
    assert patch["phase"] == "Failed" and patch["conditions"][0]["type"] == "DisruptionTarget"


def test_status_counts_nodes_and_conditions():
    nodes = (NodeView("n1", True, Res(2000, 1, 110), ours=1), NodeView("n2", False, Res(2000, 1, 110)))
    facts = Facts(
        Observation(nodes, 2),
        Plan(busy=frozenset({"n1"})),
        Decision(4, direction="up", reason="QueuedDemand", message="adding 2 node(s)", at_max=True),
        {"n1": None, "n2": 1767225600.0},
        queued=5,
        running=1,
        last_scale=1767225600.0,
    )
    s = derive(cluster(), facts, now="2026-01-01T00:00:01Z")
    assert {
        k: s[k]
        for k in (
            "currentNodes",
            "readyNodes",
            "busyNodes",
            "desiredNodes",
            "queuedRuns",
            "runningRuns",
            "observedGeneration",
        )
    } == {
        "currentNodes": 2,
        "readyNodes": 1,
        "busyNodes": 1,
        "desiredNodes": 4,
        "queuedRuns": 5,
        "runningRuns": 1,
        "observedGeneration": 3,
    }
    assert s["lastScaleTime"] == "2026-01-01T00:00:00.000Z"
    assert s["nodes"] == [
        {"name": "n1", "ready": True, "busy": True, "runs": 1},
        {"name": "n2", "ready": False, "busy": False, "runs": 0, "idleSince": "2026-01-01T00:00:00.000Z"},
    ]
    conds = {c["type"]: (c["status"], c["reason"]) for c in s["conditions"]}
    assert conds == {
        "Ready": ("True", "PoolReady"),
        "ScalingUp": ("True", "QueuedDemand"),
        "ScalingDown": ("False", "NoIdleNodes"),
        "AtMaxCapacity": ("True", "MaxNodesReached"),
        "ProviderError": ("False", "ProviderHealthy"),
    }
    assert previous_idle(s) == {"n1": None, "n2": 1767225600.0}


def test_status_with_a_provider_error_and_a_blocked_deletion():
    facts = Facts(
        None,
        Plan(),
        None,
        {},
        queued=0,
        running=2,
        last_scale=None,
        provider_error="MachineDeployment capi/md-0 not found",
    )
    conds = {c["type"]: c for c in derive(cluster(), facts, now="2026-01-01T00:00:01Z")["conditions"]}
    assert conds["ProviderError"]["status"] == "True" and "md-0 not found" in conds["ProviderError"]["message"]
    assert conds["Ready"]["reason"] == "ProviderFailed"
    facts = Facts(None, Plan(), None, {}, 0, 2, None, blocked_by=("r1", "r2"))
    ready = {c["type"]: c for c in derive(cluster(), facts, now="t")["conditions"]}["Ready"]
    assert ready["reason"] == "DeletionBlockedByRuns" and "r1, r2" in ready["message"]


def test_times_round_trip():
    assert parse_time(rfc3339(1767225600.25)) == 1767225600.25 and parse_time(None) is None


def test_a_preempted_pod_deleted_later_still_counts():
    """The lost pod is deleted soon after it is marked; the run keeps counting it."""
    from trainyard.operator.trainingrun.status import Observed
    from trainyard.operator.trainingrun.status import derive as derive_run

    r = run()
    r["metadata"]["generation"] = 1
    job = {"metadata": {"name": "r1"}, "status": {"active": 1}}

    def pod(name, created, phase, disrupted=False):
        conds = [{"type": "PodScheduled", "status": "True"}]
        if disrupted:
            conds.append({"type": "DisruptionTarget", "status": "True", "reason": "NodeLost"})
        return {
            "metadata": {"name": name, "creationTimestamp": created},
            "spec": {"nodeName": "n"},
            "status": {"phase": phase, "conditions": conds},
        }

    s1 = derive_run(r, Observed(job=job, pods=(pod("p1", "1", "Failed", True),)), now="t1")
    assert (s1["attempts"], s1["preemptions"]) == (1, 1)
    r["status"] = s1
    s2 = derive_run(r, Observed(job=job, pods=(pod("p2", "2", "Pending"),)), now="t2")
    assert (s2["attempts"], s2["preemptions"]) == (2, 1)


def test_a_held_run_says_why():
    from trainyard.operator.trainingrun.status import Observed
    from trainyard.operator.trainingrun.status import derive as derive_run

    r = run()
    r["metadata"]["generation"] = 1
    r["status"] = {"admission": {"admitted": False, "position": 3, "message": "position 3 of 7 in the queue"}}
    s = derive_run(r, Observed(), now="t")
    assert (s["phase"], s["queuePosition"], s["message"]) == ("Queued", 3, "position 3 of 7 in the queue")
    r["status"] = {}
    s = derive_run(r, Observed(), now="t")
    assert "to place this run in its queue" in s["message"] and "queuePosition" not in s
