"""Pods lost with their node (a spot node reclaimed, a simulated node deleted).

Kubernetes' pod garbage collector marks such a pod Failed with a `DisruptionTarget` condition and
deletes it, but only after a 40 s quarantine plus its 20 s check period (measured on the local
control plane: ~70 s from node deletion to a replacement pod). The Job's podFailurePolicy ignores
DisruptionTarget failures, so the run is retried without using up `maxRetries` — it just happens
late. The ComputeCluster's reconcile does the same thing as the pod GC as soon as it sees a pod of
ours bound to a node that the API server confirms is gone: the same condition, the same phase,
then deletion; the Job controller replaces the pod at once.
"""

from __future__ import annotations

from kubernetes.client.rest import ApiException

from trainyard.operator.core import kube

REASON_NODE_LOST = "NodeLost"  # DisruptionTarget reason, next to upstream's DeletionByPodGC


def lost_pods(pods: list[dict], existing_nodes: set[str]) -> list[dict]:
    """Non-terminal pods bound to a node that is not among `existing_nodes`."""
    return [
        p
        for p in pods
        if (p.get("spec") or {}).get("nodeName")
        and p["spec"]["nodeName"] not in existing_nodes
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]


def disruption_patch(node: str, now: str) -> dict:
    """The status patch the pod GC applies to a pod whose node is gone."""
    return {
        "status": {
            "phase": "Failed",
            "conditions": [
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": REASON_NODE_LOST,
                    "lastTransitionTime": now,
                    "message": f"trainyard: the pod's node {node} was deleted (spot preemption or scale-in); "
                    "the run is retried without counting against maxRetries",
                }
            ],
        }
    }


def node_exists(name: str) -> bool:
    try:
        kube.core().read_node(name)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise


def fail_lost_pod(pod: dict, now: str) -> bool:
    """Mark and delete one lost pod, after confirming its node is really gone. True if done."""
    meta, node = pod["metadata"], pod["spec"]["nodeName"]
    if node_exists(node):
        return False
    try:
        kube.core().patch_namespaced_pod_status(meta["name"], meta["namespace"], disruption_patch(node, now))
        kube.core().delete_namespaced_pod(meta["name"], meta["namespace"], grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise
    return True
