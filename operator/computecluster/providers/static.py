"""`static`: the pool is whatever Nodes carry the cluster's labels (e.g. kind workers labelled in
kind-config.yaml). It reports their capacity and never scales; queued runs wait for a free node."""

from __future__ import annotations

from trainyard.operator.computecluster.providers.base import Observation, node_view


class StaticProvider:
    can_scale = False

    def observe(self, cluster: dict, nodes: list[dict]) -> Observation:
        return Observation(tuple(node_view(n) for n in nodes), len(nodes))

    def scale(self, cluster, desired, remove, observed) -> None:  # a fixed pool: nothing to do
        return None

    def release(self, cluster: dict) -> None:
        return None
