"""CondaDependencies (Azure ML: azureml.core.conda_dependencies): the package lists of an
environment, kept as conda and pip lists and turned into pip requirements when submitted."""

from __future__ import annotations

from pathlib import Path

import yaml

from trainyard.core import _conda
from trainyard.core.exceptions import UserErrorException


class CondaDependencies:
    def __init__(self, conda_dependencies_file_path: str | None = None, _underlying_structure: dict | None = None):
        self.name = "project_environment"
        self._conda: list[str] = []
        self._pip: list[str] = []
        self._python: str | None = None
        data = _underlying_structure
        if conda_dependencies_file_path:
            path = Path(conda_dependencies_file_path)
            try:
                data = yaml.safe_load(path.read_text())
            except OSError as exc:
                raise UserErrorException(f"cannot read conda specification {path}: {exc.strerror}") from None
            except yaml.YAMLError as exc:
                raise UserErrorException(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if data is not None:
            conda, pip = _conda.parse_conda_yaml(data, str(conda_dependencies_file_path or "the conda specification"))
            self.name = data.get("name") or self.name
            for c in conda:
                if c.split("=")[0].strip().lower() == "python":
                    self._python = c.partition("=")[2].lstrip("=") or None
                else:
                    self._conda.append(c)
            self._pip = pip

    @staticmethod
    def create(
        pip_indexurl=None,
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = None,
        pin_sdk_version: bool = True,
    ) -> CondaDependencies:
        cd = CondaDependencies()
        for c in conda_packages or []:
            cd.add_conda_package(c)
        for p in pip_packages or []:
            cd.add_pip_package(p)
        cd._python = python_version
        return cd

    def add_conda_package(self, conda_package: str) -> None:
        _conda.conda_to_pip(conda_package)  # an unknown package fails here, where it is named
        if conda_package not in self._conda:
            self._conda.append(conda_package)

    def add_pip_package(self, pip_package: str) -> None:
        if pip_package not in self._pip:
            self._pip.append(pip_package)

    def remove_conda_package(self, conda_package: str) -> None:
        self._conda = [c for c in self._conda if c != conda_package]

    def remove_pip_package(self, pip_package: str) -> None:
        self._pip = [p for p in self._pip if p != pip_package]

    def set_python_version(self, version: str) -> None:
        self._python = version

    def get_python_version(self) -> str | None:
        return self._python

    @property
    def conda_packages(self) -> list[str]:
        return list(self._conda)

    @property
    def pip_packages(self) -> list[str]:
        return list(self._pip)

    def pip_requirements(self) -> list[str]:
        """What trainyard installs: conda packages as pip ones, then pip packages (azureml-* dropped)."""
        return _conda.pip_requirements(self._conda, self._pip)

    def _as_dict(self) -> dict:
        deps: list = [f"python={self._python}"] if self._python else []
        deps += self._conda
        if self._pip:
            deps.append({"pip": list(self._pip)})
        return {"name": self.name, "dependencies": deps}

    def serialize_to_string(self) -> str:
        return yaml.safe_dump(self._as_dict(), sort_keys=False)

    def save(self, path: str | None = None) -> str:
        target = Path(path or "conda_dependencies.yml")
        target.write_text(self.serialize_to_string())
        return str(target)

    save_to_file = save

    def __repr__(self) -> str:
        return f"CondaDependencies(conda={self._conda}, pip={self._pip})"
