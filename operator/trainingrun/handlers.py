"""TrainingRun handlers: thin. Every event of a run, its Job or its pods leads to one idempotent
reconcile of that run (operator/trainingrun/reconcile.py `reconcile`).

A run's creation (and resume, and a change of `spec.suspend`) is reconciled in the handler, so
kopf retries it with backoff and `kubectl describe` shows a failure. The many events of its Job
and pods only add the run to a work queue (operator/core/workqueue.py): a burst of them makes one
reconcile, and kopf's executor is never held up by API calls.

Where a queued run's Job is created: the run's ComputeCluster pass (operator/computecluster/
reconcile.py) records its decision in the run's `status.admission`. That write is an event of the
run; `admission_changed` below adds the run to the work queue, and the reconcile it runs creates
the Job of a run it reads as admitted. A restarted operator reads the same decision.
"""

from __future__ import annotations

import json

import kopf

from trainyard.api import trainingrun as tr
from trainyard.api.constants import GROUP, LABEL_RUN, VERSION
from trainyard.operator.core.context import config, post_event, retrying, store
from trainyard.operator.core.seen import LastSeen
from trainyard.operator.core.workqueue import WorkQueue
from trainyard.operator.trainingrun import reconcile as reconcile_run

CHILD_WORKERS = 8


def _reconcile_now(namespace: str, name: str) -> None:
    reconcile_run.reconcile(namespace, name, config(), store(), post_event)


RUNS = WorkQueue(lambda key: _reconcile_now(*key), workers=CHILD_WORKERS, name="trainingrun")


def _reconcile(namespace: str, name: str) -> None:
    retrying("TrainingRun", namespace, name, lambda: _reconcile_now(namespace, name))


@kopf.on.resume(GROUP, VERSION, "trainingruns")
@kopf.on.create(GROUP, VERSION, "trainingruns")
@kopf.on.update(GROUP, VERSION, "trainingruns", field="spec.suspend")
def run_changed(namespace: str, name: str, **_) -> None:
    _reconcile(namespace, name)


def _not_terminal(status, **_) -> bool:
    return not tr.is_terminal((status or {}).get("conditions"))


@kopf.timer(GROUP, VERSION, "trainingruns", interval=30, initial_delay=30, when=_not_terminal)
def run_safety_net(namespace: str, name: str, **_) -> None:
    """Events can be missed across API disconnects; a slow timer makes every live run converge."""
    _reconcile(namespace, name)


def admission_fields(body) -> str:
    """What of a run's own event its reconcile needs to see: its ComputeCluster's decision (not
    the live metrics its pod patches every 2 s, nor the status the reconcile itself wrote)."""
    return json.dumps(((body.get("status") or {}).get(tr.ADMISSION) or {}), sort_keys=True)


_seen = LastSeen()  # CACHE of the last status.admission seen per run (watch events)


@kopf.on.event(GROUP, VERSION, "trainingruns")
async def admission_changed(namespace: str, name: str, body, type, **_) -> None:
    if type == "DELETED":
        _seen.forget((namespace, name))
        return
    changed = _seen.changed((namespace, name), admission_fields(body))
    # The first sight of a run (the initial listing, its creation) is reconciled by run_changed.
    if changed and type == "MODIFIED":
        RUNS.add((namespace, name))


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_RUN: kopf.PRESENT})
@kopf.on.event("", "v1", "pods", labels={LABEL_RUN: kopf.PRESENT})
async def child_changed(namespace: str, labels: dict, type: str, **_) -> None:
    if type is None:  # the initial listing; the runs' own resume handlers cover it
        return
    RUNS.add((namespace, labels[LABEL_RUN]))
