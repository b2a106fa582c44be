"""BatchAiCompute, the 2018 name of the same thing (the MNIST tutorial's): autoscale_enabled with
cluster_min_nodes/cluster_max_nodes, or a fixed size without autoscale."""

from __future__ import annotations

from trainyard.core.compute.amlcompute import AmlCompute
from trainyard.core.compute.compute import ComputeTargetProvisioningConfiguration


class BatchAiCompute(AmlCompute):
    _compute_type = "BatchAI"

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "STANDARD_NC6",
        vm_priority: str = "dedicated",
        autoscale_enabled: bool = False,
        cluster_min_nodes: int | None = None,
        cluster_max_nodes: int | None = None,
        system_admin_username=None,
        system_admin_user_password=None,
        system_admin_user_ssh_key=None,
        vnet_resourcegroup_name=None,
        vnet_name=None,
        subnet_name=None,
        tags=None,
        description=None,
        location=None,
    ) -> BatchAiComputeProvisioningConfiguration:
        if autoscale_enabled:
            low, high = cluster_min_nodes or 0, cluster_max_nodes or max(1, cluster_min_nodes or 1)
        else:  # a fixed-size cluster
            high = cluster_max_nodes or cluster_min_nodes or 1
            low = high
        return BatchAiComputeProvisioningConfiguration(
            vm_size=vm_size or None, vm_priority=vm_priority, min_nodes=low, max_nodes=high, idle_seconds=None
        )


class BatchAiComputeProvisioningConfiguration(ComputeTargetProvisioningConfiguration):
    _target_class = BatchAiCompute
