"""The scaling policy of a ComputeCluster, as one pure function: what the pool looks like (nodes,
which are busy and since when the others are idle), the demand nothing can hold, the spec and the
clock in; how many nodes to want and which to remove out. No API calls, no clock of its own.

Rules (AmlCompute's, plus the usual autoscaler guards):
- scale up when queued demand does not fit the nodes present or already coming — from zero too —
  by as many nodes as first-fit packing of that demand needs, capped at maxNodes and maxScaleStep;
- never below minNodes, never above maxNodes;
- scale down a node only after it has been idle for idleSecondsBeforeScaleDown (new work resets
  the timer), only when no demand is waiting, not within scaleCooldownSeconds of the last scale-up
  (as the cluster autoscaler's scale-down-delay-after-add: nodes just added are not judged before
  work reaches them; one scale-down does not hold up the next, nodes idle long enough go as they
  come), and by at most maxScaleStep nodes at a time;
- never remove a node that runs (or is reserved for) a pod of ours, nor one the provider does not
  own; never scale down while an admitted pod is not bound yet (it may land on any node).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from trainyard.api import computecluster as cc
from trainyard.operator.computecluster.queue import Res, nodes_needed

UP, DOWN = "up", "down"


@dataclasses.dataclass(frozen=True)
class PoolSpec:
    min_nodes: int = 0
    max_nodes: int = 1
    idle_seconds: float = 1800
    cooldown_seconds: float = 30
    max_step: int = 10
    node_capacity: Res = Res()
    can_scale: bool = True  # False for the static provider

    @classmethod
    def from_spec(cls, spec: dict, node_capacity: Res, can_scale: bool) -> PoolSpec:
        return cls(
            min_nodes=spec.get("minNodes", 0),
            max_nodes=spec["maxNodes"],
            idle_seconds=spec.get("idleSecondsBeforeScaleDown", 1800),
            cooldown_seconds=spec.get("scaleCooldownSeconds", 30),
            max_step=spec.get("maxScaleStep", 10),
            node_capacity=node_capacity,
            can_scale=can_scale,
        )


@dataclasses.dataclass(frozen=True)
class NodeState:
    name: str
    busy: bool
    idle_since: float | None = None  # when it last stopped being busy (None while busy)
    ready: bool = True
    removable: bool = True


@dataclasses.dataclass(frozen=True)
class Decision:
    desired: int
    remove: tuple[str, ...] = ()
    direction: str | None = None  # UP, DOWN or None
    reason: str = ""
    message: str = ""
    at_max: bool = False  # demand is left that maxNodes does not allow for

    @property
    def changed(self) -> bool:
        return self.direction is not None


def track_idle(
    previous: dict[str, float | None], busy: Iterable[str], names: Iterable[str], now: float
) -> dict[str, float | None]:
    """Idle-since per node: None while busy; the time it became idle, kept while it stays idle."""
    busy = set(busy)
    return {n: None if n in busy else (previous.get(n) if previous.get(n) is not None else now) for n in names}


def decide(
    spec: PoolSpec,
    nodes: Iterable[NodeState],
    unmet: Iterable[Res],
    *,
    now: float,
    last_scale_up: float | None,
    pending: int = 0,
    unbound: int = 0,
) -> Decision:
    """`pending`: nodes asked of the provider that do not exist yet (they count as current).
    `unbound`: admitted runs whose pod the scheduler has not placed yet."""
    nodes, unmet = list(nodes), list(unmet)
    current = len(nodes) + pending
    need = nodes_needed(unmet, spec.node_capacity) if unmet else 0
    at_max = need > 0 and current + need > spec.max_nodes
    if not spec.can_scale:
        return Decision(
            current,
            at_max=need > 0,
            reason=cc.REASON_FIXED_POOL,
            message=f"the provider keeps a fixed pool of {current} node(s)",
        )
    if need > 0 and current < spec.max_nodes:
        target = min(spec.max_nodes, current + need, current + spec.max_step)
        return Decision(
            max(target, spec.min_nodes),
            direction=UP,
            reason=cc.REASON_QUEUED_DEMAND,
            at_max=at_max,
            message=f"adding {target - current} node(s) for queued runs that do not fit",
        )
    if current < spec.min_nodes:
        target = min(spec.min_nodes, current + spec.max_step)
        return Decision(
            target,
            direction=UP,
            reason=cc.REASON_BELOW_MIN_NODES,
            message=f"adding {target - current} node(s) to reach minNodes={spec.min_nodes}",
        )
    removable = [n for n in nodes if n.removable and not n.busy]
    if current > spec.max_nodes:  # maxNodes was lowered: shed idle nodes regardless of the timer
        drop = _oldest_idle(removable, min(current - spec.max_nodes, spec.max_step), now)
        if drop:
            return Decision(
                current - len(drop),
                tuple(drop),
                DOWN,
                cc.REASON_ABOVE_MAX_NODES,
                f"removing {len(drop)} idle node(s) above maxNodes={spec.max_nodes}",
            )
    if need > 0:
        return Decision(
            current,
            at_max=at_max,
            reason=cc.REASON_MAX_NODES_REACHED,
            message=f"queued runs wait: the pool is at maxNodes={spec.max_nodes}",
        )
    if unbound or pending:
        return Decision(current, reason=cc.REASON_SETTLING, message="waiting for nodes and pods to settle")
    if last_scale_up is not None and now - last_scale_up < spec.cooldown_seconds:
        return Decision(
            current,
            reason=cc.REASON_COOLDOWN,
            message=f"no scale-down within scaleCooldownSeconds={spec.cooldown_seconds:g} of the last scale-up",
        )
    idle = [n for n in removable if n.idle_since is not None and now - n.idle_since >= spec.idle_seconds]
    drop = _oldest_idle(idle, min(current - spec.min_nodes, spec.max_step), now)
    if drop:
        return Decision(
            current - len(drop),
            tuple(drop),
            DOWN,
            cc.REASON_IDLE_NODES,
            f"removing {len(drop)} node(s) idle for {spec.idle_seconds:g}s or more",
        )
    return Decision(current, reason=cc.REASON_STEADY, message="no queued demand and no node idle long enough")


def _oldest_idle(nodes: list[NodeState], count: int, now: float) -> list[str]:
    if count <= 0:
        return []
    ordered = sorted(nodes, key=lambda n: (n.ready, n.idle_since if n.idle_since is not None else now, n.name))
    return [n.name for n in ordered[:count]]


def next_check_in(
    spec: PoolSpec, nodes: Iterable[NodeState], *, now: float, last_scale_up: float | None, default: float
) -> float:
    """Seconds until the policy could decide differently with no new event: the earliest idle timer
    or cooldown to expire."""
    times = [
        n.idle_since + spec.idle_seconds - now for n in nodes if n.removable and not n.busy and n.idle_since is not None
    ]
    if last_scale_up is not None:
        times.append(last_scale_up + spec.cooldown_seconds - now)
    times = [t for t in times if t > 0]
    return min([default, *times]) if times else default
