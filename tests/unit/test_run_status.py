"""Phase and conditions of a TrainingRun derived from its Job and pods — a table."""

import json

import pytest

from trainyard.api import trainingrun as tr
from trainyard.operator.trainingrun.reconcile import status_patch
from trainyard.operator.trainingrun.status import Observed, derive, outcome, transition

NOW = "2026-11-22T10:00:00Z"


def run(**spec):
    base = {"compute": "cc", "source": {"configMap": {"name": "c"}}, "entryScript": "t.py", "timeoutSeconds": 60}
    base.update(spec)
    return {"metadata": {"name": "r", "namespace": "ns", "generation": 1}, "spec": base}


def job(*conds, active=0, failed=0, succeeded=0):
    return {
        "metadata": {"name": "r"},
        "status": {
            "active": active,
            "failed": failed,
            "succeeded": succeeded,
            "startTime": "2026-11-22T09:00:00Z",
            "conditions": [{"type": t, "status": "True", "reason": r} for t, r in conds],
        },
    }


def pod(
    name="r-abc",
    phase="Pending",
    *,
    node="n1",
    stage=None,
    run_state=None,
    disrupted=False,
    unschedulable="",
    created="2026-11-22T09:00:01Z",
    deleted=False,
    reason="",
):
    conds = []
    if unschedulable:
        conds.append({"type": "PodScheduled", "status": "False", "message": unschedulable})
    if disrupted:
        conds.append({"type": "DisruptionTarget", "status": "True", "message": "node deleted"})
    status = {"phase": phase, "conditions": conds, "startTime": "2026-11-22T09:00:02Z" if node else None}
    if reason:
        status["reason"] = reason
    if stage is not None:
        status["initContainerStatuses"] = [{"name": "stage", "state": stage}]
    if run_state is not None:
        status["containerStatuses"] = [{"name": "run", "state": run_state}]
    return {
        "metadata": {"name": name, "creationTimestamp": created}
        | ({"deletionTimestamp": "2026-11-22T09:00:09Z"} if deleted else {}),
        "spec": {"nodeName": node} if node else {},
        "status": status,
    }


def term(code, reason="Error", message=""):
    return {"terminated": {"exitCode": code, "reason": reason, "message": message}}


SCRIPT_MSG = json.dumps({"reason": "ScriptFailed", "exitCode": 3, "lastLogLines": [f"line {i}" for i in range(30)]})
STAGE_MSG = json.dumps(
    {"reason": "DataStagingFailed", "input": "mnist", "message": "no objects under s3://trainyard/datasets/missing/"}
)

