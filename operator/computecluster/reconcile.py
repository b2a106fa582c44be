"""One pass over a ComputeCluster: observe the pool and its runs, decide the queue and the scaling,
act (start runs that fit, publish queue positions, fail pods lost with their node, ask the
provider for nodes), and write the cluster's status once if it changed.

The decisions are pure (queue.py, scaling.py, status.py beside this module); this module only
gathers their inputs and carries out their outputs. Passes of one cluster never overlap
(its daemon runs them one after the other), which is what makes admission safe.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import time
from collections.abc import Callable

from trainyard.api import conditions as cond
from trainyard.api import trainingrun as tr
from trainyard.api.conditions import parse_time
from trainyard.api.constants import COMPUTE_CLUSTER, GROUP, LABEL_COMPUTE, LABEL_RUN, PLURALS, TRAINING_RUN, VERSION
from trainyard.operator.computecluster import admission, preemption, providers
from trainyard.operator.computecluster.admission import ADMIT, Ticket
from trainyard.operator.computecluster.placement import placement, run_resources
from trainyard.operator.computecluster.providers.base import ProviderError
from trainyard.operator.computecluster.providers.kwok import DEFAULT_CAPACITY
from trainyard.operator.computecluster.queue import (
    ADMITTED,
    BOUND,
    QUEUED,
    Plan,
    Res,
    RunView,
    parse_res,
    plan,
    pod_request,
)
from trainyard.operator.computecluster.scaling import UP, NodeState, PoolSpec, decide, next_check_in, track_idle
from trainyard.operator.computecluster.status import Facts, derive, previous_idle
from trainyard.operator.core import kube
from trainyard.operator.trainingrun import reconcile as reconcile_run

log = logging.getLogger("trainyard.cluster")

POSITION_REFRESH_SECONDS = 5.0  # a queued run's position is rewritten at most this often
ADMIT_WORKERS = 8
BUSY_RECHECK = 0.5  # seconds between passes while nodes or pods are settling
IDLE_RECHECK = 10.0


@dataclasses.dataclass
class Memory:
    """What one cluster's daemon keeps between passes."""

    written: dict = dataclasses.field(default_factory=dict)  # run -> (Ticket, monotonic time written)
    last_scale: float | None = None  # any scaling (status.lastScaleTime)
    last_scale_up: float | None = None  # the cooldown counts from here


@dataclasses.dataclass(frozen=True)
class Snapshot:
    cluster: dict
    runs: list
    jobs: dict  # run name -> Job
    pods: list  # every non-terminal pod of the API server
    nodes: list  # Nodes matching the pool's selector


def _items(resp) -> list[dict]:
    return json.loads(resp.data)["items"]


def selector_of(cluster: dict) -> dict[str, str]:
    return placement(cluster)[0]


def snapshot(namespace: str, name: str) -> Snapshot | None:
    cluster = kube.get_custom(COMPUTE_CLUSTER, namespace, name)
    if cluster is None:
        return None
    runs = [
        r
        for r in kube.custom().list_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[TRAINING_RUN])["items"]
        if r["spec"].get("compute") == name
    ]
    jobs = _items(
        kube.batch().list_namespaced_job(namespace, label_selector=f"{LABEL_COMPUTE}={name}", _preload_content=False)
    )
    pods = _items(
        kube.core().list_pod_for_all_namespaces(
            field_selector="status.phase!=Succeeded,status.phase!=Failed", _preload_content=False
        )
    )
    selector = ",".join(f"{k}={v}" for k, v in sorted(selector_of(cluster).items()))
    nodes = _items(kube.core().list_node(label_selector=selector, _preload_content=False))
    return Snapshot(cluster, runs, {(j["metadata"].get("labels") or {}).get(LABEL_RUN): j for j in jobs}, pods, nodes)


def _finished(job: dict) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or ()
    )


