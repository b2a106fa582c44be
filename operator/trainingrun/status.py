"""A TrainingRun's status, computed from what exists (its Job, its pods, its outputs manifest) and
from the decision its ComputeCluster recorded on it (`status.admission`).

`derive()` is pure: it takes the run and the observed children and returns the new status; the
handler writes it once if it differs. The phase is derived from the conditions. `status.admission`
is read here, never written: the cluster's pass is its only writer (computecluster/admission.py).
"""

from __future__ import annotations

import dataclasses

from trainyard.api import conditions as cond
from trainyard.api import trainingrun as tr
from trainyard.operator.trainingrun import pods as pod_state
from trainyard.operator.trainingrun.job import unknown_input_refs
from trainyard.operator.trainingrun.pods import PodView

PROGRESS = (tr.QUEUED, tr.PREPARING, tr.RUNNING, tr.FINALIZING)


@dataclasses.dataclass(frozen=True)
class Observed:
    """Everything `derive` looks at besides the run itself."""

    cluster_found: bool = True
    job: dict | None = None
    pods: tuple[dict, ...] = ()
    outputs: list[dict] | None = None  # the runner's manifest, once the job has ended
    artifacts_uri: str | None = None
    missing_config_map: str | None = None  # spec.source.configMap, when the reconcile found it absent


@dataclasses.dataclass(frozen=True)
class Outcome:
    condition: str  # which condition is True now
    reason: str
    message: str = ""
    warning: bool = False

    @property
    def terminal(self) -> bool:
        return self.condition in tr.TERMINAL


def _job_condition(job: dict | None, ctype: str) -> dict | None:
    for c in ((job or {}).get("status") or {}).get("conditions") or ():
        if c.get("type") == ctype and c.get("status") == "True":
            return c
    return None


def explain_failure(last: PodView | None) -> Outcome:
    """Why the last attempt failed, from its containers' termination states."""
    if last is None:
        return Outcome(tr.FAILED, tr.REASON_SCRIPT_FAILED, "the run's pod failed before it started", True)
    staged = last.stage_terminated
    if staged and staged.get("exitCode", 0) != 0:
        msg = pod_state.termination_message(staged)
        which = f"input {msg['input']!r}: " if msg.get("input") else ""
        text = msg.get("message") or "\n".join(msg.get("lastLogLines") or []) or f"exit code {staged.get('exitCode')}"
        return Outcome(tr.FAILED, tr.REASON_DATA_STAGING_FAILED, f"staging failed: {which}{text}", True)
    ran = last.run_terminated
    if ran:
        if ran.get("reason") == "OOMKilled":
            return Outcome(
                tr.FAILED,
                tr.REASON_OOM_KILLED,
                "the script ran out of memory (OOMKilled); raise spec.resources.memory",
                True,
            )
        msg = pod_state.termination_message(ran)
        if msg.get("reason") == tr.REASON_OUTPUT_UPLOAD_FAILED:
            return Outcome(
                tr.FAILED, tr.REASON_OUTPUT_UPLOAD_FAILED, msg.get("message", "uploading outputs failed"), True
            )
        code = msg.get("exitCode", ran.get("exitCode"))
        tail = msg.get("lastLogLines") or []
        text = f"the script exited with code {code}"
        if code == 143:
            text += " (SIGTERM: its pod was stopped from outside — deleted, evicted or its node drained)"
        if tail:
            text += "; last log lines:\n" + "\n".join(str(line) for line in tail[-20:])
        return Outcome(tr.FAILED, tr.REASON_SCRIPT_FAILED, text, True)
    waiting = last.waiting_reason()
    if waiting and waiting[0] in pod_state.IMAGE_PULL_FAILURES:
        return Outcome(tr.FAILED, tr.REASON_IMAGE_PULL_FAILED, f"{waiting[0]}: {waiting[1]}".strip(": "), True)
    return Outcome(tr.FAILED, tr.REASON_SCRIPT_FAILED, f"the run's pod {last.name} failed ({last.phase})", True)