CASES = [
    # (id, run spec overrides, observed, condition, reason, message contains)
    ("no-cluster", {}, Observed(cluster_found=False), tr.FAILED, tr.REASON_COMPUTE_NOT_FOUND, "ComputeCluster 'cc'"),
    (
        "mount-not-supported",
        {"inputs": [{"name": "big", "uri": "s3://b/x/", "mode": "mount"}]},
        Observed(),
        tr.FAILED,
        tr.REASON_INVALID,
        "mode: mount",
    ),
    # The run's queue decision (status.admission) has its own table: test_run_admission.py.
    ("no-decision-yet", {}, Observed(), tr.QUEUED, tr.REASON_ACCEPTED, "ComputeCluster 'cc' to place this run"),
    ("job-no-pod-yet", {}, Observed(job=job()), tr.QUEUED, tr.REASON_JOB_CREATED, ""),
    (
        "unschedulable",
        {},
        Observed(job=job(), pods=(pod(node=None, unschedulable="0/2 nodes are available"),)),
        tr.QUEUED,
        tr.REASON_WAITING_FOR_CAPACITY,
        "0/2 nodes",
    ),
    (
        "staging",
        {},
        Observed(job=job(active=1), pods=(pod(stage={"running": {}}),)),
        tr.PREPARING,
        tr.REASON_STAGING,
        "",
    ),
    (
        "image-pull",
        {},
        Observed(
            job=job(active=1),
            pods=(pod(stage={"waiting": {"reason": "ErrImageNeverPull", "message": "image x not present"}}),),
        ),
        tr.FAILED,
        tr.REASON_IMAGE_PULL_FAILED,
        "image x not present",
    ),
    (
        "running",
        {},
        Observed(
            job=job(active=1), pods=(pod(phase="Running", stage=term(0, "Completed"), run_state={"running": {}}),)
        ),
        tr.RUNNING,
        tr.REASON_SCRIPT_RUNNING,
        "",
    ),
    (
        "script-ended-job-not-yet",
        {},
        Observed(job=job(active=1), pods=(pod(phase="Succeeded", run_state=term(0, "Completed")),)),
        tr.FINALIZING,
        tr.REASON_COLLECTING_OUTPUTS,
        "",
    ),
    (
        "complete-no-manifest-read-yet",
        {},
        Observed(job=job(("Complete", "")), pods=(pod(phase="Succeeded"),)),
        tr.FINALIZING,
        tr.REASON_COLLECTING_OUTPUTS,
        "",
    ),
    (
        "complete",
        {},
        Observed(
            job=job(("Complete", "")),
            pods=(pod(phase="Succeeded"),),
            outputs=[{"path": "outputs/m.pkl", "size": 1, "sha256": "x"}],
        ),
        tr.SUCCEEDED,
        tr.REASON_COMPLETED,
        "1 output file",
    ),
    (
        "script-failed",
        {},
        Observed(
            job=job(("Failed", "BackoffLimitExceeded")),
            pods=(pod(phase="Failed", run_state=term(3, message=SCRIPT_MSG)),),
        ),
        tr.FAILED,
        tr.REASON_SCRIPT_FAILED,
        "exited with code 3",
    ),
    (
        "staging-failed",
        {},
        Observed(
            job=job(("Failed", "BackoffLimitExceeded")), pods=(pod(phase="Failed", stage=term(2, message=STAGE_MSG)),)
        ),
        tr.FAILED,
        tr.REASON_DATA_STAGING_FAILED,
        "input 'mnist': no objects under",
    ),
    (
        "oom",
        {},
        Observed(
            job=job(("Failed", "BackoffLimitExceeded")), pods=(pod(phase="Failed", run_state=term(137, "OOMKilled")),)
        ),
        tr.FAILED,
        tr.REASON_OOM_KILLED,
        "spec.resources.memory",
    ),
    (
        "deadline",
        {},
        Observed(job=job(("Failed", "DeadlineExceeded")), pods=(pod(phase="Failed"),)),
        tr.FAILED,
        tr.REASON_DEADLINE_EXCEEDED,
        "timeoutSeconds=60",
    ),
    (
        "preempted-then-retrying",
        {},
        Observed(
            job=job(active=1),
            pods=(
                pod("r-1", phase="Failed", disrupted=True, run_state=term(137)),
                pod("r-2", node=None, unschedulable="0/1 nodes", created="2026-11-22T09:05:00Z"),
            ),
        ),
        tr.QUEUED,
        tr.REASON_WAITING_FOR_CAPACITY,
        "0/1 nodes",
    ),
    (
        "code-configmap-missing",
        {},
        Observed(missing_config_map="c"),
        tr.FAILED,
        tr.REASON_CODE_NOT_FOUND,
        "ConfigMap 'c', which does not exist in namespace 'ns': create it (kubectl create configmap c",
    ),
    (
        "code-configmap-deleted-under-the-job",
        {},
        Observed(
            job=job(active=1), pods=(pod(stage={"waiting": {"reason": "PodInitializing"}}),), missing_config_map="c"
        ),
        tr.FAILED,
        tr.REASON_CODE_NOT_FOUND,
        "ConfigMap 'c'",
    ),
    # A deleted pod: the kubelet SIGTERMs the script (exit 143); the Job counts it failed.
    (
        "pod-deleted-no-retries-visible",
        {},
        Observed(
            job=job(("Failed", "BackoffLimitExceeded"), failed=1),
            pods=(pod(phase="Failed", stage=term(0, "Completed"), run_state=term(143), deleted=True),),
        ),
        tr.FAILED,
        tr.REASON_POD_DELETED,
        "pod r-abc was deleted before the script ended (attempt 1 of 1, spec.maxRetries=0)",
    ),
    (
        "pod-deleted-terminating-no-retries",
        {},
        Observed(
            job=job(active=1),
            pods=(pod(phase="Running", stage=term(0, "Completed"), run_state={"running": {}}, deleted=True),),
        ),
        tr.RUNNING,
        tr.REASON_POD_DELETED,
        "no attempt is left",
    ),
    (
        "pod-deleted-with-retries-left",
        {"maxRetries": 1},
        Observed(
            job=job(failed=1),
            pods=(pod(phase="Failed", stage=term(0, "Completed"), run_state=term(143), deleted=True),),
        ),
        tr.PREPARING,
        tr.REASON_RETRYING,
        "retrying (attempt 2 of 2): previous pod deleted",
    ),
    (
        "retry-pod-staging-after-a-failed-attempt",
        {"maxRetries": 2},
        Observed(
            job=job(active=1, failed=1),
            pods=(
                pod("r-1", phase="Failed", stage=term(0, "Completed"), run_state=term(1)),
                pod("r-2", phase="Pending", stage={"running": {}}, created="2026-11-22T09:05:00Z"),
            ),
        ),
        tr.PREPARING,
        tr.REASON_STAGING,  # a run with no status yet has not started: nothing to say "retrying" about
        "staging code and inputs",
    ),
    (
        "evicted-by-kubelet",
        {},
        Observed(job=job(active=1), pods=(pod(phase="Failed", reason="Evicted", run_state=term(137)),)),
        tr.PREPARING,
        tr.REASON_PREEMPTED,
        "evicted",
    ),
    (
        "script-killed-by-sigterm-no-deletion-seen",
        {},
        Observed(
            job=job(("Failed", "BackoffLimitExceeded"), failed=1), pods=(pod(phase="Failed", run_state=term(143)),)
        ),
        tr.FAILED,
        tr.REASON_SCRIPT_FAILED,
        "code 143 (SIGTERM",
    ),
    (
        "canceled",
        {"suspend": True},
        Observed(job=job(active=1), pods=(pod(phase="Running"),)),
        tr.CANCELED,
        tr.REASON_CANCELED,
        "spec.suspend",
    ),
]


