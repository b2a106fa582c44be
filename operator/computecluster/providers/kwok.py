"""`kwok`: simulated Nodes (annotation `kwok.x-k8s.io/node: fake`, kept Ready by the KWOK
controller) with the instance type's capacity from spec.nodeResources — for tests, demos and
capacity planning. Nodes it creates carry the cluster's labels, so it only ever deletes its own.
"""

from __future__ import annotations

import concurrent.futures
import secrets

from kubernetes.client.rest import ApiException

from trainyard.api.computecluster import LABEL_CLUSTER, LABEL_CLUSTER_NAMESPACE, LABEL_INSTANCE_TYPE, SPOT_TAINT_KEY
from trainyard.api.constants import LABEL_RUN
from trainyard.operator.computecluster.placement import placement
from trainyard.operator.computecluster.providers.base import Observation, ProviderError, node_view, owned_by
from trainyard.operator.core import kube, names

KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
DEFAULT_CAPACITY = {"cpu": "4", "memory": "16Gi", "pods": 110}
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="trainyard-kwok")


def node_name(cluster: dict, suffix: str) -> str:
    meta = cluster["metadata"]
    return names.safe_name(f"{meta['name']}-{meta['namespace']}", suffix, max_len=63)


def node_manifest(cluster: dict, name: str) -> dict:
    """The simulated Node for one member of the pool (pure; tested as data)."""
    meta, spec = cluster["metadata"], cluster["spec"]
    selector, _ = placement(cluster)
    capacity = {**DEFAULT_CAPACITY, **(spec.get("nodeResources") or {})}
    capacity = {k: str(v) for k, v in capacity.items()}
    taints = [dict(KWOK_TAINT)]
    if spec.get("priority") == "spot":
        taints.append({"key": SPOT_TAINT_KEY, "value": "true", "effect": "NoSchedule"})
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "type": "kwok",
        **selector,
        LABEL_CLUSTER: meta["name"],
        LABEL_CLUSTER_NAMESPACE: meta["namespace"],
    }
    if spec.get("instanceType"):
        labels[LABEL_INSTANCE_TYPE] = spec["instanceType"]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
        },
        "spec": {"taints": taints},
        "status": {"allocatable": dict(capacity), "capacity": dict(capacity)},
    }


class KwokProvider:
    can_scale = True

    def observe(self, cluster: dict, nodes: list[dict]) -> Observation:
        views = tuple(
            node_view(n, removable=owned_by(n, cluster)) for n in nodes if not n["metadata"].get("deletionTimestamp")
        )
        return Observation(views, len(views))

    def scale(self, cluster: dict, desired: int, remove: tuple[str, ...], observed: Observation) -> None:
        # Nodes are independent: drain and delete, or create, them concurrently.
        ns = cluster["metadata"]["namespace"]
        gone = [n for n, ok in zip(remove, _POOL.map(lambda n: _drain_and_delete(n, ns), remove), strict=False) if ok]
        missing = desired - (len(observed.nodes) - len(gone))
        manifests = [node_manifest(cluster, node_name(cluster, secrets.token_hex(3))) for _ in range(max(0, missing))]
        try:
            list(_POOL.map(kube.core().create_node, manifests))
        except ApiException as exc:
            raise ProviderError(f"creating a simulated node failed: {exc.status} {exc.reason}") from exc

    def release(self, cluster: dict) -> None:
        meta = cluster["metadata"]
        selector = f"{LABEL_CLUSTER}={meta['name']},{LABEL_CLUSTER_NAMESPACE}={meta['namespace']}"
        for node in kube.core().list_node(label_selector=selector).items:
            _delete(node.metadata.name)


def _drain_and_delete(name: str, namespace: str) -> bool:
    """Cordon, then delete only if no pod of ours landed there meanwhile (the scheduler may have
    placed one after the decision). Returns whether the node was deleted."""
    kube.core().patch_node(name, {"spec": {"unschedulable": True}})
    pods = kube.core().list_pod_for_all_namespaces(field_selector=f"spec.nodeName={name}").items
    if any(
        p.metadata.labels and LABEL_RUN in p.metadata.labels and p.status.phase not in ("Succeeded", "Failed")
        for p in pods
    ):
        kube.core().patch_node(name, {"spec": {"unschedulable": False}})
        return False
    _delete(name)
    return True


def _delete(name: str) -> None:
    try:
        kube.core().delete_node(name)
    except ApiException as exc:
        if exc.status != 404:
            raise ProviderError(f"deleting simulated node {name} failed: {exc.status} {exc.reason}") from exc
