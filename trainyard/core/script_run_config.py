"""ScriptRunConfig (Azure ML: azureml.core.ScriptRunConfig): a source directory, a script in it,
its arguments, the compute target and the environment — submitted with Experiment.submit."""

from __future__ import annotations

from trainyard.core.runconfig import RunConfiguration


class ScriptRunConfig:
    def __init__(
        self,
        source_directory: str,
        script: str | None = None,
        arguments: list | None = None,
        run_config: RunConfiguration | None = None,
        _telemetry_values=None,
        compute_target=None,
        environment=None,
        distributed_job_config=None,
        resume_from=None,
        max_run_duration_seconds: int | None = None,
        command=None,
        docker_runtime_config=None,
    ):
        self.source_directory = source_directory
        self.script = script
        self.arguments = list(arguments or [])
        self.run_config = run_config or RunConfiguration()
        if compute_target is not None:
            self.run_config.target = compute_target
        if environment is not None:
            self.run_config.environment = environment
        if max_run_duration_seconds is not None:
            self.run_config.max_run_duration_seconds = max_run_duration_seconds
        self.command = command

    def _submission(self):
        from trainyard.core._submit import Submission

        return Submission(
            source_directory=self.source_directory,
            script=self.script,
            arguments=list(self.arguments) or list(self.run_config.arguments),
            target=self.run_config.target,
            environment=self.run_config.environment,
            timeout=self.run_config.max_run_duration_seconds,
        )
