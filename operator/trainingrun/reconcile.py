"""One reconcile of a TrainingRun: observe, create what is missing, compute status, write it once.

This is where a TrainingRun becomes a Job: once its ComputeCluster's pass has recorded
`status.admission.admitted` on the run, `reconcile` creates the Job (suspended in a Kueue
LocalQueue when the admission names one). Idempotent: running it twice, or after an operator
restart, creates nothing twice (children have deterministic names and creation treats "already
exists" as success); the decision it acts on is read from the object, never from process memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from trainyard.api import conditions as cond
from trainyard.api import trainingrun as tr
from trainyard.api.constants import COMPUTE_CLUSTER, LABEL_RUN, TRAINING_RUN
from trainyard.operator.core import artifacts, kube, names
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.trainingrun import identity
from trainyard.operator.trainingrun import pods as pod_state
from trainyard.operator.trainingrun.job import build_job, unknown_input_refs
from trainyard.operator.trainingrun.status import Observed, admission_of, derive, transition

log = logging.getLogger("trainyard.run")

# Status keys the run's own pod writes (live metrics); the operator only fills them at the end.
POD_OWNED = ("metrics", "primaryMetric", tr.STAGE)
# Status keys the ComputeCluster's pass writes (its queue decision); this reconcile only reads them.
CLUSTER_OWNED = (tr.ADMISSION,)

EventSink = Callable[[dict, str, str, str], None]  # (body, type, reason, message)


def status_patch(old: dict, new: dict) -> dict:
    """Only the keys that changed; `None` removes a key — never one the run's pod or its cluster
    writes (one writer per field: a merge patch of an object or list replaces it whole)."""
    patch = kube.merge_patch(old, new, keep=POD_OWNED + CLUSTER_OWNED)
    return {k: v for k, v in patch.items() if k not in CLUSTER_OWNED}


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
    outputs = artifacts.read_outputs(store, cfg.s3_bucket, run)
    metrics = artifacts.read_metrics(store, cfg.s3_bucket, run)
    return (outputs if outputs is not None else []), metrics


def _pods_of(job: dict, pods: list[dict]) -> list[dict]:
    """The pods of this Job only: an earlier run of the same name may leave pods with the same labels."""
    uid = job["metadata"].get("uid")
    return [p for p in pods if any(ref.get("uid") == uid for ref in p["metadata"].get("ownerReferences") or ())]


def _ours(job: dict | None, run: dict) -> tuple[dict | None, bool]:
    """(the Job if this run owns it, whether a Job of another run holds its name). A run deleted and
    re-created under the same name finds the old run's Job until the garbage collector removes it
    (deletion cascades in the background): that Job is never adopted — it is deleted now, and the
    run is reconciled again by the events of that deletion."""
    if job is None:
        return None, False
    uid = run["metadata"]["uid"]
    if any(ref.get("uid") == uid for ref in job["metadata"].get("ownerReferences") or ()):
        return job, False
    kube.delete_job(job["metadata"]["namespace"], job["metadata"]["name"])
    return None, True


def reconcile(
    namespace: str,
    name: str,
    cfg: OperatorConfig,
    store,
    post_event: EventSink,
    *,
    now: Callable[[], str] = cond.now_rfc3339,
) -> dict | None:
    """Returns the status written (or the unchanged one); None if the run is gone.

    Callers (operator/trainingrun/handlers.py), all through `kube.lock_for` one at a time per run:
    - `run_changed`: the run created, resumed at operator start, or its spec.suspend changed;
    - `run_safety_net`: a 30 s timer on every live run (events can be missed);
    - the work queue RUNS: events of the run's Job and pods, and of the run itself when its
      ComputeCluster's pass changed its status.admission — which is how a queued run that was
      admitted gets its Job here.
    """
    with kube.lock_for(namespace, name):
        run = kube.get_custom(TRAINING_RUN, namespace, name)
        if run is None or run["metadata"].get("deletionTimestamp"):
            return None
        old = dict(run.get("status") or {})
        job_name = names.job_name(name)
        if tr.is_terminal(old.get("conditions")) and old.get("outputs") is not None:
            return old
        job, stale = _ours(kube.get_job(namespace, job_name), run)
        created, cluster, missing = False, None, None
        live = not run["spec"].get("suspend") and not tr.is_terminal(old.get("conditions"))
        waiting = job is None and live
        if waiting and not stale and not old.get("jobName"):  # a Job once made and now gone is lost
            compute = run["spec"]["compute"]
            cluster = kube.get_custom(COMPUTE_CLUSTER, namespace, compute)
            decision = admission_of(run)
            if cluster is not None and decision.get("admitted"):
                missing = _missing_code(run)
                if missing is None and not unknown_input_refs(run["spec"]):
                    identity.ensure(run, cfg, starting=True)
                    made = kube.create_job(build_job(run, cluster, cfg, kueue_queue=decision.get("kueueQueue")))
                    job, stale = _ours(made, run)  # "already exists" reads back an old run's Job
                    created = job is not None
        pods = _pods_of(job, kube.list_pods(namespace, f"{LABEL_RUN}={name}")) if job and not created else []
        if job is not None and not created and live and pod_state.needs_code(pods):
            missing = _missing_code(run)  # deleted after the Job was made: the pod would wait on its mount
        outputs, metrics = _final_artifacts(run, job, pods, cfg, store)
        obs = Observed(
            cluster_found=cluster is not None or not waiting or stale or bool(old.get("jobName")),
            job=job,
            pods=tuple(pods),
            outputs=outputs,
            artifacts_uri=artifacts.artifacts_uri(cfg.s3_bucket, run) if outputs is not None else None,
            missing_config_map=missing,
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
        elif job is None and cluster is not None:
            _prepare(run, cfg)
        return new


def _missing_code(run: dict) -> str | None:
    """The name of the run's code ConfigMap if it does not exist (kubelet would only retry the
    mount, and the pod would wait in Pending for good)."""
    source = (run["spec"].get("source") or {}).get("configMap") or {}
    name = source.get("name")
    if name and not kube.config_map_exists(run["metadata"]["namespace"], name):
        return name
    return None


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
