"""`trainyard runs`: which runs to show and in what order, as pure functions over TrainingRun dicts.

Filtering is on `spec.experiment` (every run has it; the experiment label only exists on runs the
CLI submitted, not on GitOps ones) and on `status.phase`. Sorting is by `name`, `age`, or any
metric in `status.metrics`; a leading `-` sorts descending. Runs that lack the metric, or whose
value is not a number, come last in either direction.
"""

from __future__ import annotations

import datetime

from trainyard.api import trainingrun as tr

PHASES = (
    tr.PHASE_QUEUED,
    tr.PHASE_SCALING,
    tr.PHASE_PREPARING,
    tr.PHASE_RUNNING,
    tr.PHASE_FINALIZING,
    tr.PHASE_COMPLETED,
    tr.PHASE_FAILED,
    tr.PHASE_CANCELED,
)
BUILTIN_KEYS = ("name", "age")


class SelectError(ValueError):
    """A filter or sort key that names nothing; the message says what would."""


def phase_of(run: dict) -> str:
    return (run.get("status") or {}).get("phase") or tr.PHASE_QUEUED


def parse_phases(value: str | None) -> set[str] | None:
    """`Completed` or `completed,failed` -> {"Completed", "Failed"}; None for no filter."""
    if not value:
        return None
    by_lower = {p.lower(): p for p in PHASES}
    wanted = set()
    for part in value.split(","):
        phase = by_lower.get(part.strip().lower())
        if phase is None:
            raise SelectError(f"unknown phase {part.strip()!r}; phases are {', '.join(PHASES)}")
        wanted.add(phase)
    return wanted


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _created(run: dict) -> str:
    return run["metadata"].get("creationTimestamp") or ""


def select(
    runs: list[dict], *, experiment: str | None = None, phases: set[str] | None = None, sort: str | None = None
) -> list[dict]:
    """The runs to list, in order. Without `sort`, oldest first (as before)."""
    chosen = [
        r
        for r in runs
        if (experiment is None or (r.get("spec") or {}).get("experiment") == experiment)
        and (phases is None or phase_of(r) in phases)
    ]
    key = (sort or "").lstrip("-")
    descending = bool(sort) and sort.startswith("-")
    by_name = sorted(chosen, key=lambda r: r["metadata"]["name"])
    if not sort:
        return sorted(by_name, key=_created)
    if key == "name":
        return sorted(chosen, key=lambda r: r["metadata"]["name"], reverse=descending)
    if key == "age":  # youngest first; -age oldest first
        return sorted(by_name, key=_created, reverse=not descending)
    metrics = [(r.get("status") or {}).get("metrics") or {} for r in runs]
    if not any(key in m for m in metrics):
        known = sorted({k for m in metrics for k in m})
        raise SelectError(
            f"no run has a metric {key!r} to sort by"
            + (f" (metrics: {', '.join(known)})" if known else "")
            + f"; or sort by {' or '.join(BUILTIN_KEYS)}"
        )

    def value(r: dict) -> float | None:
        return _number(((r.get("status") or {}).get("metrics") or {}).get(key))

    having = [r for r in by_name if value(r) is not None]
    lacking = [r for r in by_name if value(r) is None]
    return sorted(having, key=value, reverse=descending) + lacking


# The condition each phase is derived from where its name differs (trainyard/api/trainingrun.py).
_PHASE_CONDITION = {tr.PHASE_COMPLETED: tr.SUCCEEDED, tr.PHASE_SCALING: tr.QUEUED}


def describe_status(st: dict) -> str:
    """`Queued (WaitingForCapacity: 2 runs ahead)`: the phase, with the reason and message of the
    condition it comes from."""
    from trainyard.api import conditions

    phase = st.get("phase") or tr.PHASE_QUEUED
    found = conditions.find(st.get("conditions"), _PHASE_CONDITION.get(phase, phase)) or {}
    detail = ": ".join(x for x in (found.get("reason"), found.get("message") or st.get("message")) if x)
    return f"{phase} ({detail})" if detail else phase


def age(created: str, now: datetime.datetime) -> str:
    """kubectl's AGE: 42s, 7m, 3h, 2d."""
    try:
        then = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "-"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def metric_cell(run: dict, sort: str | None) -> str:
    """The primary metric, or the metric sorted by when that is another one."""
    st = run.get("status") or {}
    key = (sort or "").lstrip("-")
    if key and key not in BUILTIN_KEYS and key in (st.get("metrics") or {}):
        return f"{key}={st['metrics'][key]}"
    return st.get("primaryMetric") or "-"


def table(runs: list[dict], *, sort: str | None, now: datetime.datetime) -> list[str]:
    lines = [f"{'NAME':40} {'EXPERIMENT':16} {'COMPUTE':14} {'PHASE':11} {'METRIC':24} {'AGE':>5}"]
    for r in runs:
        spec = r.get("spec") or {}
        lines.append(
            f"{r['metadata']['name']:40} {spec.get('experiment', ''):16} {spec.get('compute', ''):14} "
            f"{phase_of(r):11} {metric_cell(r, sort):24} {age(_created(r), now):>5}"
        )
    return lines
