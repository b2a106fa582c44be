"""TrainingRun condition types, reasons and phases — kept next to the schema in crds/.

A run's `status.phase` is derived from its conditions (see `phase_of`), never used as control
flow. Each condition type below is either True or absent/False; the terminal ones (Succeeded,
Failed, Canceled) never go back.
"""

from __future__ import annotations

from trainyard.api import conditions as cond

# ---- condition types ----------------------------------------------------------------------------
ACCEPTED = "Accepted"  # the operator has seen the run and resolved its ComputeCluster
QUEUED = "Queued"  # waiting for capacity (or for Kueue's admission)
PREPARING = "Preparing"  # the pod stages code and inputs
RUNNING = "Running"  # the script runs
FINALIZING = "Finalizing"  # the script ended; outputs are being collected
SUCCEEDED = "Succeeded"  # terminal
FAILED = "Failed"  # terminal
CANCELED = "Canceled"  # terminal
# Not a step of progress: True once the ComputeCluster lets the run start (status.admission, below),
# or once Kueue unsuspends the Job of a run the cluster handed to it.
ADMITTED = "Admitted"

TERMINAL = (SUCCEEDED, FAILED, CANCELED)

# ---- reasons ------------------------------------------------------------------------------------
REASON_ACCEPTED = "Accepted"
REASON_COMPUTE_NOT_FOUND = "ComputeClusterNotFound"
REASON_WAITING_FOR_CAPACITY = "WaitingForCapacity"
REASON_JOB_CREATED = "JobCreated"
REASON_STAGING = "StagingData"
REASON_SCRIPT_RUNNING = "ScriptRunning"
REASON_COLLECTING_OUTPUTS = "CollectingOutputs"
REASON_COMPLETED = "Completed"
REASON_SCRIPT_FAILED = "ScriptFailed"
REASON_DATA_STAGING_FAILED = "DataStagingFailed"
REASON_OOM_KILLED = "OOMKilled"
REASON_DEADLINE_EXCEEDED = "DeadlineExceeded"
REASON_IMAGE_PULL_FAILED = "ImagePullFailed"
REASON_PREEMPTED = "Preempted"
REASON_OUTPUT_UPLOAD_FAILED = "OutputUploadFailed"
REASON_CANCELED = "Canceled"
REASON_INVALID = "Invalid"
REASON_JOB_LOST = "JobLost"
REASON_ADMITTED = "Admitted"
REASON_PENDING_ADMISSION = "PendingAdmission"  # the ComputeCluster has not decided yet
REASON_WAITING_FOR_SCALE_UP = "WaitingForScaleUp"  # waiting for, or admitted onto, a node being added
REASON_CODE_NOT_FOUND = "CodeConfigMapNotFound"  # spec.source.configMap names no ConfigMap
REASON_POD_DELETED = "PodDeleted"  # the run's pod was deleted (not preempted) before the script ended
REASON_RETRYING = "Retrying"  # an attempt ended early; the Job is starting the next one
REASON_UNKNOWN_INPUT = "UnknownInputReference"  # spec.args has $(TRAINYARD_INPUT_X) and no input x
REASON_PREPARING_ENVIRONMENT = "PreparingEnvironment"  # the pod installs environment.pip before the script

# ---- status.admission: the queue's decision, written only by the ComputeCluster pass ------------
# {admitted, reason, position, message, kueueQueue, time}; the run's own reconcile reads it and
# never writes it (see operator/computecluster/admission.py).
ADMISSION = "admission"

# ---- status.stage: what the run's own pod is doing, written only by that pod (runtime/run.py) ---
# {pod, step}: the `run` container is running either way; only the pod knows whether the script
# has started yet or `environment.pip` is still being installed.
STAGE = "stage"
STAGE_ENVIRONMENT = "environment"
STAGE_SCRIPT = "script"

# ---- phases (for humans and printer columns) ----------------------------------------------------
PHASE_QUEUED = "Queued"
PHASE_SCALING = "Scaling"
PHASE_PREPARING = "Preparing"
PHASE_RUNNING = "Running"
PHASE_FINALIZING = "Finalizing"
PHASE_COMPLETED = "Completed"
PHASE_FAILED = "Failed"
PHASE_CANCELED = "Canceled"

_PHASE_BY_CONDITION = (
    (CANCELED, PHASE_CANCELED),
    (FAILED, PHASE_FAILED),
    (SUCCEEDED, PHASE_COMPLETED),
    (FINALIZING, PHASE_FINALIZING),
    (RUNNING, PHASE_RUNNING),
    (PREPARING, PHASE_PREPARING),
    (QUEUED, PHASE_QUEUED),
)


def phase_of(conditions: list[dict] | None) -> str:
    """The phase is the most advanced True condition; a run nobody has looked at yet is Queued. A
    run Queued because it waits for a node being added is Scaling."""
    for ctype, phase in _PHASE_BY_CONDITION:
        if cond.is_true(conditions, ctype):
            if phase == PHASE_QUEUED and (cond.find(conditions, QUEUED) or {}).get("reason") == (
                REASON_WAITING_FOR_SCALE_UP
            ):
                return PHASE_SCALING
            return phase
    return PHASE_QUEUED


def is_terminal(conditions: list[dict] | None) -> bool:
    return any(cond.is_true(conditions, t) for t in TERMINAL)
