"""AmlCompute (Azure ML: azureml.core.compute.AmlCompute): a ComputeCluster made from a VM size,
min/max nodes, idle scale-down and a priority."""

from __future__ import annotations

from trainyard.core.compute.compute import ComputeTarget, ComputeTargetProvisioningConfiguration

DEFAULT_MAX_NODES = 4  # Azure's default


class AmlCompute(ComputeTarget):
    _compute_type = "AmlCompute"

    def __init__(self, workspace, name: str):
        super().__init__(workspace, name)

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        vm_priority: str = "dedicated",
        min_nodes: int = 0,
        max_nodes: int | None = None,
        idle_seconds_before_scaledown: int | None = None,
        admin_username=None,
        admin_user_password=None,
        admin_user_ssh_key=None,
        vnet_resourcegroup_name=None,
        vnet_name=None,
        subnet_name=None,
        tags=None,
        description=None,
        remote_login_port_public_access="NotSpecified",
        identity_type=None,
        identity_id=None,
        location=None,
        enable_node_public_ip=True,
    ) -> AmlComputeProvisioningConfiguration:
        return AmlComputeProvisioningConfiguration(
            vm_size=vm_size or None,
            vm_priority=vm_priority,
            min_nodes=min_nodes,
            max_nodes=DEFAULT_MAX_NODES if max_nodes is None else max_nodes,
            idle_seconds=idle_seconds_before_scaledown,
        )

    @staticmethod
    def supported_vmsizes(workspace, location=None) -> list[dict]:
        """The vm_size names the workspace config maps to node selectors (any other name is used as
        the node.kubernetes.io/instance-type label)."""
        return [{"name": k} for k in (workspace._cfg.compute.get("vm_sizes") or {})]


class AmlComputeProvisioningConfiguration(ComputeTargetProvisioningConfiguration):
    _target_class = AmlCompute
