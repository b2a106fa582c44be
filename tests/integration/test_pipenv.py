"""`environment.pip` (runtime/pipenv.py) with a real pip, offline: requirements the image already
has run on its interpreter; others go into a cached environment layered on the image, installed
from a local wheelhouse (PIP_NO_INDEX + PIP_FIND_LINKS, as a cluster without internet would)."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from trainyard.runtime import pipenv


def _wheel(dest, name="trainyard_pipenv_probe", version="0.1"):
    """A minimal pure-Python wheel, built by hand (no network, no build backend)."""
    dist = f"{name}-{version}.dist-info"
    path = dest / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}.py", "ANSWER = 42\n")
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist}/RECORD", "")
    return path


def test_requirements_the_image_has_use_its_interpreter(tmp_path):
    assert pipenv.satisfied(["pyyaml", "scikit-learn"]) is True
    assert pipenv.prepare(["pyyaml"], tmp_path) == sys.executable
    assert not (tmp_path / "envs").exists()


def test_missing_requirements_get_a_cached_layered_environment_offline(tmp_path, monkeypatch):
    wheelhouse = tmp_path / "wheels"
    wheelhouse.mkdir()
    _wheel(wheelhouse)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    reqs = ["trainyard_pipenv_probe==0.1", "pyyaml"]
    assert pipenv.satisfied(reqs) is False
    said = []
    python = pipenv.prepare(reqs, tmp_path / "cache", say=said.append)
    assert python != sys.executable
    proc = subprocess.run(
        [python, "-c", "import trainyard_pipenv_probe, yaml, sklearn; print(trainyard_pipenv_probe.ANSWER)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.stdout.strip() == "42", proc.stderr  # the new package, and the image's beside it
    assert pipenv.prepare(reqs, tmp_path / "cache", say=said.append) == python
    assert "reusing" in said[-1]


def test_an_unsatisfiable_requirement_fails_with_pips_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(pipenv.EnvironmentError_) as err:
        pipenv.prepare(["trainyard-no-such-package==9.9"], tmp_path)
    assert any("trainyard-no-such-package" in line for line in err.value.tail)
    assert list((tmp_path / "envs").glob("*/bin")) == []
