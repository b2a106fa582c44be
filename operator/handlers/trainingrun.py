"""TrainingRun handlers: thin — read the run, compute its new status, write it once."""

from __future__ import annotations

import kopf

from trainyard.api import conditions as cond
from trainyard.api import trainingrun as tr
from trainyard.api.constants import GROUP, VERSION


def accepted_status(body: dict) -> dict:
    """The status the operator writes when it first sees a run (pure)."""
    status = body.get("status") or {}
    generation = body["metadata"].get("generation")
    new = cond.set_condition(status.get("conditions"), cond.condition(
        tr.ACCEPTED, cond.TRUE, tr.REASON_ACCEPTED, "the operator has seen this run", generation=generation))
    return {"conditions": new, "observedGeneration": generation}


@kopf.on.resume(GROUP, VERSION, "trainingruns")
@kopf.on.create(GROUP, VERSION, "trainingruns")
def accept(body: kopf.Body, patch: kopf.Patch, **_) -> None:
    status = dict(body.get("status") or {})
    new = accepted_status(dict(body))
    if not cond.same_ignoring_time(status.get("conditions"), new["conditions"]) or \
            status.get("observedGeneration") != new["observedGeneration"]:
        patch.status.update(new)
