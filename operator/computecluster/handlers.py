"""ComputeCluster handlers: thin.

- one daemon per cluster runs its reconcile passes (operator/computecluster/reconcile.py) one after the
  other: on every poke, at least MIN_GAP apart (a burst of events makes one pass), and on the timer
  the pass itself asks for (short while nodes or pods settle, an idle timer otherwise);
- events that can change the cluster's demand or capacity poke it: its runs, their Jobs and pods,
  its nodes — filtered by the fields a pass depends on (wake.py), so a run's live-metrics patch or
  a node's heartbeat wakes nothing;
- the pass records each run's admission in the run's status.admission; the run's own handlers
  (operator/trainingrun/handlers.py) create the Job of an admitted run;
- deletion is held by kopf's finalizer while runs still hold nodes of the cluster, with the reason
  in the Ready condition; queued runs that never started then fail with ComputeClusterNotFound.
"""

from __future__ import annotations

import logging
import threading
import time

import kopf
from kubernetes.client.rest import ApiException

from trainyard.api.constants import GROUP, LABEL_COMPUTE, VERSION
from trainyard.operator.computecluster import providers, wake
from trainyard.operator.computecluster import reconcile as reconcile_cluster
from trainyard.operator.core import kube
from trainyard.operator.core.seen import LastSeen

log = logging.getLogger("trainyard.cluster")
MIN_GAP = 0.2  # seconds between two passes of one cluster
KUEUE_GROUP = "kueue.x-k8s.io"
KUEUE_CHECK_SECONDS = 60.0
_kueue = {"at": -1e9, "present": False}  # CACHE of API discovery, re-read every KUEUE_CHECK_SECONDS
_kueue_lock = threading.Lock()


def kueue_installed() -> bool:
    """Whether Kueue's API group is served (discovery; re-checked every minute)."""
    with _kueue_lock:
        if time.monotonic() - _kueue["at"] > KUEUE_CHECK_SECONDS:
            import kubernetes

            try:
                groups = kubernetes.client.ApisApi(kube.api_client()).get_api_versions().groups
                _kueue["present"] = any(g.name == KUEUE_GROUP for g in groups)
            except ApiException:
                _kueue["present"] = False
            _kueue["at"] = time.monotonic()
        return _kueue["present"]


def forget_discovery() -> None:
    """Look for Kueue again on the next pass (CRDs were just installed or removed)."""
    with _kueue_lock:
        _kueue["at"] = -1e9


def kueue_queue(cluster: dict) -> str | None:
    name = cluster["spec"].get("queueName")
    return name if name and kueue_installed() else None


@kopf.daemon(GROUP, VERSION, "computeclusters", cancellation_timeout=10.0)
def cluster_loop(namespace: str, name: str, stopped, **_) -> None:
    memory = reconcile_cluster.Memory()
    due, last, poked = time.monotonic(), None, True
    while not stopped:
        if poked or time.monotonic() >= due:
            last = time.monotonic()
            try:
                delay = reconcile_cluster.reconcile(namespace, name, memory, kueue_queue=kueue_queue).delay
            except Exception:  # the cluster could not even be read: nothing to write, retry soon
                log.exception("ComputeCluster %s/%s: pass failed", namespace, name)
                delay = reconcile_cluster.ERROR_RETRY
            if delay is None:  # gone, or being deleted: the delete handler takes over
                return
            due = last + delay
        poked = wake.wait(namespace, name, max(0.0, min(due - time.monotonic(), 1.0)), min_gap=MIN_GAP, since=last)


# The pokes are async: they only set a flag, so they never wait behind kopf's thread pool.
@kopf.on.update(GROUP, VERSION, "computeclusters", field="spec")
async def cluster_changed(namespace: str, name: str, **_) -> None:
    wake.poke(namespace, name)


@kopf.on.delete(GROUP, VERSION, "computeclusters")
def cluster_deleted(namespace: str, name: str, body, **_) -> None:
    """Hold the deletion while runs still run on the cluster (its pass says so in Ready); then give
    back what the provider made."""
    result = reconcile_cluster.reconcile(namespace, name, reconcile_cluster.Memory())
    if result.blocked_by:
        raise kopf.TemporaryError(f"waiting for {len(result.blocked_by)} run(s) to end before deleting", delay=3)
    try:
        providers.for_cluster(dict(body)).release(dict(body))
    except providers.ProviderError as exc:
        raise kopf.TemporaryError(f"releasing the pool failed: {exc}", delay=5) from exc
    wake.forget(namespace, name)


# Last-seen fields of the runs, Jobs, pods and nodes (CACHES of watch events; see wake.py).
_seen_runs, _seen_children, _seen_nodes = LastSeen(), LastSeen(), LastSeen()


def _changed(seen: LastSeen, key, type: str | None, fields: tuple) -> bool:
    return seen.forget(key) if type == "DELETED" else seen.changed(key, fields)


@kopf.on.event(GROUP, VERSION, "trainingruns")
async def run_event(namespace: str, name: str, body, type, **_) -> None:
    compute = (body.get("spec") or {}).get("compute")
    if compute and _changed(_seen_runs, (namespace, name), type, wake.run_fields(body)):
        wake.poke(namespace, compute)


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_COMPUTE: kopf.PRESENT})
@kopf.on.event("", "v1", "pods", labels={LABEL_COMPUTE: kopf.PRESENT})
async def child_event(namespace: str, name: str, labels, body, type, resource, **_) -> None:
    fields = wake.pod_fields(body) if resource.plural == "pods" else wake.job_fields(body)
    if _changed(_seen_children, (resource.plural, namespace, name), type, fields):
        wake.poke(namespace, labels[LABEL_COMPUTE])


@kopf.on.event("", "v1", "nodes")
async def node_event(name: str, labels, body, type, **_) -> None:
    if _changed(_seen_nodes, name, type, wake.node_fields(body)):
        wake.poke_matching(dict(labels or {}))
