"""RunConfiguration (Azure ML: azureml.core.runconfig): where and with what a script runs."""

from __future__ import annotations

from trainyard.core.environment import Environment


class RunConfiguration:
    def __init__(self, script=None, arguments=None, framework=None, communicator=None, conda_dependencies=None):
        self.script = script
        self.arguments = list(arguments or [])
        self.target = None  # a ComputeTarget or its name; None means the workspace's default compute
        self.environment = Environment("trainyard-default")
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies
        self.node_count = 1
        self.max_run_duration_seconds: int | None = None
        self.data: dict = {}
