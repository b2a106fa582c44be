"""Azure ML's `azureml.core.compute_target` module path (the 2018 tutorial imports
ComputeTargetException from it)."""

from trainyard.core.compute.compute import ComputeTarget  # noqa: F401
from trainyard.core.exceptions import ComputeTargetException  # noqa: F401