def our_pods(snap: Snapshot) -> list[dict]:
    meta = snap.cluster["metadata"]
    return [
        p
        for p in snap.pods
        if p["metadata"]["namespace"] == meta["namespace"]
        and (p["metadata"].get("labels") or {}).get(LABEL_COMPUTE) == meta["name"]
    ]


def run_views(snap: Snapshot, ended: frozenset[str] = frozenset()) -> list[RunView]:
    """The live runs of the cluster (terminal, canceled and finished ones hold nothing). `ended`:
    runs whose pod was seen finished — with no live pod they hold nothing either, even before
    their Job and status say so."""
    bound, alive = {}, set()
    for p in our_pods(snap):
        run = p["metadata"]["labels"].get(LABEL_RUN)
        alive.add(run)
        if p["spec"].get("nodeName") and not p["metadata"].get("deletionTimestamp"):
            bound[run] = p["spec"]["nodeName"]
    views = []
    for r in snap.runs:
        name, spec = r["metadata"]["name"], r["spec"]
        if spec.get("suspend") or tr.is_terminal((r.get("status") or {}).get("conditions")):
            continue
        job = snap.jobs.get(name)
        if job is not None and (_finished(job) or name in ended and name not in alive):
            continue
        if job is None or (job.get("spec") or {}).get("suspend"):
            state = QUEUED
        else:
            state = BOUND if name in bound else ADMITTED
        request = parse_res(run_resources(r, snap.cluster)["requests"], pods=1)
        views.append(
            RunView(
                name,
                request,
                state,
                r["metadata"].get("creationTimestamp", ""),
                int(spec.get("priority") or 0),
                bound.get(name),
            )
        )
    return views


def node_capacity(cluster: dict, nodes) -> Res:
    """One new node's allocatable: spec.nodeResources, filled from an existing node or the
    simulated default where the spec is silent."""
    spec = cluster["spec"]
    base = dict(DEFAULT_CAPACITY) if spec["provider"]["type"] == "kwok" else {}
    if nodes and spec["provider"]["type"] != "kwok":
        n = nodes[0].allocatable
        base = {"cpu": f"{n.cpu}m", "memory": n.memory, "pods": n.pods}
    base.update(spec.get("nodeResources") or {})
    res = parse_res(base, pods=110)
    huge = 10**15  # unknown: assume one node holds any single run
    return Res(res.cpu or huge, res.memory or huge, res.pods or 110)


def observe(snap: Snapshot) -> tuple[providers.Provider | None, providers.Observation, str]:
    """The pool through its provider; on a provider error, the labelled nodes as they are."""
    try:
        provider = providers.for_cluster(snap.cluster)
        return provider, provider.observe(snap.cluster, snap.nodes), ""
    except ProviderError as exc:
        return None, providers.StaticProvider().observe(snap.cluster, snap.nodes), str(exc)


def with_usage(observed: providers.Observation, pods: list[dict], ours: list[dict]) -> providers.Observation:
    used: dict[str, Res] = {}
    count: dict[str, int] = {}
    for p in pods:
        node = p["spec"].get("nodeName")
        if node:
            used[node] = used.get(node, Res()) + pod_request(p)
    for p in ours:
        node = p["spec"].get("nodeName")
        if node:
            count[node] = count.get(node, 0) + 1
    views = tuple(
        dataclasses.replace(n, used=used.get(n.name, Res()), ours=count.get(n.name, 0)) for n in observed.nodes
    )
    return dataclasses.replace(observed, nodes=views)


