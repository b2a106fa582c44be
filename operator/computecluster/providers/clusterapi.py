"""`clusterAPI`: the pool is a Cluster API MachineDeployment. The provider sets its
`spec.replicas` and reads `status.readyReplicas`; Cluster API (and its infrastructure provider)
creates the machines, which join as Nodes carrying the cluster's labels. To shrink, the nodes
chosen by the policy are cordoned and their Machines marked with `cluster.x-k8s.io/delete-machine`
before the replica count drops, so Cluster API removes exactly those and never a busy one.
"""

from __future__ import annotations

from kubernetes.client.rest import ApiException

from trainyard.operator.computecluster.providers.base import Observation, ProviderError, node_view
from trainyard.operator.core import kube

GROUP, VERSION, PLURAL = "cluster.x-k8s.io", "v1beta2", "machinedeployments"
MACHINE_ANNOTATION = "cluster.x-k8s.io/machine"
MACHINE_NAMESPACE_ANNOTATION = "cluster.x-k8s.io/cluster-namespace"
DELETE_MACHINE_ANNOTATION = "cluster.x-k8s.io/delete-machine"


def target(cluster: dict) -> tuple[str, str]:
    ref = cluster["spec"]["provider"].get("clusterAPI") or {}
    return ref.get("namespace") or cluster["metadata"]["namespace"], ref["machineDeployment"]


def replicas_patch(desired: int) -> dict:
    return {"spec": {"replicas": desired}}


class ClusterAPIProvider:
    can_scale = True

    def _read(self, cluster: dict) -> dict:
        ns, name = target(cluster)
        try:
            return kube.custom().get_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name)
        except ApiException as exc:
            if exc.status == 404:
                raise ProviderError(
                    f"MachineDeployment {ns}/{name} not found (or the Cluster API CRDs are not installed)"
                ) from exc
            raise ProviderError(f"reading MachineDeployment {ns}/{name} failed: {exc.status} {exc.reason}") from exc

    def observe(self, cluster: dict, nodes: list[dict]) -> Observation:
        md = self._read(cluster)
        replicas = (md.get("spec") or {}).get("replicas")
        views = tuple(
            node_view(n, removable=MACHINE_ANNOTATION in (n["metadata"].get("annotations") or {}))
            for n in nodes
            if not n["metadata"].get("deletionTimestamp")
        )
        return Observation(views, max(len(views), replicas if replicas is not None else len(views)))

    @staticmethod
    def ready_replicas(md: dict) -> int:
        return int((md.get("status") or {}).get("readyReplicas") or 0)

    def scale(self, cluster: dict, desired: int, remove: tuple[str, ...], observed: Observation) -> None:
        ns, name = target(cluster)
        for node_name in remove:
            self._mark_for_deletion(node_name)
        try:
            kube.custom().patch_namespaced_custom_object(GROUP, VERSION, ns, PLURAL, name, replicas_patch(desired))
        except ApiException as exc:
            raise ProviderError(
                f"scaling MachineDeployment {ns}/{name} to {desired} failed: {exc.status} {exc.reason}"
            ) from exc

    def _mark_for_deletion(self, node_name: str) -> None:
        node = kube.core().patch_node(node_name, {"spec": {"unschedulable": True}})
        ann = node.metadata.annotations or {}
        machine, machine_ns = ann.get(MACHINE_ANNOTATION), ann.get(MACHINE_NAMESPACE_ANNOTATION)
        if machine and machine_ns:
            kube.custom().patch_namespaced_custom_object(
                GROUP,
                VERSION,
                machine_ns,
                "machines",
                machine,
                {"metadata": {"annotations": {DELETE_MACHINE_ANNOTATION: "yes"}}},
            )

    def release(self, cluster: dict) -> None:
        # The MachineDeployment belongs to whoever runs Cluster API; deleting the ComputeCluster
        # leaves it (and its machines) as they are.
        return None
