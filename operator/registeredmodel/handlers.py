"""RegisteredModel handlers: thin. A change of the model, an event of its source run, or of one of
its Deployments leads to one idempotent reconcile (operator/registeredmodel/reconcile.py).

A model's creation, resume and spec change are reconciled in the handler: an unexpected failure
(an API or store hiccup) becomes a TemporaryError, which kopf retries with backoff and shows on the
object. kopf never retries `on.event` handlers, so the events of source runs and serving
Deployments only add the model to a work queue (operator/core/workqueue.py), which retries a
failed reconcile with backoff; a burst of events makes one reconcile.

Waiting (the source run does not exist yet, or is still running) is a condition, not an error:
the run's own events wake the model up through an index, and a slow timer is the safety net.
"""

from __future__ import annotations

import kopf

from trainyard.api import conditions as cond
from trainyard.api import registeredmodel as rm
from trainyard.api.constants import GROUP, LABEL_MODEL, VERSION
from trainyard.operator.core.context import config, post_event, retrying, store
from trainyard.operator.core.workqueue import WorkQueue
from trainyard.operator.registeredmodel import reconcile as reconcile_model
from trainyard.operator.registeredmodel import registry

EVENT_WORKERS = 2  # reconciles of event-woken models at once (a registration downloads a model file)


def _reconcile_now(namespace: str, name: str) -> None:
    reconcile_model.reconcile(namespace, name, config(), store(), post_event)


MODELS = WorkQueue(lambda key: _reconcile_now(*key), workers=EVENT_WORKERS, name="registeredmodel")


def _reconcile(namespace: str, name: str) -> None:
    retrying("RegisteredModel", namespace, name, lambda: _reconcile_now(namespace, name))


@kopf.on.resume(GROUP, VERSION, "registeredmodels")
@kopf.on.create(GROUP, VERSION, "registeredmodels")
@kopf.on.update(GROUP, VERSION, "registeredmodels", field="spec")
def model_changed(namespace: str, name: str, **_) -> None:
    _reconcile(namespace, name)


def _needs_attention(spec, status, **_) -> bool:
    conditions = (status or {}).get("conditions")
    return rm.is_waiting(conditions) or ("deployment" in (spec or {}) and not cond.is_true(conditions, rm.READY))


@kopf.timer(
    GROUP,
    VERSION,
    "registeredmodels",
    interval=reconcile_model.WAIT_SECONDS,
    initial_delay=reconcile_model.WAIT_SECONDS,
    when=_needs_attention,
)
def model_safety_net(namespace: str, name: str, **_) -> None:
    _reconcile(namespace, name)


@kopf.index(GROUP, VERSION, "registeredmodels")
def waiting_models_by_run(namespace: str, name: str, body, status, **_):
    """(namespace, run) -> models still waiting on that run."""
    run = registry.run_name(body)
    if run and rm.is_waiting((status or {}).get("conditions")):
        return {(namespace, run): name}
    return None


@kopf.on.event(GROUP, VERSION, "trainingruns")
async def source_run_changed(namespace: str, name: str, waiting_models_by_run: kopf.Index, **_) -> None:
    for model in set(waiting_models_by_run.get((namespace, name), ())):
        MODELS.add((namespace, model))


@kopf.on.event("apps", "v1", "deployments", labels={LABEL_MODEL: kopf.PRESENT})
async def serving_deployment_changed(namespace: str, labels: dict, type: str, **_) -> None:
    if type is None:  # the initial listing; the models' resume handlers cover it
        return
    MODELS.add((namespace, labels[LABEL_MODEL]))
