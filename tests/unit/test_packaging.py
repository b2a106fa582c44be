"""The distribution maps operator/ and runtime/ into the trainyard package, lists every
sub-package, and shadows nothing of the standard library."""

import importlib
import tomllib
from pathlib import Path

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


def test_layering_runtime_and_cli_never_import_the_operator_or_kopf():
    for folder in ("runtime", "trainyard/cli", "trainyard/api", "trainyard/local"):
        for p in (REPO / folder).rglob("*.py"):
            text = p.read_text()
            assert "import kopf" not in text and "from trainyard.operator" not in text, p
