"""Environment (Azure ML: azureml.core.Environment): on trainyard, a runtime image (the curated
scikit-learn image by default) plus pip requirements — `spec.environment` of a TrainingRun."""

from __future__ import annotations

from pathlib import Path

from trainyard.core import _conda
from trainyard.core.conda_dependencies import CondaDependencies
from trainyard.core.exceptions import UserErrorException

CURATED_PREFIX = "azureml-"
# Registered in this process with env.register(ws); there is no environment registry yet.
_REGISTERED: dict[tuple[str, str], Environment] = {}


def is_curated(name: str) -> bool:
    """Azure's curated names ("AzureML-Tutorial", "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu", ...)
    all mean trainyard's curated runtime image, which has scikit-learn, numpy, pandas and joblib."""
    return name.lower().startswith(CURATED_PREFIX)


class PythonSection:
    def __init__(self):
        self.conda_dependencies = CondaDependencies()
        self.user_managed_dependencies = False
        self.interpreter_path = "python"


class DockerSection:
    def __init__(self):
        self.base_image: str | None = None
        self.enabled = True
        self.base_dockerfile = None


class Environment:
    def __init__(self, name: str):
        if not name:
            raise UserErrorException("Environment(name): the name must not be empty")
        self.name = name
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}
        self.inferencing_stack_version = None

    # -- making one --------------------------------------------------------------------------------

    @staticmethod
    def from_conda_specification(name: str, file_path: str) -> Environment:
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies(conda_dependencies_file_path=file_path)
        env._spec()  # an unknown conda package fails here, naming it
        return env

    @staticmethod
    def from_pip_requirements(name: str, file_path: str) -> Environment:
        try:
            text = Path(file_path).read_text()
        except OSError as exc:
            raise UserErrorException(f"cannot read pip requirements {file_path}: {exc.strerror}") from None
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies.create(pip_packages=_conda.parse_requirements(text))
        return env

    @staticmethod
    def get(workspace, name: str, version: str | None = None, label=None) -> Environment:
        if is_curated(name):
            return Environment(name)
        found = _REGISTERED.get((workspace.namespace, name))
        if found is None:
            raise UserErrorException(
                f"no environment {name!r}: curated names start with 'AzureML-' (all mean trainyard's curated "
                "scikit-learn image); others must be registered in this session with env.register(ws), or built "
                "with Environment.from_conda_specification / from_pip_requirements"
            )
        return found

    @staticmethod
    def list(workspace) -> dict:
        return {n: e for (ns, n), e in _REGISTERED.items() if ns == workspace.namespace}

    def register(self, workspace) -> Environment:
        _REGISTERED[(workspace.namespace, self.name)] = self
        return self

    # -- what a TrainingRun gets -----------------------------------------------------------------

    def _spec(self) -> dict:
        """spec.environment: {"image"?, "pip"?}; {} for the curated image with nothing to add."""
        out: dict = {}
        if self.docker.base_image:
            out["image"] = self.docker.base_image
        if not self.python.user_managed_dependencies:
            pip = self.python.conda_dependencies.pip_requirements()
            if pip:
                out["pip"] = pip
        return out

    def __repr__(self) -> str:
        return f"Environment(name={self.name!r}, spec={self._spec()!r})"
