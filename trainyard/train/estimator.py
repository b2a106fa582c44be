"""Estimator (Azure ML 2018: azureml.train.estimator.Estimator): a source directory, an entry
script with script_params, a compute target and conda/pip packages — the same TrainingRun a
ScriptRunConfig makes."""

from __future__ import annotations

from trainyard.core.conda_dependencies import CondaDependencies
from trainyard.core.environment import Environment
from trainyard.core.exceptions import UserErrorException


class Estimator:
    def __init__(
        self,
        source_directory: str,
        *,
        compute_target=None,
        vm_size=None,
        vm_priority=None,
        entry_script: str | None = None,
        script_params: dict | None = None,
        node_count: int = 1,
        process_count_per_node: int = 1,
        distributed_backend=None,
        distributed_training=None,
        use_gpu: bool = False,
        use_docker: bool = True,
        custom_docker_base_image: str | None = None,
        custom_docker_image: str | None = None,
        image_registry_details=None,
        user_managed: bool = False,
        conda_packages: list[str] | None = None,
        pip_packages: list[str] | None = None,
        conda_dependencies_file_path: str | None = None,
        pip_requirements_file_path: str | None = None,
        conda_dependencies_file: str | None = None,
        pip_requirements_file: str | None = None,
        environment_variables: dict | None = None,
        environment_definition: Environment | None = None,
        inputs=None,
        source_directory_data_store=None,
        shm_size=None,
        resume_from=None,
        max_run_duration_seconds: int | None = None,
        framework_version=None,
        _framework_name=None,
    ):
        if node_count != 1 or distributed_training or distributed_backend:
            raise UserErrorException("distributed training (node_count > 1) is not supported yet: use node_count=1")
        if use_gpu:
            raise UserErrorException("use_gpu=True is not supported yet: trainyard's curated image is CPU-only")
        self.source_directory = source_directory
        self.entry_script = entry_script
        self.script_params = dict(script_params or {})
        self.compute_target = compute_target
        self.max_run_duration_seconds = max_run_duration_seconds
        if environment_definition is not None:
            env = environment_definition
        else:
            env = Environment("estimator-environment")
            conda_file = conda_dependencies_file_path or conda_dependencies_file
            if conda_file:
                env = Environment.from_conda_specification(env.name, conda_file)
            pip_file = pip_requirements_file_path or pip_requirements_file
            if pip_file:
                extra = Environment.from_pip_requirements(env.name, pip_file)
                for p in extra.python.conda_dependencies.pip_packages:
                    env.python.conda_dependencies.add_pip_package(p)
            deps: CondaDependencies = env.python.conda_dependencies
            for c in conda_packages or []:
                deps.add_conda_package(c)
            for p in pip_packages or []:
                deps.add_pip_package(p)
            env.docker.base_image = custom_docker_image or custom_docker_base_image
            env.python.user_managed_dependencies = user_managed
            env.environment_variables = dict(environment_variables or {})
        self.environment = env

    @property
    def run_config(self):
        return self

    def _submission(self):
        from trainyard.core._submit import Submission, script_params

        return Submission(
            source_directory=self.source_directory,
            script=self.entry_script,
            arguments=script_params(self.script_params),
            target=self.compute_target,
            environment=self.environment,
            timeout=self.max_run_duration_seconds,
        )
