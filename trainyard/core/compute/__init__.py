"""Compute targets (Azure ML: azureml.core.compute): ComputeClusters of the workspace's namespace."""

from trainyard.core.compute.amlcompute import AmlCompute, AmlComputeProvisioningConfiguration
from trainyard.core.compute.batchai import BatchAiCompute, BatchAiComputeProvisioningConfiguration
from trainyard.core.compute.compute import ComputeTarget, ComputeTargetStatus
from trainyard.core.exceptions import ComputeTargetException

__all__ = [
    "AmlCompute",
    "AmlComputeProvisioningConfiguration",
    "BatchAiCompute",
    "BatchAiComputeProvisioningConfiguration",
    "ComputeTarget",
    "ComputeTargetException",
    "ComputeTargetStatus",
]
