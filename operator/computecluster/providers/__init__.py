"""Node-pool providers behind one small interface: desired nodes in, observed nodes out.

- `static`: the existing nodes that match the cluster's selector; reports them, never scales;
- `kwok`: creates and deletes simulated Nodes for tests, demos and capacity planning;
- `clusterAPI`: sets `spec.replicas` of a Cluster API MachineDeployment and reads its ready replicas.
"""

from __future__ import annotations

from trainyard.operator.computecluster.providers.base import Observation, Provider, ProviderError, node_view
from trainyard.operator.computecluster.providers.clusterapi import ClusterAPIProvider
from trainyard.operator.computecluster.providers.kwok import KwokProvider
from trainyard.operator.computecluster.providers.static import StaticProvider

__all__ = ["Observation", "Provider", "ProviderError", "for_cluster", "node_view"]

_BY_TYPE = {"static": StaticProvider, "kwok": KwokProvider, "clusterAPI": ClusterAPIProvider}


def for_cluster(cluster: dict) -> Provider:
    kind = ((cluster.get("spec") or {}).get("provider") or {}).get("type", "static")
    try:
        return _BY_TYPE[kind]()
    except KeyError:  # the schema's enum rejects this; kept for objects written before a change
        raise ProviderError(f"unknown provider type {kind!r}; use one of {sorted(_BY_TYPE)}") from None
