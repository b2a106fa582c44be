"""`azureml.train.widgets` of the 2018 tutorial: the same RunDetails as trainyard.widgets."""

from trainyard.widgets import RunDetails  # noqa: F401
