"""Where a run's pod goes on its ComputeCluster and what it asks for, as pure functions of the
cluster (and the run): the node selector and tolerations of the pool, the packing preference of a
pool that scales, and the run's requests with the cluster's defaults. The run's Job builder
(operator/trainingrun/job.py) and the cluster's queue read the same answers."""

from __future__ import annotations

from trainyard.api.computecluster import SPOT_TAINT_KEY
from trainyard.api.constants import LABEL_COMPUTE

DEFAULT_RESOURCES = {"cpu": "1", "memory": "2Gi"}
KWOK_TAINT_TOLERATION = {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}

INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def run_resources(run: dict, cluster: dict | None) -> dict:
    """Requests from the run, else the cluster's default, else 1 CPU / 2Gi. Memory is also the
    limit, so running out of memory is a clear OOMKilled rather than a node under pressure."""
    wanted = dict(DEFAULT_RESOURCES)
    if cluster:
        wanted.update({k: str(v) for k, v in ((cluster.get("spec") or {}).get("defaultRunResources") or {}).items()})
    wanted.update({k: str(v) for k, v in (run["spec"].get("resources") or {}).items()})
    return {"requests": dict(wanted), "limits": {"memory": wanted["memory"]}}


def placement(cluster: dict | None) -> tuple[dict[str, str], list[dict]]:
    """Node selector and tolerations that put the pod on the cluster's pool."""
    if not cluster:
        return {}, []
    spec = cluster.get("spec") or {}
    selector = dict(spec.get("nodeSelector") or {})
    if spec.get("instanceType"):
        selector.setdefault(INSTANCE_TYPE_LABEL, spec["instanceType"])
    tolerations = [dict(t) for t in spec.get("tolerations") or []]
    if spec.get("priority") == "spot":
        tolerations.append({"key": SPOT_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"})
    if (spec.get("provider") or {}).get("type") == "kwok":
        tolerations.append(dict(KWOK_TAINT_TOLERATION))
    return selector, tolerations


def packing(cluster: dict | None) -> dict | None:
    """On a pool that scales, prefer nodes that already run pods of the same ComputeCluster: the
    kube-scheduler spreads pods by default, which keeps every node of the pool a little busy;
    packed, whole nodes go idle and are removed. A preference only: a pod still goes wherever it
    fits. A static pool is left to the scheduler's spreading."""
    if not cluster or ((cluster.get("spec") or {}).get("provider") or {}).get("type", "static") == "static":
        return None
    term = {
        "labelSelector": {"matchLabels": {LABEL_COMPUTE: cluster["metadata"]["name"]}},
        "topologyKey": HOSTNAME_LABEL,
    }
    return {
        "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]}
    }
