"""TrainingRun handlers: thin. Every event of a run, its Job or its pods leads to one
idempotent reconcile of that run (operator/reconcile_run.py)."""

from __future__ import annotations

import functools

import kopf

from trainyard.api import trainingrun as tr
from trainyard.api.constants import GROUP, LABEL_RUN, VERSION
from trainyard.operator import admission, reconcile_run
from trainyard.operator.config import OperatorConfig


@functools.lru_cache(maxsize=1)
def _config() -> OperatorConfig:
    return OperatorConfig.from_env()


@functools.lru_cache(maxsize=1)
def _store():
    """The operator's own object-store client (reads manifests and metrics), or None."""
    cfg = _config()
    if not cfg.s3_endpoint:
        return None
    from trainyard.storage.config import StoreConfig

    return StoreConfig.from_env().client()


def _post(body: dict, type: str, reason: str, message: str) -> None:
    kopf.event(body, type=type, reason=reason, message=message)


def _reconcile(namespace: str, name: str) -> None:
    try:
        reconcile_run.reconcile(namespace, name, _config(), _store(), _post, gate=admission.ticket_for)
    except kopf.PermanentError:
        raise
    except Exception as exc:  # the API or the store hiccuped: retry with backoff, visibly
        raise kopf.TemporaryError(f"reconcile of TrainingRun {namespace}/{name} failed: {exc}", delay=2) from exc


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


@kopf.on.event("batch", "v1", "jobs", labels={LABEL_RUN: kopf.PRESENT})
@kopf.on.event("", "v1", "pods", labels={LABEL_RUN: kopf.PRESENT})
def child_changed(namespace: str, labels: dict, type: str, **_) -> None:
    if type is None:  # the initial listing; the runs' own resume handlers cover it
        return
    _reconcile(namespace, labels[LABEL_RUN])