def _pod_deleted(run: dict, obs: Observed, last: PodView | None) -> Outcome:
    made, _ = pod_state.job_counts(obs.job)
    which = f"pod {last.name}" if last is not None and last.removed else "pod"
    return Outcome(
        tr.FAILED,
        tr.REASON_POD_DELETED,
        f"the run's {which} was deleted before the script ended (attempt {max(made, 1)} of "
        f"{pod_state.max_attempts(run)}, spec.maxRetries={pod_state.max_attempts(run) - 1}); the script did not fail: "
        "submit the run again, or raise spec.maxRetries to survive a deleted pod",
        True,
    )


def _previous_cause(run: dict, tries: list[PodView]) -> str:
    ended = [p for p in tries if p.removed or p.disrupted or p.phase == "Failed"]
    if not ended:
        return "previous pod deleted" if pod_state.pods_deleted(run, tries) else "previous attempt ended"
    prev = ended[-1]
    if prev.disrupted:
        return "previous pod preempted, evicted or lost with its node"
    return "previous pod deleted" if prev.removed else "previous attempt failed"


def _retrying(run: dict, obs: Observed, tries: list[PodView], detail: str = "") -> Outcome:
    _, ended = pod_state.job_counts(obs.job)
    # A preempted pod is not counted as failed by the Job: count the attempts the pods show.
    n = max(ended, sum(1 for p in tries if p.removed or p.disrupted or p.phase == "Failed")) + 1
    text = f"retrying (attempt {n} of {pod_state.max_attempts(run)}): {_previous_cause(run, tries)}"
    return Outcome(tr.PREPARING, tr.REASON_RETRYING, text + (f"; {detail}" if detail else ""))


def installing(run: dict, last: PodView) -> bool:
    """Whether this pod said (status.stage) that it is installing environment.pip, not running the
    script yet. A stage of an older pod says nothing about this one."""
    stage = (run.get("status") or {}).get(tr.STAGE) or {}
    return stage.get("pod") == last.name and stage.get("step") == tr.STAGE_ENVIRONMENT


def _started(run: dict) -> bool:
    """Whether the run ever got past Queued: from then on its phase never goes back to Queued."""
    conds = (run.get("status") or {}).get("conditions")
    return any(cond.find(conds, c) is not None for c in (tr.PREPARING, tr.RUNNING, tr.FINALIZING))


def admission_of(run: dict) -> dict:
    """The ComputeCluster's decision recorded on the run ({} before its first pass decided)."""
    return (run.get("status") or {}).get(tr.ADMISSION) or {}


def _suspended(job: dict | None) -> bool:
    return bool(((job or {}).get("spec") or {}).get("suspend")) or _job_condition(job, "Suspended") is not None


def admitted_condition(run: dict, obs: Observed) -> tuple[str, str, str]:
    """(status, reason, message) of the Admitted condition: whether the run may run now."""
    rec, compute = admission_of(run), run["spec"]["compute"]
    queue = rec.get("kueueQueue")
    if obs.job is not None and _suspended(obs.job):
        return cond.FALSE, tr.REASON_WAITING_FOR_CAPACITY, f"waiting for Kueue LocalQueue {queue or '?'!r} to admit it"
    if obs.job is not None:
        return (
            cond.TRUE,
            tr.REASON_ADMITTED,
            (f"admitted by Kueue LocalQueue {queue!r}" if queue else rec.get("message") or "the run's Job exists"),
        )
    if rec.get("admitted"):
        return cond.TRUE, tr.REASON_ADMITTED, rec.get("message") or f"admitted by ComputeCluster {compute!r}"
    if rec:
        return cond.FALSE, rec.get("reason") or tr.REASON_WAITING_FOR_CAPACITY, rec.get("message") or ""
    return cond.FALSE, tr.REASON_PENDING_ADMISSION, f"waiting for ComputeCluster {compute!r} to decide"


