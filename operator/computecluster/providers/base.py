"""The provider interface and what every provider shares: reading Node objects into NodeViews."""

from __future__ import annotations

import dataclasses
from typing import Protocol

from trainyard.api.computecluster import LABEL_CLUSTER, LABEL_CLUSTER_NAMESPACE
from trainyard.operator.computecluster.queue import NodeView, Res, parse_res


class ProviderError(Exception):
    """The provider could not observe or scale the pool; shown in the ProviderError condition."""


@dataclasses.dataclass(frozen=True)
class Observation:
    nodes: tuple[NodeView, ...]  # the pool's Node objects
    target: int  # nodes the provider is asked to run (>= len(nodes) while provisioning)

    @property
    def pending(self) -> int:
        """Nodes asked for that do not exist as Node objects yet."""
        return max(0, self.target - len(self.nodes))


class Provider(Protocol):
    can_scale: bool

    def observe(self, cluster: dict, nodes: list[dict]) -> Observation:
        """`nodes`: the Node objects matching the cluster's selector."""

    def scale(self, cluster: dict, desired: int, remove: tuple[str, ...], observed: Observation) -> None:
        """Make the pool `desired` nodes, removing exactly the nodes in `remove` when shrinking."""

    def release(self, cluster: dict) -> None:
        """The cluster is being deleted and no run uses it: give back what the provider made."""


def is_ready(node: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or ()
    )


def owned_by(node: dict, cluster: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    meta = cluster["metadata"]
    return labels.get(LABEL_CLUSTER) == meta["name"] and labels.get(LABEL_CLUSTER_NAMESPACE) == meta["namespace"]


def node_view(node: dict, *, used: Res = Res(), ours: int = 0, removable: bool = False) -> NodeView:
    status = node.get("status") or {}
    return NodeView(
        name=node["metadata"]["name"],
        ready=is_ready(node) and not node["metadata"].get("deletionTimestamp"),
        allocatable=parse_res(status.get("allocatable") or status.get("capacity"), pods=110),
        used=used,
        schedulable=not (node.get("spec") or {}).get("unschedulable"),
        removable=removable,
        ours=ours,
    )
