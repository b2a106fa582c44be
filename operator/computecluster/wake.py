"""How a ComputeCluster's pass is woken: one signal per cluster, set by the events that can change
its demand or capacity, and waited on by the cluster's daemon (handlers.py).

Signals, not decisions: a missed or extra wake only moves a pass in time (the daemon also runs on a
timer). Which events count is decided by the pure `*_fields` functions below — the fields of an
object a pass depends on; an event that leaves them as they were (a pod's live-metrics patch of
its run every 2 s, a node's heartbeat) wakes nothing (see handlers.py and operator/core/seen.py):
- a run: created or deleted, its cluster, spec.suspend, spec.priority, its phase, whether it is
  admitted;
- a Job: created or deleted, suspended, finished;
- a pod: created or deleted, bound to a node, ended;
- a node: added or removed, its labels (the pool's selector), Ready, cordoned, allocatable.
"""

from __future__ import annotations

import json
import threading
import time

from trainyard.api import trainingrun as tr


def _uid(body: dict) -> str | None:
    return (body.get("metadata") or {}).get("uid")


def _deleting(body: dict) -> bool:
    return bool((body.get("metadata") or {}).get("deletionTimestamp"))


def run_fields(body: dict) -> tuple:
    spec, status = body.get("spec") or {}, body.get("status") or {}
    admitted = bool((status.get(tr.ADMISSION) or {}).get("admitted"))
    return (
        _uid(body),
        _deleting(body),
        spec.get("compute"),
        bool(spec.get("suspend")),
        int(spec.get("priority") or 0),
        status.get("phase"),
        admitted,
    )


def job_fields(body: dict) -> tuple:
    conds = (body.get("status") or {}).get("conditions") or ()
    finished = any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conds)
    return _uid(body), _deleting(body), bool((body.get("spec") or {}).get("suspend")), finished


def pod_fields(body: dict) -> tuple:
    ended = (body.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    return _uid(body), _deleting(body), (body.get("spec") or {}).get("nodeName"), ended


def node_fields(body: dict) -> tuple:
    meta, spec, status = body.get("metadata") or {}, body.get("spec") or {}, body.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
    return (
        _uid(body),
        _deleting(body),
        tuple(sorted((meta.get("labels") or {}).items())),
        ready,
        bool(spec.get("unschedulable")),
        json.dumps(status.get("allocatable") or {}, sort_keys=True),
    )


class _Signal:
    def __init__(self) -> None:
        self.event = threading.Event()
        # CACHE of the cluster's node selector as its last pass read it from the API: only says
        # which node events wake this cluster.
        self.selector: dict[str, str] | None = None


_signals: dict[tuple[str, str], _Signal] = {}
_guard = threading.Lock()


def _get(namespace: str, name: str) -> _Signal:
    with _guard:
        return _signals.setdefault((namespace, name), _Signal())


def forget(namespace: str, name: str) -> None:
    with _guard:
        _signals.pop((namespace, name), None)


def poke(namespace: str, name: str) -> None:
    _get(namespace, name).event.set()


def watch_nodes(namespace: str, name: str, selector: dict[str, str]) -> None:
    _get(namespace, name).selector = dict(selector)


def poke_matching(labels: dict[str, str]) -> None:
    """A node changed: wake every cluster whose selector it matches."""
    with _guard:
        items = list(_signals.values())
    for s in items:
        if s.selector is not None and all(labels.get(k) == v for k, v in s.selector.items()):
            s.event.set()


def wait(namespace: str, name: str, timeout: float, *, min_gap: float = 0.0, since: float | None = None) -> bool:
    """Block until poked or `timeout`; at least `min_gap` seconds after `since` (coalescing)."""
    s = _get(namespace, name)
    if min_gap and since is not None:
        rest = since + min_gap - time.monotonic()
        if rest > 0:
            time.sleep(rest)
    poked = s.event.wait(timeout)
    s.event.clear()
    return poked
