"""RegisteredModel condition types, reasons and phases — kept next to the schema in crds/.

Two conditions carry everything; `status.phase` is derived from them (see `phase_of`):

- `Registered`: True once the current `spec.source` is a recorded, immutable version. False with
  a reason when it cannot be (yet). Waiting reasons are retried; the others need a spec change.
- `Ready` (only with `spec.deployment`): True when every Deployment receiving traffic has all of
  its replicas available with the model loaded.
"""

from __future__ import annotations

from trainyard.api import conditions as cond

# ---- condition types ----------------------------------------------------------------------------
REGISTERED = "Registered"
READY = "Ready"

# ---- Registered reasons -------------------------------------------------------------------------
REASON_REGISTERED = "Registered"  # a new version was recorded
REASON_SOURCE_UNCHANGED = "SourceUnchanged"  # the source is an already recorded version
# waiting: retried until they resolve
REASON_RUN_NOT_FOUND = "SourceRunNotFound"
REASON_RUN_NOT_COMPLETED = "SourceRunNotCompleted"
REASON_STORE_UNAVAILABLE = "ObjectStoreUnavailable"
# need a spec change
REASON_RUN_FAILED = "SourceRunFailed"
REASON_PATH_NOT_IN_OUTPUTS = "PathNotInOutputs"
REASON_ARTIFACT_NOT_FOUND = "ArtifactNotFound"
REASON_CHECKSUM_MISMATCH = "ArtifactChecksumMismatch"
REASON_ARTIFACT_UNREADABLE = "ArtifactUnreadable"
REASON_NOT_SCIKIT_LEARN = "NotScikitLearn"
REASON_FRAMEWORK_VERSION_MISMATCH = "FrameworkVersionMismatch"
REASON_STORE_NOT_CONFIGURED = "ObjectStoreNotConfigured"

WAITING_REASONS = frozenset({REASON_RUN_NOT_FOUND, REASON_RUN_NOT_COMPLETED, REASON_STORE_UNAVAILABLE})

# ---- Ready reasons ------------------------------------------------------------------------------
REASON_AVAILABLE = "Available"
REASON_ROLLING_OUT = "RollingOut"
REASON_NO_RUNTIME_IMAGE = "NoRuntimeImage"
REASON_VERSION_NOT_REGISTERED = "TrafficVersionNotRegistered"
REASON_NOT_SERVABLE = "NotServable"  # framework Custom: no no-code server for it
REASON_NOTHING_TO_SERVE = "NothingToServe"  # deployment asked for, no version registered yet

DEPLOY_FAILED_REASONS = frozenset({REASON_NO_RUNTIME_IMAGE, REASON_VERSION_NOT_REGISTERED, REASON_NOT_SERVABLE})

# ---- phases (for humans and printer columns) ----------------------------------------------------
PHASE_REGISTERING = "Registering"
PHASE_REGISTERED = "Registered"
PHASE_DEPLOYING = "Deploying"
PHASE_READY = "Ready"
PHASE_FAILED = "Failed"


def phase_of(conditions: list[dict] | None, *, deployment: bool) -> str:
    """Failed when either condition is False for a reason only a spec change fixes; otherwise how
    far the model got: Registering -> Registered (-> Deploying -> Ready with a deployment)."""
    reg = cond.find(conditions, REGISTERED)
    ready = cond.find(conditions, READY)
    if reg and reg["status"] == cond.FALSE and reg["reason"] not in WAITING_REASONS:
        return PHASE_FAILED
    if ready and ready["status"] == cond.FALSE and ready["reason"] in DEPLOY_FAILED_REASONS:
        return PHASE_FAILED
    if not (reg and reg["status"] == cond.TRUE):
        return PHASE_REGISTERING
    if not deployment:
        return PHASE_REGISTERED
    return PHASE_READY if ready and ready["status"] == cond.TRUE else PHASE_DEPLOYING


def is_waiting(conditions: list[dict] | None) -> bool:
    reg = cond.find(conditions, REGISTERED)
    return reg is None or (reg["status"] != cond.TRUE and reg["reason"] in WAITING_REASONS)
