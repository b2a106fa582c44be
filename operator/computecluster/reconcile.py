"""One pass over a ComputeCluster: observe the pool and its runs, decide the queue and the scaling,
act (ask the provider for nodes, record each run's admission or queue position in its
`status.admission`, fail pods lost with their node), and write the cluster's status once if it
changed — also when the pass failed, or when the cluster is being deleted while runs hold its nodes.

The decisions are pure (queue.py, admission.py, scaling.py, status.py beside this module); this
module only gathers their inputs and carries out their outputs. It never starts a run itself: an
admitted run's own reconcile (operator/trainingrun/reconcile.py), woken by the TrainingRun event
that the admission write causes, creates its Job. Passes of one cluster never overlap (its daemon
runs them one after the other), and a pass counts runs admitted whose Job does not exist yet as
holding their place: that is what makes admission safe.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import time
from collections.abc import Callable

from kubernetes.client.rest import ApiException

from trainyard.api import conditions as cond
from trainyard.api import trainingrun as tr
from trainyard.api.conditions import parse_time
from trainyard.api.constants import COMPUTE_CLUSTER, GROUP, LABEL_COMPUTE, LABEL_RUN, PLURALS, TRAINING_RUN, VERSION
from trainyard.operator.computecluster import admission, preemption, providers, wake
from trainyard.operator.computecluster.placement import placement, run_resources
from trainyard.operator.computecluster.providers.base import ProviderError
from trainyard.operator.computecluster.providers.kwok import DEFAULT_CAPACITY
from trainyard.operator.computecluster.queue import (
    ADMITTED,
    BOUND,
    QUEUED,
    Res,
    RunView,
    parse_res,
    plan,
    pod_request,
)
from trainyard.operator.computecluster.scaling import UP, NodeState, PoolSpec, decide, next_check_in, track_idle
from trainyard.operator.computecluster.status import Facts, derive, previous_idle
from trainyard.operator.core import kube

log = logging.getLogger("trainyard.cluster")

ADMIT_WORKERS = 8  # admission records written in parallel
BUSY_RECHECK = 0.5  # seconds between passes while nodes or pods are settling
IDLE_RECHECK = 10.0
ERROR_RETRY = 2.0  # seconds until a failed pass is retried
ENDED_BY_NAME = 50  # up to this many runs, look for their ended pods by name; beyond, by phase


@dataclasses.dataclass
class Memory:
    """What one cluster's daemon keeps between passes: scaling times only (after a restart,
    status.lastScaleTime stands in for them)."""

    last_scale: float | None = None  # any scaling (status.lastScaleTime)
    last_scale_up: float | None = None  # the cooldown counts from here


@dataclasses.dataclass(frozen=True)
class Snapshot:
    cluster: dict
    runs: list
    jobs: dict  # run name -> Job
    pods: list  # every non-terminal pod of the API server
    nodes: list  # Nodes matching the pool's selector
    ended: frozenset = frozenset()  # runs with an unfinished Job, no live pod and a pod that ended


@dataclasses.dataclass(frozen=True)
class Result:
    delay: float | None  # seconds until a pass is useful without an event; None: gone or being deleted
    blocked_by: tuple[str, ...] = ()  # being deleted: the runs that still hold its nodes


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
    by_run = {(j["metadata"].get("labels") or {}).get(LABEL_RUN): j for j in jobs}
    snap = Snapshot(cluster, runs, by_run, pods, nodes)
    return dataclasses.replace(snap, ended=ended_runs(snap))


def ended_runs(snap: Snapshot) -> frozenset[str]:
    """Runs whose pod has ended (Succeeded or Failed) while their Job does not say so yet (the Job
    controller and the run's status follow up to a second later): read from the API, among the
    runs with an unfinished Job and no live pod — otherwise they look admitted-but-unbound,
    demand for a slot they no longer need."""
    alive = {(p["metadata"].get("labels") or {}).get(LABEL_RUN) for p in our_pods(snap)}
    maybe = sorted(r for r, j in snap.jobs.items() if r and r not in alive and not _finished(j))
    if not maybe:
        return frozenset()
    meta = snap.cluster["metadata"]
    selector = f"{LABEL_COMPUTE}={meta['name']}"
    if len(maybe) <= ENDED_BY_NAME:
        selector += f",{LABEL_RUN} in ({','.join(maybe)})"
    pods = _items(
        kube.core().list_namespaced_pod(
            meta["namespace"],
            label_selector=selector,
            field_selector="status.phase!=Pending,status.phase!=Running,status.phase!=Unknown",
            _preload_content=False,
        )
    )
    return frozenset(r for r in ((p["metadata"].get("labels") or {}).get(LABEL_RUN) for p in pods) if r in maybe)


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


def run_views(snap: Snapshot, ended: frozenset[str] | None = None) -> list[RunView]:
    """The live runs of the cluster (terminal, canceled and finished ones hold nothing). `ended`
    (default: the snapshot's): runs whose pod ended — with no live pod they hold nothing either,
    even before their Job and status say so. A run admitted whose Job does not exist yet holds its
    place (ADMITTED) as one whose pod is not bound yet does."""
    ended = snap.ended if ended is None else ended
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
        if job is None:
            state = ADMITTED if admission.holds_place(r, has_job=False) else QUEUED
        elif (job.get("spec") or {}).get("suspend"):
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


def reconcile(
    namespace: str,
    name: str,
    memory: Memory,
    *,
    kueue_queue: Callable[[dict], str | None] = lambda c: None,
    clock: Callable[[], float] = time.time,
) -> Result:
    """One pass, ending in one write of the cluster's status (if it changed). Called by the
    cluster's daemon and, while the cluster is being deleted, by its delete handler (then it only
    finds the runs that hold the deletion up). A failure after the cluster was read shows in its
    Ready condition and is retried after ERROR_RETRY; one before (the API is unreachable) raises."""
    began = time.monotonic()
    snap = snapshot(namespace, name)
    if snap is None:
        return Result(None)
    if snap.cluster["metadata"].get("deletionTimestamp"):
        blocked = tuple(sorted(r.name for r in run_views(snap) if r.state != QUEUED))
        if blocked:
            _write_status(snap.cluster, Facts.partial(blocked_by=blocked))
        return Result(None, blocked)
    try:
        facts, delay = _decide_and_act(snap, memory, kueue_queue(snap.cluster), clock(), began)
    except Exception as exc:  # the API or the provider hiccuped: retry soon, visibly
        log.exception("ComputeCluster %s/%s: pass failed", namespace, name)
        facts, delay = Facts.partial(error=str(exc)), ERROR_RETRY
    _write_status(snap.cluster, facts)
    return Result(delay)


def _write_status(cluster: dict, facts: Facts) -> None:
    """The only writer of a ComputeCluster's status."""
    old = dict(cluster.get("status") or {})
    patch = kube.merge_patch(old, derive(cluster, facts, now=cond.now_rfc3339()))
    if patch:
        meta = cluster["metadata"]
        kube.patch_custom_status(COMPUTE_CLUSTER, meta["namespace"], meta["name"], patch)


def _decide_and_act(
    snap: Snapshot, memory: Memory, queue_name: str | None, now: float, began: float
) -> tuple[Facts, float]:
    cluster, old = snap.cluster, dict(snap.cluster.get("status") or {})
    namespace, name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
    listed = time.monotonic() - began
    wake.watch_nodes(namespace, name, selector_of(cluster))
    provider, observed, provider_error = observe(snap)
    ours = our_pods(snap)
    present = {n["metadata"]["name"] for n in snap.nodes}
    lost = [p for p in preemption.lost_pods(ours, present) if preemption.fail_lost_pod(p, cond.now_rfc3339())]
    observed = with_usage(observed, snap.pods, ours)
    capacity = node_capacity(cluster, observed.nodes)
    runs = run_views(snap)
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
    by_name = {r["metadata"]["name"]: r for r in snap.runs}
    held = {r.name: admission.recorded(by_name[r.name]) for r in runs if r.state != QUEUED or r.name in snap.jobs}
    records = admission.decisions(
        p,
        cluster,
        held,
        at_max=bool(decision and decision.at_max),
        scaling_up=bool(decision and decision.direction == UP),
        kueue_queue=queue_name,
    )
    writes = {
        r: admission.patch_for(admission.recorded(by_name[r]), rec, now)
        for r, rec in records.items()
        if admission.due(admission.recorded(by_name[r]), rec, now)
    }
    _write_admissions(namespace, writes)
    start = [r for r, rec in records.items() if rec["admitted"] and r not in held]

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
    log.debug(
        "ComputeCluster %s/%s pass: listed in %.2fs, %d admitted, %d record(s) written, %d queued, %d node(s), "
        "took %.2fs",
        namespace,
        name,
        listed,
        len(start),
        len(writes),
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
        return facts, BUSY_RECHECK
    return facts, next_check_in(pool, states, now=now, last_scale_up=last_up, default=IDLE_RECHECK)


def _write_admissions(namespace: str, writes: dict[str, dict]) -> None:
    """Record each run's admission or queue position in its status.admission (in parallel: 40 runs
    admitted at once are 40 patches). Each write is an event of the run that wakes its own
    reconcile, which creates the Job of an admitted run. A write that fails is made by a later
    pass: the decision is taken again from what the API holds."""
    if not writes:
        return

    def one(item: tuple[str, dict]) -> None:
        run, patch = item
        try:
            kube.patch_custom_status(TRAINING_RUN, namespace, run, patch)
        except ApiException as exc:
            if exc.status != 404:  # a run deleted meanwhile needs no decision
                log.warning("recording the admission of run %s/%s failed: %s", namespace, run, exc)

    with concurrent.futures.ThreadPoolExecutor(min(ADMIT_WORKERS, len(writes))) as pool:
        list(pool.map(one, writes.items()))
