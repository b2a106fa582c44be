"""Where a run learns whether it may start, and how a ComputeCluster is woken.

The cluster's reconcile (operator/computecluster/reconcile.py) is the only place that decides the built-in
queue. It publishes its decision here as one `Ticket` per queued run; a run's own reconcile
consults its ticket before creating a Job. Events that can change a decision (a run created or
ended, a pod bound or finished, a node Ready or gone) `poke()` the cluster, whose loop then runs
promptly — several pokes in a row make one pass, never a busy loop.
"""

from __future__ import annotations

import dataclasses
import threading
import time

from trainyard.api.computecluster import KUEUE_QUEUE_LABEL  # noqa: F401  (re-exported for builders)


@dataclasses.dataclass(frozen=True)
class Ticket:
    admitted: bool = False
    position: int | None = None  # 1-based place in the cluster's queue while held
    message: str = ""
    kueue_queue: str | None = None  # admitted by Kueue: create the Job suspended in this LocalQueue


ADMIT = Ticket(admitted=True)
UNDECIDED = Ticket(message="waiting for the ComputeCluster to place this run in its queue")


class _Cluster:
    def __init__(self) -> None:
        self.wake = threading.Event()
        self.tickets: dict[str, Ticket] = {}
        self.selector: dict[str, str] | None = None
        self.kueue_queue: str | None = None
        self.body: dict | None = None  # the ComputeCluster as its last pass read it
        self.ended: set[str] = set()  # runs whose pod was seen Succeeded or Failed


_clusters: dict[tuple[str, str], _Cluster] = {}
_guard = threading.Lock()


def _get(namespace: str, name: str) -> _Cluster:
    with _guard:
        return _clusters.setdefault((namespace, name), _Cluster())


def forget(namespace: str, name: str) -> None:
    with _guard:
        _clusters.pop((namespace, name), None)


def publish(
    namespace: str,
    name: str,
    tickets: dict[str, Ticket],
    *,
    selector: dict[str, str],
    kueue_queue: str | None,
    cluster: dict | None = None,
) -> None:
    c = _get(namespace, name)
    c.tickets, c.selector, c.kueue_queue = dict(tickets), dict(selector), kueue_queue
    if cluster is not None:
        c.body = cluster


def known_cluster(namespace: str, name: str) -> dict | None:
    """The ComputeCluster as its daemon last read it (at most one pass old), or None when no
    pass has run in this process — then read it from the API."""
    with _guard:
        c = _clusters.get((namespace, name))
    return c.body if c is not None else None


def drop_cluster(namespace: str, name: str) -> None:
    """The cluster is gone or being deleted: runs read it from the API again."""
    with _guard:
        c = _clusters.get((namespace, name))
    if c is not None:
        c.body = None


def ticket_for(run: dict, cluster: dict) -> Ticket:
    """The gate `reconcile_run` consults for a run that has no Job yet."""
    meta = run["metadata"]
    c = _get(meta["namespace"], run["spec"]["compute"])
    if c.kueue_queue:
        return Ticket(admitted=True, kueue_queue=c.kueue_queue)
    ticket = c.tickets.get(meta["name"])
    if ticket is None:
        c.wake.set()
        return UNDECIDED
    return ticket


def poke(namespace: str, name: str) -> None:
    _get(namespace, name).wake.set()


def pod_ended(namespace: str, name: str, run: str) -> None:
    """A pod of `run` finished. Until the Job controller and the run's status say so too (up to a
    second later), the run would look admitted-but-unbound: demand for a slot it no longer needs."""
    c = _get(namespace, name)
    with _guard:
        c.ended.add(run)


def ended_runs(namespace: str, name: str, present: set[str]) -> frozenset[str]:
    """The runs whose pod ended, among those `present` (forgetting runs that were deleted)."""
    c = _get(namespace, name)
    with _guard:
        c.ended &= present
        return frozenset(c.ended)


def poke_matching(labels: dict[str, str]) -> None:
    """A node changed: wake every cluster whose selector it matches."""
    with _guard:
        items = list(_clusters.values())
    for c in items:
        if c.selector is not None and all(labels.get(k) == v for k, v in c.selector.items()):
            c.wake.set()


def wait(namespace: str, name: str, timeout: float, *, min_gap: float = 0.0, since: float | None = None) -> bool:
    """Block until poked or `timeout`; at least `min_gap` seconds after `since` (coalescing)."""
    c = _get(namespace, name)
    if min_gap and since is not None:
        rest = since + min_gap - time.monotonic()
        if rest > 0:
            time.sleep(rest)
    poked = c.wake.wait(timeout)
    c.wake.clear()
    return poked
