"""One reconcile of a TrainingRun: observe, create what is missing, compute status, write it once.

Called by the handlers on every event of the run, its Job or its pods. Idempotent: running it
twice, or after an operator restart, creates nothing twice (children have deterministic names and
creation treats "already exists" as success).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from trainyard.api import conditions as cond
from trainyard.api import trainingrun as tr
from trainyard.api.constants import COMPUTE_CLUSTER, LABEL_RUN, TRAINING_RUN
from trainyard.operator.computecluster import admission
from trainyard.operator.computecluster.admission import Ticket
from trainyard.operator.core import artifacts, kube, names
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.trainingrun import identity
from trainyard.operator.trainingrun.job import build_job
from trainyard.operator.trainingrun.status import Observed, derive, transition

log = logging.getLogger("trainyard.run")

# Status keys the run's own pod writes (live metrics); the operator only fills them at the end.
POD_OWNED = ("metrics", "primaryMetric")

EventSink = Callable[[dict, str, str, str], None]  # (body, type, reason, message)
# Asked before a run's Job is created: may it start now (else its queue position)? See admission.py.
Gate = Callable[[dict, dict], "Ticket"]


def status_patch(old: dict, new: dict) -> dict:
    """Only the keys that changed; `None` removes a key — never one the run's pod writes."""
    return kube.merge_patch(old, new, keep=POD_OWNED)


def _final_artifacts(
    run: dict, job: dict | None, pods: list[dict], cfg: OperatorConfig, store
) -> tuple[list | None, dict]:
    """Outputs manifest and final metrics once the script has ended for good (None before):
    the Job ended, or its pod succeeded (the Job controller may not have noticed yet)."""
    ended = any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in ((job or {}).get("status") or {}).get("conditions") or ()
    )
    ended = ended or any((p.get("status") or {}).get("phase") == "Succeeded" for p in pods)
    if not ended or store is None:
        return None, {}
    ns, name = run["metadata"]["namespace"], run["metadata"]["name"]
    outputs = artifacts.read_outputs(store, cfg.s3_bucket, ns, name)
    metrics = artifacts.read_metrics(store, cfg.s3_bucket, ns, name)
    return (outputs if outputs is not None else []), metrics


def reconcile(
    namespace: str,
    name: str,
    cfg: OperatorConfig,
    store,
    post_event: EventSink,
    *,
    now: Callable[[], str] = cond.now_rfc3339,
    gate: Gate | None = None,
) -> dict | None:
    """Returns the status written (or the unchanged one); None if the run is gone."""
    with kube.lock_for(namespace, name):
        run = kube.get_custom(TRAINING_RUN, namespace, name)
        if run is None or run["metadata"].get("deletionTimestamp"):
            return None
        old = dict(run.get("status") or {})
        job_name = names.job_name(name)
        if tr.is_terminal(old.get("conditions")) and old.get("outputs") is not None:
            return old
        compute = run["spec"]["compute"]
        cluster = admission.known_cluster(namespace, compute) or kube.get_custom(COMPUTE_CLUSTER, namespace, compute)
        job = kube.get_job(namespace, job_name)
        created = False
        ticket = None
        if (
            job is None
            and cluster is not None
            and not run["spec"].get("suspend")
            and not tr.is_terminal(old.get("conditions"))
        ):
            ticket = gate(run, cluster) if gate else None
            if ticket is None or ticket.admitted:
                identity.ensure(run, cfg, starting=True)
                job = kube.create_job(build_job(run, cluster, cfg, kueue_queue=ticket and ticket.kueue_queue))
                created = True
        pods = kube.list_pods(namespace, f"{LABEL_RUN}={name}") if job and not created else []
        outputs, metrics = _final_artifacts(run, job, pods, cfg, store)
        obs = Observed(
            cluster_found=cluster is not None,
            job=job,
            pods=tuple(pods),
            outputs=outputs,
            artifacts_uri=artifacts.artifacts_uri(cfg.s3_bucket, namespace, name) if outputs is not None else None,
            queue_position=ticket.position if ticket and job is None else None,
            queue_message=ticket.message if ticket and job is None else "",
        )
        new = derive(run, obs, now=now())
        if metrics and not old.get("metrics"):
            new["metrics"] = metrics
        patch = status_patch(old, new)
        if patch:
            kube.patch_custom_status(TRAINING_RUN, namespace, name, patch)
            moved = transition(old, new)
            if moved:
                phase, reason, message, warning = moved
                post_event(run, "Warning" if warning else "Normal", reason, f"{phase}: {message}"[:1000])
        if job is not None and _must_stop(new, job):
            kube.delete_job(namespace, job_name)
        if tr.is_terminal(new.get("conditions")):
            identity.forget(run)
        elif ticket is not None and not ticket.admitted:
            _prepare(run, cfg)
        return new


def _prepare(run: dict, cfg: OperatorConfig) -> None:
    """A queued run gets its identity now, so that its start is only its Job. Best effort: the
    start makes whatever is missing."""
    try:
        identity.ensure(run, cfg, starting=False)
    except Exception as exc:
        log.warning(
            "could not prepare the identity of queued run %s/%s (its start will): %s",
            run["metadata"]["namespace"],
            run["metadata"]["name"],
            exc,
        )


def _must_stop(status: dict, job: dict) -> bool:
    """A canceled run, or one failed while its pod still exists (an image that cannot be pulled),
    has its Job deleted so nothing keeps running. A finished Job is kept for `kubectl logs`."""
    if not tr.is_terminal(status.get("conditions")):
        return False
    phase = tr.phase_of(status["conditions"])
    active = ((job.get("status") or {}).get("active") or 0) > 0
    # A Completed run's Job may still count its pod active for a moment: never delete it then.
    return phase == tr.PHASE_CANCELED or (phase == tr.PHASE_FAILED and active)
