"""Reading what happened to a run's pod: pure functions over Pod dicts."""

from __future__ import annotations

import dataclasses
import json

IMAGE_PULL_FAILURES = {
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "RegistryUnavailable",
}
CONFIG_FAILURES = {"CreateContainerConfigError", "CreateContainerError"}
STAGE_CONTAINER = "stage"
RUN_CONTAINER = "run"


@dataclasses.dataclass(frozen=True)
class PodView:
    """What one attempt looks like, boiled down to what the run's status needs."""

    name: str
    phase: str  # Pending, Running, Succeeded, Failed, Unknown
    scheduled: bool
    unschedulable_message: str
    stage: dict  # the init container's state ({"running": ...} etc.), {} if none yet
    run: dict  # the main container's state
    disrupted: bool  # node lost, preempted, evicted by the API
    disruption_message: str
    start_time: str | None
    deleted: bool

    @property
    def stage_terminated(self) -> dict | None:
        return self.stage.get("terminated")

    @property
    def run_terminated(self) -> dict | None:
        return self.run.get("terminated")

    @property
    def removed(self) -> bool:
        """Deleted by someone (kubectl delete pod, a controller) before it succeeded, and not
        through a disruption the Job ignores: the attempt counts as failed, not as the script's fault."""
        return self.deleted and not self.disrupted and self.phase != "Succeeded"

    @property
    def started_script(self) -> bool:
        return "running" in self.run or "terminated" in self.run

    def waiting_reason(self) -> tuple[str, str] | None:
        for state in (self.stage, self.run):
            w = state.get("waiting")
            if w and w.get("reason"):
                return w["reason"], w.get("message", "")
        return None


def _container_state(statuses: list[dict] | None, name: str) -> dict:
    for s in statuses or ():
        if s.get("name") == name:
            return s.get("state") or {}
    return {}


def _condition(pod: dict, ctype: str) -> dict | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or () if c.get("type") == ctype), None)


def view(pod: dict) -> PodView:
    status = pod.get("status") or {}
    scheduled_cond = _condition(pod, "PodScheduled")
    disruption = _condition(pod, "DisruptionTarget")
    # Kubelet's pressure eviction of older clusters sets status.reason without DisruptionTarget.
    disrupted = bool(disruption and disruption.get("status") == "True") or status.get("reason") == "Evicted"
    return PodView(
        name=pod["metadata"]["name"],
        phase=status.get("phase", "Pending"),
        scheduled=bool(pod.get("spec", {}).get("nodeName"))
        or bool(scheduled_cond and scheduled_cond.get("status") == "True"),
        unschedulable_message=(scheduled_cond or {}).get("message", "")
        if (scheduled_cond or {}).get("status") == "False"
        else "",
        stage=_container_state(status.get("initContainerStatuses"), STAGE_CONTAINER),
        run=_container_state(status.get("containerStatuses"), RUN_CONTAINER),
        disrupted=disrupted,
        disruption_message=((disruption or {}).get("message") or status.get("message", "")) if disrupted else "",
        start_time=status.get("startTime"),
        deleted=bool(pod["metadata"].get("deletionTimestamp")),
    )


def attempts(pods: list[dict]) -> list[PodView]:
    """The run's attempts, oldest first."""
    ordered = sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))
    return [view(p) for p in ordered]


def needs_code(pods: list[dict]) -> bool:
    """Whether the run's code must still be read from its source: no attempt yet, or the newest
    one has not finished staging (a retry stages again)."""
    tries = attempts(pods)
    return not tries or not (tries[-1].stage_terminated or tries[-1].started_script)


def termination_message(terminated: dict | None) -> dict:
    """The runtime writes a JSON object to its termination log; kubelet falls back to the log tail
    (FallbackToLogsOnError) when it does not. Either way, return a dict."""
    if not terminated:
        return {}
    raw = (terminated.get("message") or "").strip()
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
        return parsed if isinstance(parsed, dict) else {"message": raw}
    except ValueError:
        return {"lastLogLines": raw.splitlines()[-20:]}


def job_counts(job: dict | None) -> tuple[int, int]:
    """(attempts the Job has made, attempts that have ended). The Job's counters keep counting a
    pod that was deleted, which the pod list no longer shows."""
    st = (job or {}).get("status") or {}
    ended = (st.get("failed") or 0) + (st.get("succeeded") or 0) + (st.get("terminating") or 0)
    return ended + (st.get("active") or 0), ended


def pods_deleted(run: dict, tries: list[PodView]) -> int:
    """How many of the run's pods were seen deleted (they vanish soon after: the count is kept)."""
    return max(sum(1 for p in tries if p.removed), (run.get("status") or {}).get("podsDeleted") or 0)


def max_attempts(run: dict) -> int:
    return int(run["spec"].get("maxRetries") or 0) + 1
