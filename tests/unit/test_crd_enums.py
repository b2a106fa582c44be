"""The CRDs' enums and the API constants agree, in both directions.

- Every value a CRD enum offers (`status.phase`) is produced: a constant of trainyard/api/<kind>.py
  with that value is reached from code under operator/ or runtime/ — directly, or through the API
  module's own functions and tables (the phase is derived by `phase_of`, which the operator calls).
- Every phase constant that is produced is in the enum, so the API server never rejects a status
  write.
- Every reason constant is produced, and the operator never sets a reason from a string literal,
  so the constants are the whole vocabulary. (Condition reasons have no enum in the CRDs, as
  metav1.Condition has none: they are a free-form vocabulary that grows with the operator.)

"Reached" is an AST scan (names and attributes), not a substring search: a comment or a docstring
naming a value does not count, nor does the constant's own definition.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("trainingrun", "computecluster", "registeredmodel")
PRODUCERS = ("operator", "runtime")
CRDS = {
    "trainingrun": "trainingruns.trainyard.dev.yaml",
    "computecluster": "computeclusters.trainyard.dev.yaml",
    "registeredmodel": "registeredmodels.trainyard.dev.yaml",
}


def _top_level(kind: str) -> tuple[dict[str, object], dict[str, set[str]]]:
    """(constant name -> value, top-level name -> API names its definition refers to)."""
    tree = ast.parse((ROOT / "trainyard" / "api" / f"{kind}.py").read_text())
    values: dict[str, object] = {}
    refers: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if isinstance(node.value, ast.Constant):
                values.update({n: node.value.value for n in names})
            body = node.value
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names, body = [node.name], node
        else:
            continue
        used = {n.id for n in ast.walk(body) if isinstance(n, ast.Name)} if body is not None else set()
        for n in names:
            refers[n] = used
    return values, refers


def _api_references() -> dict[str, set[str]]:
    """kind -> names of trainyard/api/<kind>.py referenced by code under operator/ and runtime/."""
    refs: dict[str, set[str]] = {k: set() for k in KINDS}
    for top in PRODUCERS:
        for path in (ROOT / top).rglob("*.py"):
            tree = ast.parse(path.read_text())
            modules: dict[str, str] = {}  # local name -> kind, for `from trainyard.api import tr`
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == "trainyard.api":
                    modules.update({a.asname or a.name: a.name for a in node.names if a.name in KINDS})
                elif isinstance(node, ast.ImportFrom) and node.module in {f"trainyard.api.{k}" for k in KINDS}:
                    refs[node.module.rsplit(".", 1)[1]].update(a.name for a in node.names)
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        if a.name in {f"trainyard.api.{k}" for k in KINDS} and a.asname:
                            modules[a.asname] = a.name.rsplit(".", 1)[1]
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                    refs[modules[node.value.id]].add(node.attr)
    return refs


def _produced(kind: str) -> set[str]:
    """Names of trainyard/api/<kind>.py reached from operator/ and runtime/ code."""
    _, refers = _top_level(kind)
    todo = list(_api_references()[kind])
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in refers:
            continue
        seen.add(name)
        todo.extend(refers[name])
    return seen


def _constants(kind: str, prefix: str) -> dict[str, str]:
    values, _ = _top_level(kind)
    return {n: v for n, v in values.items() if n.startswith(prefix) and isinstance(v, str)}


def _phase_enum(kind: str) -> list[str] | None:
    crd = yaml.safe_load((ROOT / "crds" / CRDS[kind]).read_text())
    (version,) = crd["spec"]["versions"]
    status = version["schema"]["openAPIV3Schema"]["properties"].get("status") or {}
    return (status.get("properties") or {}).get("phase", {}).get("enum")


def test_the_scan_sees_references():
    """Guards the scan itself: names known to be used through each import style are found."""
    refs = _api_references()
    assert "REASON_JOB_CREATED" in refs["trainingrun"]  # tr.REASON_JOB_CREATED in operator/trainingrun
    assert "REASON_POOL_READY" in refs["computecluster"]
    assert "phase_of" in refs["registeredmodel"]
    assert "PHASE_READY" in _produced("registeredmodel")  # through phase_of only


@pytest.mark.parametrize("kind", [k for k in KINDS if _phase_enum(k) is not None])
def test_every_phase_in_the_enum_is_produced(kind):
    produced = {v for n, v in _constants(kind, "PHASE_").items() if n in _produced(kind)}
    unproduced = sorted(set(_phase_enum(kind)) - produced)
    assert not unproduced, (
        f"{CRDS[kind]} offers status.phase {unproduced}, which nothing under operator/ or runtime/ "
        "produces: produce it, or remove it from the enum (then run scripts/gen-chart-crds)"
    )


@pytest.mark.parametrize("kind", [k for k in KINDS if _phase_enum(k) is not None])
def test_every_produced_phase_is_in_the_enum(kind):
    produced = {v for n, v in _constants(kind, "PHASE_").items() if n in _produced(kind)}
    missing = sorted(produced - set(_phase_enum(kind)))
    assert not missing, f"the operator produces status.phase {missing}, which {CRDS[kind]}'s enum rejects"


def test_every_phase_constant_is_in_its_enum():
    for kind in KINDS:
        enum = _phase_enum(kind)
        phases = _constants(kind, "PHASE_")
        if enum is None:
            assert not phases, f"{kind} defines phases {sorted(phases)} but its CRD has no status.phase enum"
        else:
            assert set(phases.values()) <= set(enum), (kind, sorted(set(phases.values()) - set(enum)))


@pytest.mark.parametrize("kind", KINDS)
def test_every_reason_constant_is_produced(kind):
    produced = _produced(kind)
    dead = sorted(f"{n} = {v!r}" for n, v in _constants(kind, "REASON_").items() if n not in produced)
    assert not dead, f"trainyard/api/{kind}.py defines reasons nothing under operator/ or runtime/ produces: {dead}"


def _literal_reasons(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals passed as a reason: `reason="X"`, `condition(type, status, "X", ...)`,
    `Decision(desired, remove, direction, "X", ...)` and `{"reason": "X"}` in a condition dict."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for kw in node.keywords:
                if kw.arg == "reason" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    found.append((kw.value.lineno, kw.value.value))
            position = {"condition": 2, "Decision": 3}.get(fn)
            if position is not None and len(node.args) > position:
                arg = node.args[position]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.append((arg.lineno, arg.value))
        elif isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(k, ast.Constant)
                    and k.value == "reason"
                    and isinstance(v, ast.Constant)
                    and isinstance(v.value, str)
                ):
                    found.append((v.lineno, v.value))
    return found


def test_the_literal_scan_finds_literals():
    tree = ast.parse('Decision(1, (), None, "Steady")\ncond.condition("Ready", "True", "PoolReady")\nf(reason="X")')
    assert [r for _, r in _literal_reasons(tree)] == ["Steady", "PoolReady", "X"]


def test_the_operator_sets_no_literal_reason():
    literals = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}"
        for path in sorted((ROOT / "operator").rglob("*.py"))
        for line, value in _literal_reasons(ast.parse(path.read_text()))
    ]
    assert not literals, f"reasons must be constants of trainyard/api/<kind>.py: {literals}"
