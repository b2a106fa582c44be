"""The built-in queue of a ComputeCluster, as pure functions: which queued runs start now, the
position of the others, and which demand no node (present or coming) can hold.

Packing is first-fit over the Ready nodes' free capacity (allocatable minus the requests of every
pod already bound there), then over the nodes being added, in queue order: higher `spec.priority`
first, then FIFO by creation time. A run that fits a node being added starts at once; its pod waits
for the node.
The queue is strict: once a run does not fit, no later run overtakes it (a big run is never
starved by a stream of small ones) — except a run that no node of the cluster could ever hold,
which is reported and skipped rather than blocking the queue for ever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from trainyard.api.quantity import parse_quantity


@dataclasses.dataclass(frozen=True, order=True)
class Res:
    """CPU in millicores, memory in bytes, pod slots."""

    cpu: int = 0
    memory: int = 0
    pods: int = 0

    def __add__(self, o: Res) -> Res:
        return Res(self.cpu + o.cpu, self.memory + o.memory, self.pods + o.pods)

    def __sub__(self, o: Res) -> Res:
        return Res(self.cpu - o.cpu, self.memory - o.memory, self.pods - o.pods)

    def holds(self, o: Res) -> bool:
        return self.cpu >= o.cpu and self.memory >= o.memory and self.pods >= o.pods


def parse_res(d: dict | None, *, pods: int = 0) -> Res:
    d = d or {}
    cpu = int(parse_quantity(d["cpu"]) * 1000) if d.get("cpu") is not None else 0
    mem = int(parse_quantity(d["memory"])) if d.get("memory") is not None else 0
    return Res(cpu, mem, int(d.get("pods", pods)))


def pod_request(pod: dict) -> Res:
    """What the scheduler reserves for a pod: the sum of its containers' requests (init containers
    run before, so the larger of the two), one pod slot."""
    spec = pod.get("spec") or {}
    main = sum((parse_res((c.get("resources") or {}).get("requests")) for c in spec.get("containers") or ()), Res())
    init = [parse_res((c.get("resources") or {}).get("requests")) for c in spec.get("initContainers") or ()]
    peak = Res(max([main.cpu, *(r.cpu for r in init)]), max([main.memory, *(r.memory for r in init)]), 0)
    return Res(peak.cpu, peak.memory, 1)


QUEUED, ADMITTED, BOUND = "queued", "admitted", "bound"


@dataclasses.dataclass(frozen=True)
class RunView:
    """One live run of the cluster as the queue sees it."""

    name: str
    request: Res
    state: str  # QUEUED (no Job yet, or Kueue holds it), ADMITTED (pod not bound), BOUND
    created: str = ""  # creationTimestamp, RFC 3339 (sorts as text)
    priority: int = 0
    node: str | None = None  # where a BOUND run's pod is


@dataclasses.dataclass(frozen=True)
class NodeView:
    name: str
    ready: bool
    allocatable: Res
    used: Res = Res()  # requests of every non-terminal pod bound to the node (ours or not)
    schedulable: bool = True  # False when cordoned
    removable: bool = True  # the provider created it and may delete it
    ours: int = 0  # how many of our runs' pods are bound to it


@dataclasses.dataclass(frozen=True)
class Plan:
    admit: tuple[str, ...] = ()  # queued runs that fit now, in order
    onto_new_nodes: tuple[str, ...] = ()  # those of `admit` that fit only on nodes being added
    positions: dict = dataclasses.field(default_factory=dict)  # name -> 1-based position of the rest
    waiting_for_new_nodes: tuple[str, ...] = ()  # fit on nodes being added
    unmet: tuple[Res, ...] = ()  # requests nothing present or coming can hold
    too_big: tuple[str, ...] = ()  # larger than any node of the cluster
    busy: frozenset = frozenset()  # nodes holding or reserved for our runs
    unbound: int = 0  # admitted runs whose pod is not bound yet


def queue_order(runs: Iterable[RunView]) -> list[RunView]:
    return sorted(runs, key=lambda r: (-r.priority, r.created, r.name))


def _first_fit(free: dict[str, Res], need: Res) -> str | None:
    for name, room in free.items():
        if room.holds(need):
            free[name] = room - need
            return name
    return None


def plan(
    runs: Iterable[RunView],
    nodes: Iterable[NodeView],
    *,
    node_capacity: Res,
    pending_nodes: int = 0,
    admit: bool = True,
) -> Plan:
    """Decide the queue. `pending_nodes` are nodes asked of the provider but not Ready yet (each of
    `node_capacity`). `admit=False` (Kueue admits instead) only computes demand and positions."""
    runs, nodes = list(runs), list(nodes)
    ready = [n for n in nodes if n.ready and n.schedulable]
    free = {n.name: n.allocatable - n.used for n in sorted(ready, key=lambda n: n.name)}
    coming = {f"pending-{i}": node_capacity for i in range(pending_nodes)}
    coming.update({n.name: n.allocatable - n.used for n in nodes if not n.ready and n.schedulable})
    busy = {r.node for r in runs if r.state == BOUND and r.node}
    unmet: list[Res] = []
    biggest = max([node_capacity, *(n.allocatable for n in nodes)], key=lambda r: (r.cpu, r.memory))

    unbound = [r for r in runs if r.state == ADMITTED]
    for r in queue_order(unbound):  # already admitted: they hold a place wherever they land
        where = _first_fit(free, r.request)
        if where:
            busy.add(where)
        elif not _first_fit(coming, r.request):
            unmet.append(r.request)

    admitted: list[str] = []
    onto_new: list[str] = []
    positions: dict[str, int] = {}
    later: list[str] = []
    too_big: list[str] = []
    blocked = not admit
    for r in queue_order(r for r in runs if r.state == QUEUED):
        if not _fits_any(r.request, biggest, nodes):
            too_big.append(r.name)
            continue
        if not blocked:
            where = _first_fit(free, r.request)
            if where:
                busy.add(where)
                admitted.append(r.name)
                continue
            if _first_fit(coming, r.request):
                # Room on a node being added: start it now and let its pod wait for the node, as
                # the cluster autoscaler does — no pass stands between the node's Ready and the run.
                admitted.append(r.name)
                onto_new.append(r.name)
                continue
            blocked = True
        positions[r.name] = len(positions) + 1
        if _first_fit(coming, r.request):
            later.append(r.name)
        else:
            unmet.append(r.request)
    return Plan(
        admit=tuple(admitted),
        onto_new_nodes=tuple(onto_new),
        positions=positions,
        waiting_for_new_nodes=tuple(later),
        unmet=tuple(unmet),
        too_big=tuple(too_big),
        busy=frozenset(busy),
        unbound=len(unbound),
    )


def _fits_any(need: Res, biggest: Res, nodes: list[NodeView]) -> bool:
    return biggest.holds(need) or any(n.allocatable.holds(need) for n in nodes)


def nodes_needed(unmet: Iterable[Res], node_capacity: Res) -> int:
    """How many new nodes of `node_capacity` hold `unmet` (first-fit decreasing)."""
    bins: list[Res] = []
    for need in sorted(unmet, key=lambda r: (r.cpu, r.memory), reverse=True):
        for i, room in enumerate(bins):
            if room.holds(need):
                bins[i] = room - need
                break
        else:
            if node_capacity.holds(need):
                bins.append(node_capacity - need)
    return len(bins)
