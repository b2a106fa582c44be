"""ComputeCluster handlers: thin.

- one daemon per cluster runs its reconcile passes (operator/computecluster/reconcile.py) one after the
  other: on every poke, at least MIN_GAP apart (a burst of events makes one pass), and on the timer
  the pass itself asks for (short while nodes or pods settle, an idle timer otherwise);
- events that can change a decision poke the cluster: its runs, their Jobs and pods, its nodes;
- deletion is held by kopf's finalizer while runs still hold nodes of the cluster, with the reason
  in the Ready condition; queued runs that never started then fail with ComputeClusterNotFound.
"""

from __future__ import annotations

import logging
import threading
import time

import kopf
from kubernetes.client.rest import ApiException

from trainyard.api import computecluster as cc
from trainyard.api import conditions as cond
from trainyard.api.constants import COMPUTE_CLUSTER, GROUP, LABEL_COMPUTE, LABEL_RUN, VERSION
from trainyard.operator.computecluster import admission, providers
from trainyard.operator.computecluster import reconcile as reconcile_cluster
from trainyard.operator.core import kube
from trainyard.operator.core.context import config, post_event, store

log = logging.getLogger("trainyard.cluster")
MIN_GAP = 0.2  # seconds between two passes of one cluster
ERROR_RETRY = 2.0
KUEUE_GROUP = "kueue.x-k8s.io"
KUEUE_CHECK_SECONDS = 60.0
_kueue = {"at": -1e9, "present": False}
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


def _surface(namespace: str, name: str, exc: Exception) -> None:
    """An unexpected failure of a pass shows in the cluster's Ready condition, not only in logs."""
    try:
        obj = kube.get_custom(COMPUTE_CLUSTER, namespace, name)
        if obj is None:
            return
        conds = cond.set_condition(
            (obj.get("status") or {}).get("conditions"),
            cond.condition(
                cc.READY,
                cond.FALSE,
                cc.REASON_RECONCILE_ERROR,
                f"reconcile failed (retrying): {exc}"[:1000],
                generation=obj["metadata"].get("generation"),
            ),
        )
        kube.patch_custom_status(COMPUTE_CLUSTER, namespace, name, {"conditions": conds})
    except Exception:
        log.exception("could not record the error of ComputeCluster %s/%s", namespace, name)


@kopf.daemon(GROUP, VERSION, "computeclusters", cancellation_timeout=10.0)
def cluster_loop(namespace: str, name: str, stopped, **_) -> None:
    memory = reconcile_cluster.Memory()
    due, last, poked = time.monotonic(), None, True
    try:
        while not stopped:
            if poked or time.monotonic() >= due:
                last = time.monotonic()
                try:
                    delay = reconcile_cluster.reconcile(
                        namespace, name, config(), store(), post_event, memory, kueue_queue=kueue_queue
                    )
                except Exception as exc:  # the API hiccuped: retry soon, visibly
                    log.exception("ComputeCluster %s/%s: pass failed", namespace, name)
                    _surface(namespace, name, exc)
                    delay = ERROR_RETRY
                if delay is None:  # gone, or being deleted: the delete handler takes over
                    return
                due = last + delay
            poked = admission.wait(
                namespace, name, max(0.0, min(due - time.monotonic(), 1.0)), min_gap=MIN_GAP, since=last
            )
    finally:  # runs read the cluster from the API again, not a copy nobody refreshes
        admission.drop_cluster(namespace, name)


# The pokes are async: they only set a flag, so they never wait behind kopf's thread pool.
@kopf.on.update(GROUP, VERSION, "computeclusters", field="spec")
async def cluster_changed(namespace: str, name: str, **_) -> None:
    admission.poke(namespace, name)


@kopf.on.delete(GROUP, VERSION, "computeclusters")
def cluster_deleted(namespace: str, name: str, body, **_) -> None:
    """Hold the deletion while runs still run on the cluster; then give back what the provider made."""
    snap = reconcile_cluster.snapshot(namespace, name)
    if snap is None:
        return
    running = [r.name for r in reconcile_cluster.run_views(snap) if r.state != reconcile_cluster.QUEUED]
    if running:
        reconcile_cluster.write_blocked(snap, running)
        raise kopf.TemporaryError(f"waiting for {len(running)} run(s) to end before deleting", delay=3)
    try:
        providers.for_cluster(dict(body)).release(dict(body))
    except providers.ProviderError as exc:
        raise kopf.TemporaryError(f"releasing the pool failed: {exc}", delay=5) from exc
    admission.forget(namespace, name)


@kopf.on.event(GROUP, VERSION, "trainingruns")
async def run_event(namespace: str, spec, **_) -> None:
    if spec and spec.get("compute"):
        admission.poke(namespace, spec["compute"])


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_COMPUTE: kopf.PRESENT})
@kopf.on.event("", "v1", "pods", labels={LABEL_COMPUTE: kopf.PRESENT})
async def child_event(namespace: str, labels, status, resource, **_) -> None:
    if resource.plural == "pods" and (status or {}).get("phase") in ("Succeeded", "Failed") and labels.get(LABEL_RUN):
        admission.pod_ended(namespace, labels[LABEL_COMPUTE], labels[LABEL_RUN])
    admission.poke(namespace, labels[LABEL_COMPUTE])


@kopf.on.event("", "v1", "nodes")
async def node_event(labels, **_) -> None:
    admission.poke_matching(dict(labels or {}))