CASE = {c[0]: c[2] for c in CASES}


@pytest.mark.parametrize("spec, obs, condition, reason, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_outcome_table(spec, obs, condition, reason, message):
    got = outcome(run(**spec), obs)
    assert (got.condition, got.reason) == (condition, reason)
    assert message in got.message


def test_script_failure_message_has_exit_code_and_last_20_lines():
    got = outcome(run(), CASE["script-failed"])
    assert got.message.endswith("\n".join(f"line {i}" for i in range(10, 30)))
    assert "line 9\n" not in got.message


def test_derive_fills_status_and_phase_follows_conditions():
    obs = Observed(
        job=job(active=1), pods=(pod(phase="Running", stage=term(0, "Completed"), run_state={"running": {}}),)
    )
    st = derive(run(), obs, now=NOW)
    assert st["phase"] == tr.PHASE_RUNNING
    assert st["attempts"] == 1 and st["preemptions"] == 0 and st["jobName"] == "r"
    assert st["startTime"] == "2026-11-22T09:00:02Z" and "completionTime" not in st
    types = {c["type"]: c["status"] for c in st["conditions"]}
    assert types == {"Accepted": "True", "Admitted": "True", "Running": "True"}
    # Moving on sets the old progress condition False and the new one True.
    r = run()
    r["status"] = st
    done = derive(
        r,
        Observed(job=job(("Complete", "")), pods=obs.pods, outputs=[], artifacts_uri="s3://b/runs/ns/r/"),
        now="2026-11-22T10:05:00Z",
    )
    types = {c["type"]: c["status"] for c in done["conditions"]}
    assert types == {"Accepted": "True", "Admitted": "True", "Running": "False", "Succeeded": "True"}
    assert done["phase"] == tr.PHASE_COMPLETED and done["completionTime"] == "2026-11-22T10:05:00Z"
    assert done["artifactsUri"] == "s3://b/runs/ns/r/" and done["outputs"] == []
    assert transition(st, done) == (tr.PHASE_COMPLETED, tr.REASON_COMPLETED, done["message"], False)
    assert transition(done, done) is None


def test_terminal_status_is_final():
    r = run()
    r["status"] = derive(r, Observed(cluster_found=False), now=NOW)
    assert r["status"]["phase"] == tr.PHASE_FAILED
    again = derive(r, Observed(job=job(active=1), pods=(pod(phase="Running", run_state={"running": {}}),)), now=NOW)
    assert again == r["status"]


def test_preemptions_are_counted_and_attempts_include_them():
    obs = CASE["preempted-then-retrying"]
    st = derive(run(), obs, now=NOW)
    assert st["attempts"] == 2 and st["preemptions"] == 1


def test_status_patch_sends_only_changes_and_never_clobbers_live_metrics_nor_the_admission():
    old = {"phase": "Running", "metrics": {"acc": 0.9}, "queuePosition": 2, "message": "m", "admission": {"a": 1}}
    new = {"phase": "Completed", "message": "m"}
    assert status_patch(old, new) == {"phase": "Completed", "queuePosition": None}
    # Even a new status that carried another admission would not write it: the cluster's pass owns it.
    assert status_patch(old, {**old, "admission": {"admitted": True}}) == {}


def test_a_completed_run_keeps_its_job_even_while_the_job_still_counts_the_pod_active():
    from trainyard.operator.trainingrun.reconcile import _must_stop

    done = derive(
        run(),
        Observed(job=job(active=1), pods=(pod(phase="Succeeded", run_state=term(0, "Completed")),), outputs=[]),
        now=NOW,
    )
    assert done["phase"] == tr.PHASE_COMPLETED
    assert not _must_stop(done, job(active=1))
    failed = derive(run(), CASE["image-pull"], now=NOW)
    assert _must_stop(failed, job(active=1)) and not _must_stop(failed, job(active=0))
    canceled = derive(run(suspend=True), Observed(job=job(active=0)), now=NOW)
    assert _must_stop(canceled, job(active=0))


def _status_of(spec: dict, obs: Observed, old: dict | None = None) -> dict:
    r = run(**spec)
    if old is not None:
        r["status"] = old
    return derive(r, obs, now=NOW)


RUNNING_POD = pod("r-1", phase="Running", stage=term(0, "Completed"), run_state={"running": {}})


def test_a_deleted_pod_that_vanished_still_fails_as_deleted_not_as_the_script():
    """The Job's counters outlive the pod: once the reconcile has seen it deleted, the run says so
    even when no pod is left to read."""
    seen = _status_of({}, Observed(job=job(active=1), pods=(pod("r-1", phase="Running", deleted=True),)))
    assert seen["podsDeleted"] == 1
    gone = _status_of({}, Observed(job=job(("Failed", "BackoffLimitExceeded"), failed=1)), old=seen)
    assert gone["phase"] == tr.PHASE_FAILED and gone["podsDeleted"] == 1
    assert cond_reason(gone, tr.FAILED) == tr.REASON_POD_DELETED and "ScriptFailed" not in gone["message"]
    # maxRetries 1: the first, deleted pod is gone, the second failed on its own: the script's fault.
    r2 = _status_of(
        {"maxRetries": 1},
        Observed(
            job=job(("Failed", "BackoffLimitExceeded"), failed=2),
            pods=(pod("r-2", phase="Failed", run_state=term(3, message=SCRIPT_MSG)),),
        ),
        old={**seen, "attempts": 1},
    )
    assert cond_reason(r2, tr.FAILED) == tr.REASON_SCRIPT_FAILED and r2["attempts"] == 2


def cond_reason(status: dict, ctype: str) -> str:
    return next(c["reason"] for c in status["conditions"] if c["type"] == ctype and c["status"] == "True")


def test_attempts_match_the_jobs_counters_when_the_deleted_pod_is_gone():
    st = _status_of(
        {"maxRetries": 2},
        Observed(job=job(("Complete", ""), failed=1, succeeded=1), pods=(pod("r-2", phase="Succeeded"),), outputs=[]),
        old={"attempts": 1},
    )
    assert st["attempts"] == 2 and st["phase"] == tr.PHASE_COMPLETED


def test_phase_never_goes_back_to_queued_once_the_run_started():
    """Running -> (pod deleted) -> Preparing 'retrying', and while the Job makes the next pod, and
    while it waits for a node: never Queued again."""
    spec = {"maxRetries": 1}
    running = _status_of(spec, Observed(job=job(active=1), pods=(RUNNING_POD,)))
    assert running["phase"] == tr.PHASE_RUNNING
    phases = []
    old = running
    for obs in (
        Observed(job=job(active=1), pods=(pod("r-1", phase="Running", run_state={"running": {}}, deleted=True),)),
        Observed(job=job(failed=1)),  # the deleted pod is gone, the next one not made yet
        Observed(job=job(active=1, failed=1), pods=(pod("r-2", node=None, unschedulable="0/1 nodes available"),)),
        Observed(job=job(active=1, failed=1), pods=(pod("r-2", stage={"running": {}}),)),
    ):
        old = _status_of(spec, obs, old=old)
        phases.append((old["phase"], old["message"]))
    assert [p for p, _ in phases] == [tr.PHASE_PREPARING] * 4
    assert all("retrying (attempt 2 of 2): previous pod deleted" in m for _, m in phases[:3]), phases
    assert "0/1 nodes available" in phases[2][1]
    assert "retrying (attempt 2 of 2): previous pod deleted; staging code and inputs" in phases[3][1]
    assert old["attempts"] == 2
    # A run that never started still shows Queued while its first pod is being made.
    assert _status_of(spec, Observed(job=job()))["phase"] == tr.PHASE_QUEUED


def test_installing_environment_pip_is_preparing_not_running():
    """The pod reports status.stage; only a stage naming this very pod counts."""
    obs = Observed(job=job(active=1), pods=(RUNNING_POD,))
    r = run(environment={"pip": ["scikit-learn==1.7.2"]})
    r["status"] = {tr.STAGE: {"pod": "r-1", "step": tr.STAGE_ENVIRONMENT}}
    got = outcome(r, obs)
    assert (got.condition, got.reason) == (tr.PREPARING, tr.REASON_PREPARING_ENVIRONMENT)
    assert "environment" in got.message and "script is running" not in got.message
    r["status"] = {tr.STAGE: {"pod": "r-1", "step": tr.STAGE_SCRIPT}}
    assert outcome(r, obs).reason == tr.REASON_SCRIPT_RUNNING
    r["status"] = {tr.STAGE: {"pod": "r-0", "step": tr.STAGE_ENVIRONMENT}}  # an older attempt's
    assert outcome(r, obs).reason == tr.REASON_SCRIPT_RUNNING


def test_the_pods_stage_is_never_removed_by_the_operator():
    assert status_patch({tr.STAGE: {"pod": "p", "step": "script"}, "phase": "Running"}, {"phase": "Completed"}) == {
        "phase": "Completed"
    }


ARGS_CASES = [
    # (args, input names, references that name no input)
    (["--data", "$(TRAINYARD_INPUT_NOPE)"], ["mnist"], ["$(TRAINYARD_INPUT_NOPE)"]),
    (["$(TRAINYARD_INPUT_mnist)"], ["mnist"], ["$(TRAINYARD_INPUT_mnist)"]),  # not upper-cased: not expanded
    (["$$(TRAINYARD_INPUT_NOPE)", "$$$(TRAINYARD_INPUT_MNIST)", "$(OTHER)"], ["mnist"], []),
    (["$$$(TRAINYARD_INPUT_NOPE)"], ["mnist"], ["$(TRAINYARD_INPUT_NOPE)"]),  # $$ then a reference
    (["$(TRAINYARD_INPUT_TRAIN)/$(TRAINYARD_INPUT_TEST_2)"], ["train", "test_2"], []),
    (["$(TRAINYARD_INPUT_X)", "$(TRAINYARD_INPUT_X)"], [], ["$(TRAINYARD_INPUT_X)"]),
    (["$(TRAINYARD_INPUTS)", "$(TRAINYARD_INPUT_", "$a$(TRAINYARD_INPUT_Q)"], ["q"], []),
]


@pytest.mark.parametrize("args, inputs, unknown", ARGS_CASES)
def test_unknown_input_references_are_what_the_runtime_would_leave_unexpanded(args, inputs, unknown):
    from trainyard.operator.trainingrun.job import unknown_input_refs
    from trainyard.runtime.expand import expand_args

    spec = {"args": args, "inputs": [{"name": n, "uri": "s3://b/x/"} for n in inputs]}
    assert unknown_input_refs(spec) == unknown
    # The runtime agrees: each flagged reference is one it would expand had the input existed, and
    # with only the real inputs it expands nothing else that looks like an input's reference.
    env = {f"TRAINYARD_INPUT_{n.upper()}": "<in>" for n in inputs}
    for ref in unknown:
        assert any("<missing>" in a for a in expand_args(args, {**env, ref[2:-1]: "<missing>"})), ref
    plain = {f"TRAINYARD_INPUT_{w}": "<other>" for w in ("NOPE", "X", "Q", "mnist", "OTHER")}
    leftover = " ".join(expand_args(args, {**plain, **env}))
    assert ("<other>" in leftover) == bool(unknown), leftover


def test_a_reference_to_no_input_fails_the_run_before_it_has_a_job():
    got = outcome(
        run(args=["--data", "$(TRAINYARD_INPUT_NOPE)"], inputs=[{"name": "mnist", "uri": "s3://b/m/"}]), Observed()
    )
    assert (got.condition, got.reason) == (tr.FAILED, tr.REASON_UNKNOWN_INPUT)
    assert "$(TRAINYARD_INPUT_NOPE), which names no input (inputs: mnist)" in got.message