def outcome(run: dict, obs: Observed) -> Outcome:
    """Which condition is True now, and why."""
    spec = run["spec"]
    if spec.get("suspend"):
        return Outcome(tr.CANCELED, tr.REASON_CANCELED, "canceled: spec.suspend is true")
    had_job = (run.get("status") or {}).get("jobName")
    if had_job and obs.job is None:
        return Outcome(
            tr.FAILED,
            tr.REASON_JOB_LOST,
            f"the run's Job {had_job!r} was deleted before the run ended; trainyard does not create it "
            "again (the script may have run in part): submit the run again",
            True,
        )
    unknown = unknown_input_refs(spec)
    if unknown:
        names = sorted(i["name"] for i in spec.get("inputs") or ())
        return Outcome(
            tr.FAILED,
            tr.REASON_UNKNOWN_INPUT,
            f"spec.args uses {', '.join(unknown)}, which names no input (inputs: {', '.join(names) or 'none'}); "
            "add the input to spec.inputs or fix the name (input mnist is $(TRAINYARD_INPUT_MNIST)); "
            "write $$(...) for a literal $(...), then submit the run again",
            True,
        )
    if obs.missing_config_map:
        return Outcome(
            tr.FAILED,
            tr.REASON_CODE_NOT_FOUND,
            f"spec.source.configMap names ConfigMap {obs.missing_config_map!r}, which does not exist in "
            f"namespace {run['metadata']['namespace']!r}: create it (kubectl create configmap "
            f"{obs.missing_config_map} --from-file=DIR -n {run['metadata']['namespace']}) and submit the run again",
            True,
        )
    mounted = [i["name"] for i in spec.get("inputs") or [] if i.get("mode") == "mount"]
    if mounted and obs.job is None:
        return Outcome(
            tr.FAILED,
            tr.REASON_INVALID,
            f"input(s) {', '.join(mounted)} ask for mode: mount, which trainyard does not support yet; "
            "use mode: download",
            True,
        )
    if not obs.cluster_found and obs.job is None:
        return Outcome(
            tr.FAILED,
            tr.REASON_COMPUTE_NOT_FOUND,
            f"ComputeCluster {spec['compute']!r} does not exist in namespace "
            f"{run['metadata']['namespace']!r}; create it (kubectl get cc) and submit the run again",
            True,
        )
    rec = admission_of(run)
    if obs.job is None:
        if rec.get("admitted"):
            return Outcome(tr.QUEUED, tr.REASON_ACCEPTED, "admitted; creating the run's Job")
        if rec.get("position") is not None:
            return Outcome(
                tr.QUEUED,
                rec.get("reason") or tr.REASON_WAITING_FOR_CAPACITY,
                rec.get("message") or f"position {rec['position']} in the queue",
            )
        return Outcome(
            tr.QUEUED,
            tr.REASON_ACCEPTED,
            f"waiting for ComputeCluster {spec['compute']!r} to place this run in its queue",
        )
    tries = pod_state.attempts(list(obs.pods))
    last = tries[-1] if tries else None
    failed = _job_condition(obs.job, "Failed")
    if failed:
        if failed.get("reason") == "DeadlineExceeded":
            return Outcome(
                tr.FAILED,
                tr.REASON_DEADLINE_EXCEEDED,
                f"the run exceeded spec.timeoutSeconds={spec.get('timeoutSeconds')}",
                True,
            )
        if last is not None and last.removed:
            return _pod_deleted(run, obs, last)
        finished = [p for p in tries if p.phase == "Failed" and not p.disrupted and not p.removed]
        if finished:
            return explain_failure(finished[-1])
        # No attempt left to read: a pod seen deleted vanishes, the Job's counters keep it.
        if pod_state.pods_deleted(run, tries):
            return _pod_deleted(run, obs, last)
        return explain_failure(last)
    # A pod that succeeded ends the run: the Job controller's own Complete follows, later.
    succeeded = any(p.phase == "Succeeded" and not p.deleted for p in tries)
    if _job_condition(obs.job, "Complete") or succeeded:
        if obs.outputs is None:
            return Outcome(tr.FINALIZING, tr.REASON_COLLECTING_OUTPUTS, "recording outputs")
        return Outcome(tr.SUCCEEDED, tr.REASON_COMPLETED, f"completed; {len(obs.outputs)} output file(s)")
    if _job_condition(obs.job, "Suspended"):
        return Outcome(tr.QUEUED, tr.REASON_WAITING_FOR_CAPACITY, "waiting for admission by the queue")
    started = _started(run)
    if last is not None and last.removed:
        made, _ = pod_state.job_counts(obs.job)
        if max(made, len(tries)) >= pod_state.max_attempts(run):
            return Outcome(
                tr.RUNNING,
                tr.REASON_POD_DELETED,
                f"the run's pod {last.name} was deleted; no attempt is left (spec.maxRetries="
                f"{pod_state.max_attempts(run) - 1}): the run is ending",
                True,
            )
        return _retrying(run, obs, tries)
    if last is None or last.deleted and len(tries) == 1:
        if started:
            return _retrying(run, obs, tries, "the Job is creating the next pod")
        return Outcome(tr.QUEUED, tr.REASON_JOB_CREATED, "the Job is creating the run's pod")
    waiting = last.waiting_reason()
    if waiting and waiting[0] in pod_state.IMAGE_PULL_FAILURES | pod_state.CONFIG_FAILURES:
        reason = tr.REASON_IMAGE_PULL_FAILED if waiting[0] in pod_state.IMAGE_PULL_FAILURES else tr.REASON_INVALID
        return Outcome(tr.FAILED, reason, f"{waiting[0]}: {waiting[1]}".strip(": "), True)
    if not last.scheduled and started:
        return _retrying(run, obs, tries, last.unschedulable_message or "waiting for a node")
    if not last.scheduled and rec.get("reason") == tr.REASON_WAITING_FOR_SCALE_UP:
        return Outcome(
            tr.QUEUED,
            tr.REASON_WAITING_FOR_SCALE_UP,
            f"admitted onto a node being added to ComputeCluster {spec['compute']!r}; waiting for it"
            + (f" ({last.unschedulable_message})" if last.unschedulable_message else ""),
        )
    if not last.scheduled:
        return Outcome(
            tr.QUEUED,
            tr.REASON_WAITING_FOR_CAPACITY,
            last.unschedulable_message or "waiting for a node of the ComputeCluster",
        )
    if last.disrupted and last.phase != "Succeeded":  # its script was killed with it: not an ending
        return Outcome(tr.PREPARING, tr.REASON_PREEMPTED, "pod preempted, evicted or lost with its node; retrying")
    if last.phase == "Succeeded" or last.run_terminated:
        return Outcome(tr.FINALIZING, tr.REASON_COLLECTING_OUTPUTS, "the script ended; recording outputs")
    if "running" in last.run and installing(run, last):
        return Outcome(
            tr.PREPARING, tr.REASON_PREPARING_ENVIRONMENT, "preparing the environment: installing environment.pip"
        )
    if "running" in last.run:
        return Outcome(tr.RUNNING, tr.REASON_SCRIPT_RUNNING, "the script is running")
    if last.phase == "Failed":
        return _retrying(run, obs, tries)
    if started and (pod_state.job_counts(obs.job)[1] or len(tries) > 1):
        return _retrying(run, obs, tries, "staging code and inputs")
    return Outcome(tr.PREPARING, tr.REASON_STAGING, "staging code and inputs")


