"""A ComputeCluster's status, computed from one reconcile's facts (pure; written once if changed).

Counts for `kubectl get cc`, one entry per node (for `trainyard clusters` and to keep idle timers
across operator restarts), and the five conditions, each always present with a named reason.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from trainyard.api import computecluster as cc
from trainyard.api import conditions as cond
from trainyard.api.conditions import parse_time, rfc3339
from trainyard.operator.computecluster.queue import Plan
from trainyard.operator.computecluster.scaling import DOWN, UP, Decision

if TYPE_CHECKING:
    # Only the type: importing anything of `providers` at run time runs its __init__, which loads
    # every provider and with them the Kubernetes client.
    from trainyard.operator.computecluster.providers.base import Observation


@dataclasses.dataclass(frozen=True)
class Facts:
    observed: Observation | None  # None when the provider failed
    plan: Plan | None  # None: the pass did not get as far as a plan (it failed, or the cluster is being deleted)
    decision: Decision | None
    idle_since: dict  # node -> epoch seconds or None (busy)
    queued: int
    running: int
    last_scale: float | None
    provider_error: str = ""
    blocked_by: tuple[str, ...] = ()  # deletion waits for these runs
    error: str = ""  # the pass failed unexpectedly (it is retried)

    @classmethod
    def partial(cls, *, blocked_by: tuple[str, ...] = (), error: str = "") -> Facts:
        return cls(None, None, None, {}, 0, 0, None, blocked_by=blocked_by, error=error)


def previous_idle(status: dict | None) -> dict:
    return {n["name"]: parse_time(n.get("idleSince")) for n in (status or {}).get("nodes") or ()}


def _ready_only(cluster: dict, f: Facts, now: str) -> dict:
    """A pass that knows too little to recount the pool (it failed, or the cluster is being deleted)
    keeps the counts and says why in Ready."""
    old = dict(cluster.get("status") or {})
    if f.blocked_by:
        shown = ", ".join(f.blocked_by[:5]) + (" ..." if len(f.blocked_by) > 5 else "")
        reason = cc.REASON_DELETION_BLOCKED
        message = f"being deleted; waiting for {len(f.blocked_by)} run(s) to end: {shown}"
    else:
        reason, message = cc.REASON_RECONCILE_ERROR, f"reconcile failed (retrying): {f.error}"[:1000]
    ready = cond.condition(
        cc.READY, cond.FALSE, reason, message, generation=cluster["metadata"].get("generation"), now=now
    )
    old["conditions"] = cond.set_condition(old.get("conditions"), ready)
    return old


def derive(cluster: dict, f: Facts, *, now: str) -> dict:
    if f.plan is None or f.blocked_by or f.error:
        return _ready_only(cluster, f, now)
    spec, old = cluster["spec"], dict(cluster.get("status") or {})
    gen = cluster["metadata"].get("generation")
    obs = f.observed
    nodes = obs.nodes if obs else ()
    ready = sum(1 for n in nodes if n.ready)
    busy = [n.name for n in nodes if n.name in f.plan.busy]
    current = (len(nodes) + obs.pending) if obs else old.get("currentNodes", 0)
    desired = f.decision.desired if f.decision else current
    d = f.decision

    def c(ctype, ok, reason, message):
        return cond.condition(ctype, cond.TRUE if ok else cond.FALSE, reason, message, generation=gen, now=now)

    min_nodes = spec.get("minNodes", 0)
    if f.provider_error:
        ready_c = c(cc.READY, False, cc.REASON_PROVIDER_FAILED, f.provider_error)
    elif ready < min_nodes:
        ready_c = c(cc.READY, False, cc.REASON_WAITING_FOR_NODES, f"{ready} of minNodes={min_nodes} node(s) Ready")
    else:
        ready_c = c(cc.READY, True, cc.REASON_POOL_READY, f"{ready} node(s) Ready, {len(busy)} busy")
    not_ready = len(nodes) - ready + (obs.pending if obs else 0)
    if d and d.direction == UP:
        up = c(cc.SCALING_UP, True, d.reason, d.message)
    elif not_ready > 0:
        up = c(cc.SCALING_UP, True, cc.REASON_WAITING_FOR_NODES, f"{not_ready} node(s) not Ready yet")
    else:
        up = c(cc.SCALING_UP, False, cc.REASON_NO_PENDING_DEMAND, "every queued run fits the pool")
    if d and d.direction == DOWN:
        down = c(cc.SCALING_DOWN, True, d.reason, d.message)
    else:
        down = c(cc.SCALING_DOWN, False, cc.REASON_NO_IDLE_NODES, d.message if d else "")
    if d and d.at_max:
        at_max = c(
            cc.AT_MAX_CAPACITY,
            True,
            cc.REASON_MAX_NODES_REACHED,
            f"{f.queued} run(s) queued; the pool is at maxNodes={spec['maxNodes']}"
            if d.reason != cc.REASON_FIXED_POOL
            else f"{f.queued} run(s) queued on a fixed pool of {current} node(s)",
        )
    else:
        at_max = c(cc.AT_MAX_CAPACITY, False, cc.REASON_BELOW_MAX_NODES, f"{current} of maxNodes={spec['maxNodes']}")
    perr = c(
        cc.PROVIDER_ERROR,
        bool(f.provider_error),
        cc.REASON_PROVIDER_FAILED if f.provider_error else cc.REASON_PROVIDER_HEALTHY,
        f.provider_error or "the provider answers",
    )
    conds = old.get("conditions")
    for new in (ready_c, up, down, at_max, perr):
        conds = cond.set_condition(conds, new)
    status = dict(old)
    status.update(
        {
            "observedGeneration": gen,
            "currentNodes": current,
            "readyNodes": ready,
            "busyNodes": len(busy),
            "desiredNodes": desired,
            "queuedRuns": f.queued,
            "runningRuns": f.running,
            "nodes": [
                {
                    "name": n.name,
                    "ready": n.ready,
                    "busy": n.name in f.plan.busy,
                    "runs": n.ours,
                    **({"idleSince": rfc3339(f.idle_since[n.name])} if f.idle_since.get(n.name) else {}),
                }
                for n in sorted(nodes, key=lambda n: n.name)
            ],
            "conditions": conds,
        }
    )
    if f.last_scale is not None:
        status["lastScaleTime"] = rfc3339(f.last_scale)
    return status
