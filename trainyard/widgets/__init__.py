"""RunDetails (Azure ML: azureml.widgets.RunDetails): a live view of a run in a notebook."""

from trainyard.widgets.run_details import RunDetails

__all__ = ["RunDetails"]
