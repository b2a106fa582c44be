"""The distribution maps operator/ and runtime/ into the trainyard package, lists every
sub-package, and shadows nothing of the standard library; the pure modules load no API client.
(The layering itself is checked by lint-imports: the contracts in pyproject.toml.)"""

import importlib
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_every_subpackage_is_listed_in_pyproject():
    cfg = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = set()
    for top, folder in cfg["package-dir"].items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            found.add(".".join([top, *init.parent.relative_to(root).parts]))
    assert found == set(cfg["packages"]), (
        f"missing: {found - set(cfg['packages'])}; stale: {set(cfg['packages']) - found}"
    )


def test_operator_is_importable_without_shadowing_the_stdlib():
    import operator

    assert hasattr(operator, "itemgetter"), "`import operator` must stay the standard library"
    mod = importlib.import_module("trainyard.operator")
    assert Path(mod.__file__).parent == REPO / "operator"


def _pure_modules() -> list[str]:
    """The source modules of the `pure` import-linter contract, packages expanded to their modules."""
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    (pure,) = [c for c in contracts if c["id"] == "pure"]
    found = []
    for name in pure["source_modules"]:
        mod = importlib.import_module(name)
        found.append(name)
        if hasattr(mod, "__path__"):
            found += [m.name for m in pkgutil.walk_packages(mod.__path__, prefix=f"{name}.")]
    return found


PURE_MODULES = _pure_modules()


def test_the_pure_module_list_is_not_empty():
    assert "trainyard.operator.computecluster.queue" in PURE_MODULES
    assert "trainyard.api.conditions" in PURE_MODULES


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_loads_neither_the_kubernetes_client_nor_kopf(module, tmp_path):
    # lint-imports checks the import graph; this checks what importing really loads, in a fresh
    # interpreter: a package's __init__ that pulls in the client, an import hidden in a call.
    code = (
        "import importlib, sys; importlib.import_module(sys.argv[1]); "
        "print(' '.join(sorted(m for m in sys.modules if m.partition('.')[0] in ('kubernetes', 'kopf'))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, module], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [], f"importing {module} loads {out[:5]}"


def test_mypy_checks_every_pure_module():
    tool = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]
    (pure,) = [c for c in tool["importlinter"]["contracts"] if c["id"] == "pure"]
    checked = set(tool["mypy"]["modules"]) | set(tool["mypy"]["packages"])
    assert set(pure["source_modules"]) - checked == set()