def tickets(p: Plan, cluster: dict, *, at_max: bool, scaling_up: bool, kueue_queue: str | None) -> dict[str, Ticket]:
    name = cluster["metadata"]["name"]
    out = {r: ADMIT for r in p.admit}
    total = len(p.positions) + len(p.too_big)
    coming = set(p.waiting_for_new_nodes)
    for run, pos in p.positions.items():
        why = (
            "waiting for a node being added"
            if run in coming or scaling_up and not at_max
            else f"the pool is at maxNodes={cluster['spec']['maxNodes']}"
            if at_max
            else "waiting for capacity (a running run to end or nodes to be added)"
        )
        out[run] = Ticket(
            position=pos, message=f"position {pos} of {total} in the queue of ComputeCluster {name!r}: {why}"
        )
    for i, run in enumerate(p.too_big, start=len(p.positions) + 1):
        out[run] = Ticket(
            position=i,
            message=f"needs more than one node of ComputeCluster {name!r} offers "
            f"(spec.nodeResources); lower spec.resources or use another cluster",
        )
    if kueue_queue:
        out = {r: Ticket(admitted=True, kueue_queue=kueue_queue) for r in out}
    return out


def reconcile(
    namespace: str,
    name: str,
    cfg,
    store,
    post_event,
    memory: Memory,
    *,
    kueue_queue: Callable[[dict], str | None] = lambda c: None,
    clock: Callable[[], float] = time.time,
) -> float | None:
    """One pass. Returns the seconds until the next pass is useful without a new event, or None
    when the cluster is gone."""
    began = time.monotonic()
    snap = snapshot(namespace, name)
    if snap is None or snap.cluster["metadata"].get("deletionTimestamp"):
        return None
    now = clock()
    listed = time.monotonic() - began
    cluster, old = snap.cluster, dict(snap.cluster.get("status") or {})
    provider, observed, provider_error = observe(snap)
    ours = our_pods(snap)
    present = {n["metadata"]["name"] for n in snap.nodes}
    lost = [p for p in preemption.lost_pods(ours, present) if preemption.fail_lost_pod(p, cond.now_rfc3339())]
    observed = with_usage(observed, snap.pods, ours)
    capacity = node_capacity(cluster, observed.nodes)
    runs = run_views(snap, admission.ended_runs(namespace, name, {r["metadata"]["name"] for r in snap.runs}))
    queue_name = kueue_queue(cluster)
    p = plan(runs, observed.nodes, node_capacity=capacity, pending_nodes=observed.pending, admit=not queue_name)

    last_scale = memory.last_scale if memory.last_scale is not None else parse_time(old.get("lastScaleTime"))
    # After a restart only status.lastScaleTime is known: take it as a scale-up (the cautious reading).
    last_up = memory.last_scale_up if memory.last_scale else last_scale
    idle = track_idle(previous_idle(old), p.busy, [n.name for n in observed.nodes], now)
    pool = PoolSpec.from_spec(cluster["spec"], capacity, can_scale=provider is not None and provider.can_scale)
    states = [NodeState(n.name, n.name in p.busy, idle.get(n.name), n.ready, n.removable) for n in observed.nodes]
    decision = (
        decide(
            pool,
            states,
            p.unmet,
            now=now,
            last_scale_up=last_up,
            pending=observed.pending,
            unbound=p.unbound + len(p.admit),
        )
        if provider is not None
        else None
    )

    # Nodes first: a run admitted onto a node being added then has its pod created once the node
    # exists, not before (the scheduler would back an unschedulable pod off for a second or more).
    if decision is not None and decision.changed:
        try:
            provider.scale(cluster, decision.desired, decision.remove, observed)
            memory.last_scale = last_scale = now
            if decision.direction == UP:
                memory.last_scale_up = last_up = now
            log.info("ComputeCluster %s/%s: %s", namespace, name, decision.message)
            if decision.direction == UP:  # runs that fit the nodes just asked for start in this pass
                asked = observed.pending + max(0, decision.desired - len(observed.nodes) - observed.pending)
                p = plan(runs, observed.nodes, node_capacity=capacity, pending_nodes=asked, admit=not queue_name)
        except ProviderError as exc:
            provider_error = str(exc)
    given = tickets(
        p,
        cluster,
        at_max=bool(decision and decision.at_max),
        scaling_up=bool(decision and decision.direction == UP),
        kueue_queue=queue_name,
    )
    admission.publish(namespace, name, given, selector=selector_of(cluster), kueue_queue=queue_name, cluster=cluster)
    start = [r for r, t in given.items() if t.admitted and r not in snap.jobs]
    _reconcile_runs(namespace, start, given, cfg, store, post_event)
    _refresh_positions(namespace, given, memory, cfg, store, post_event)

    queued = sum(1 for r in runs if r.state == QUEUED and r.name not in start)
    facts = Facts(
        observed if provider is not None else None,
        p,
        decision,
        idle,
        queued,
        len(runs) - queued,
        last_scale,
        provider_error,
    )
    new = derive(cluster, facts, now=cond.now_rfc3339())
    patch = kube.merge_patch(old, new)
    if patch:
        kube.patch_custom_status(COMPUTE_CLUSTER, namespace, name, patch)
    log.debug(
        "ComputeCluster %s/%s pass: listed in %.2fs, %d started, %d queued, %d node(s), took %.2fs",
        namespace,
        name,
        listed,
        len(start),
        queued,
        len(observed.nodes),
        time.monotonic() - began,
    )
    settling = (
        p.unbound
        or start
        or lost
        or observed.pending
        or decision
        and decision.changed
        or any(not n.ready for n in observed.nodes)
    )
    if settling:
        return BUSY_RECHECK
    return next_check_in(pool, states, now=now, last_scale_up=last_up, default=IDLE_RECHECK)


