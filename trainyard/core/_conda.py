"""Conda specifications as pip requirements (pure): trainyard's environments are a runtime image
plus pip requirements installed into a cached environment (spec.environment), so each conda
package needs a pip equivalent. Only an explicit table is trusted; anything else is an error that
names the package and says what to do."""

from __future__ import annotations

import re

from trainyard.core.exceptions import UserErrorException

# conda name -> pip name, for packages whose pip wheels exist on the usual platforms.
CONDA_TO_PIP = {
    "scikit-learn": "scikit-learn",
    "numpy": "numpy",
    "pandas": "pandas",
    "joblib": "joblib",
    "matplotlib": "matplotlib",
    "matplotlib-base": "matplotlib",
    "scipy": "scipy",
    "seaborn": "seaborn",
    "statsmodels": "statsmodels",
    "py-xgboost": "xgboost",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "pyyaml": "pyyaml",
    "requests": "requests",
    "tqdm": "tqdm",
    "pillow": "pillow",
}
# Part of every conda spec, provided by the runtime image itself.
CONDA_IGNORED = {"python", "pip", "setuptools", "wheel"}
# Azure ML's own packages: trainyard's runtime image has their trainyard equivalent.
_AZUREML_PIP = re.compile(r"^(azureml([-_.][a-z0-9-_.]+)?|inference-schema)(\[.*\])?([<>=!~].*)?$", re.IGNORECASE)
_CONDA_SPEC = re.compile(r"^(?:[A-Za-z0-9_.-]+::)?([A-Za-z0-9_.-]+)\s*(.*)$")


def is_azureml_pip(req: str) -> bool:
    return bool(_AZUREML_PIP.match(req.strip()))


def conda_to_pip(spec: str) -> str | None:
    """One conda dependency (`numpy`, `numpy=1.26`, `conda-forge::scikit-learn>=1.4`,
    `numpy=1.26.4=py311h...`) as a pip requirement; None for python/pip themselves."""
    m = _CONDA_SPEC.match(spec.strip())
    if not m:
        raise UserErrorException(f"cannot read conda dependency {spec!r}")
    name, version = m.group(1).lower(), m.group(2).strip().replace(" ", "")
    if name in CONDA_IGNORED:
        return None
    pip_name = CONDA_TO_PIP.get(name)
    if pip_name is None:
        raise UserErrorException(
            f"conda package {name!r} has no pip equivalent trainyard knows: list it under 'pip:' "
            f"(or in pip_packages) with its pip name, or use an image that has it (Environment.docker.base_image)"
        )
    if not version:
        return pip_name
    if version.startswith("="):
        if version.startswith("=="):
            return pip_name + "==" + version[2:].split("=")[0]
        ver = version[1:].split("=")[0]  # conda `=1.2` is 1.2.*, a trailing `=build` is dropped
        return f"{pip_name}=={ver}" if ver.count(".") >= 2 or "*" in ver else f"{pip_name}=={ver}.*"
    if version[0] in "<>!~":
        return pip_name + version
    ver = version.split("=")[0]  # `numpy 1.26` (space-separated, as conda also allows)
    return f"{pip_name}=={ver}"


def pip_requirements(conda_packages: list[str], pip_packages: list[str]) -> list[str]:
    """The pip list of an environment: conda packages mapped, then pip ones; azureml-* dropped."""
    out: list[str] = []
    for spec in conda_packages:
        req = conda_to_pip(spec)
        if req and req not in out:
            out.append(req)
    for req in pip_packages:
        req = req.strip()
        if req and not is_azureml_pip(req) and req not in out:
            out.append(req)
    return out


def parse_conda_yaml(data: object, where: str = "the conda specification") -> tuple[list[str], list[str]]:
    """(conda dependencies, pip dependencies) of an environment.yml document."""
    if not isinstance(data, dict):
        raise UserErrorException(f"{where} is not a conda environment (a mapping with 'dependencies')")
    conda, pip = [], []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, str):
            conda.append(dep)
        elif isinstance(dep, dict) and "pip" in dep:
            pip += [str(p) for p in dep["pip"] or []]
        else:
            raise UserErrorException(f"{where}: cannot read dependency {dep!r}")
    return conda, pip


def parse_requirements(text: str) -> list[str]:
    """pip requirements.txt lines (comments and blank lines dropped; options refused)."""
    reqs = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            raise UserErrorException(f"requirements option {line!r} is not supported; list packages only")
        reqs.append(line)
    return reqs
