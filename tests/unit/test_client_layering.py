"""The client (trainyard.core, .train, .widgets) never imports the operator or kopf, and importing
it does not load the kubernetes client (a notebook's first cell stays fast)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_client_never_imports_the_operator_or_kopf():
    for folder in ("trainyard/core", "trainyard/train", "trainyard/widgets"):
        files = list((REPO / folder).rglob("*.py"))
        assert files, folder
        for p in files:
            text = p.read_text()
            assert "import kopf" not in text and "trainyard.operator" not in text, p


def test_importing_the_client_loads_neither_kubernetes_nor_ipywidgets():
    code = (
        "import sys, trainyard.core, trainyard.core.compute, trainyard.train.estimator, trainyard.widgets;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'kopf', 'ipywidgets')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