def _reconcile_runs(namespace: str, names_: list[str], given: dict, cfg, store, post_event) -> None:
    """Create the Jobs of admitted runs (in parallel: each is a handful of API calls)."""
    if not names_:
        return

    def one(run: str) -> None:
        try:
            reconcile_run.reconcile(namespace, run, cfg, store, post_event, gate=lambda r, c, t=given[run]: t)
        except Exception:  # the run's own handlers retry; the next pass tries again
            log.exception("starting run %s/%s failed", namespace, run)

    with concurrent.futures.ThreadPoolExecutor(min(ADMIT_WORKERS, len(names_))) as pool:
        list(pool.map(one, names_))


def _refresh_positions(namespace: str, given: dict, memory: Memory, cfg, store, post_event) -> None:
    """Write a queued run's position when it changed — at most every POSITION_REFRESH_SECONDS per
    run, so 200 queued runs do not mean 200 status writes each time one starts."""
    mono = time.monotonic()
    due = [
        r
        for r, t in given.items()
        if not t.admitted
        and (
            r not in memory.written
            or memory.written[r][0] != t
            and mono - memory.written[r][1] >= POSITION_REFRESH_SECONDS
        )
    ]
    for r in [r for r in memory.written if r not in given]:
        del memory.written[r]
    for r in due:
        try:
            reconcile_run.reconcile(namespace, r, cfg, store, post_event, gate=lambda run, c, t=given[r]: t)
            memory.written[r] = (given[r], mono)
        except Exception:
            log.exception("writing the queue position of run %s/%s failed", namespace, r)


def write_blocked(snap: Snapshot, running: list[str]) -> None:
    """The cluster is being deleted while `running` runs still hold its nodes: say so in Ready."""
    from trainyard.api import computecluster as cc

    cluster = snap.cluster
    old = cluster.get("status") or {}
    shown = ", ".join(sorted(running)[:5]) + (" ..." if len(running) > 5 else "")
    conds = cond.set_condition(
        old.get("conditions"),
        cond.condition(
            cc.READY,
            cond.FALSE,
            cc.REASON_DELETION_BLOCKED,
            f"being deleted; waiting for {len(running)} run(s) to end: {shown}",
            generation=cluster["metadata"].get("generation"),
        ),
    )
    if not cond.same_ignoring_time(old.get("conditions"), conds):
        kube.patch_custom_status(
            COMPUTE_CLUSTER, cluster["metadata"]["namespace"], cluster["metadata"]["name"], {"conditions": conds}
        )