def derive(run: dict, obs: Observed, *, now: str) -> dict:
    """The complete new status. A terminal status is final: only late outputs may be added."""
    old = dict(run.get("status") or {})
    generation = run["metadata"].get("generation")
    if tr.is_terminal(old.get("conditions")):
        new = dict(old)
        if obs.outputs is not None and not old.get("outputs"):
            new["outputs"] = obs.outputs
        if obs.artifacts_uri and not old.get("artifactsUri"):
            new["artifactsUri"] = obs.artifacts_uri
        return new
    out = outcome(run, obs)
    conds = cond.set_condition(
        old.get("conditions"),
        cond.condition(
            tr.ACCEPTED,
            cond.FALSE if out.reason == tr.REASON_COMPUTE_NOT_FOUND else cond.TRUE,
            out.reason if out.reason == tr.REASON_COMPUTE_NOT_FOUND else tr.REASON_ACCEPTED,
            out.message if out.reason == tr.REASON_COMPUTE_NOT_FOUND else "the operator has accepted this run",
            generation=generation,
            now=now,
        ),
    )
    admitted, why, says = admitted_condition(run, obs)
    conds = cond.set_condition(conds, cond.condition(tr.ADMITTED, admitted, why, says, generation=generation, now=now))
    for ctype in (*PROGRESS, *tr.TERMINAL):
        present = cond.find(conds, ctype)
        if ctype == out.condition:
            conds = cond.set_condition(
                conds, cond.condition(ctype, cond.TRUE, out.reason, out.message, generation=generation, now=now)
            )
        elif present and present["status"] == cond.TRUE:
            conds = cond.set_condition(
                conds,
                cond.condition(
                    ctype, cond.FALSE, present["reason"], present["message"], generation=generation, now=now
                ),
            )
    tries = pod_state.attempts(list(obs.pods))
    # A pod lost with its node is deleted soon after; it still counts, as an attempt and a preemption.
    visible = sum(1 for p in tries if p.disrupted)
    preempted = max(visible, old.get("preemptions") or 0)
    hidden = preempted - visible
    job_status = (obs.job or {}).get("status") or {}
    made, _ = pod_state.job_counts(obs.job)
    new = dict(old)
    new.update(
        {
            "conditions": conds,
            "phase": tr.phase_of(conds),
            "observedGeneration": generation,
            "message": out.message,
            "attempts": max(len(tries) + hidden, made, old.get("attempts") or 0),
            "preemptions": preempted,
            "podsDeleted": pod_state.pods_deleted(run, tries) or None,
        }
    )
    if obs.job is not None:
        new["jobName"] = obs.job["metadata"]["name"]
    start = old.get("startTime") or next((p.start_time for p in tries if p.start_time), None)
    if start:
        new["startTime"] = start
    if out.terminal:
        new["completionTime"] = job_status.get("completionTime") or now
    rec = admission_of(run)
    if obs.job is None and out.condition == tr.QUEUED and not rec.get("admitted") and rec.get("position") is not None:
        new["queuePosition"] = rec["position"]
    else:
        new.pop("queuePosition", None)
    if obs.outputs is not None:
        new["outputs"] = obs.outputs
    if obs.artifacts_uri:
        new["artifactsUri"] = obs.artifacts_uri
    return {k: v for k, v in new.items() if v is not None}


def transition(old_status: dict | None, new_status: dict) -> tuple[str, str, str, bool] | None:
    """(phase, reason, message, warning) when the phase changed — one Event per transition."""
    old_phase = (old_status or {}).get("phase")
    if new_status.get("phase") == old_phase:
        return None
    current = next(
        (
            c
            for c in new_status.get("conditions", [])
            if c["status"] == cond.TRUE and c["type"] not in (tr.ACCEPTED, tr.ADMITTED)
        ),
        None,
    )
    reason = current["reason"] if current else new_status.get("phase", "")
    return new_status["phase"], reason, new_status.get("message", ""), new_status["phase"] == tr.PHASE_FAILED
