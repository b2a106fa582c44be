"""A RegisteredModel's status, derived from what one reconcile observed (pure; written once per
reconcile by operator/registeredmodel/reconcile.py, only if it changed). Tested as tables in
tests/unit/test_model_status.py.

Two conditions, each with a named reason of trainyard/api/registeredmodel.py:
- `Registered`: set when the reconcile dealt with the current source — True with the version it
  is, False with the `Problem` that keeps it from being one. Left as it is when the generation's
  source was dealt with for good before (`settled`): a recorded version is never re-read.
- `Ready`: only with `spec.deployment` — True when every served version is available, False while
  the rollout waits or a `Problem` keeps it from serving; removed with `spec.deployment`.
`phase` and `message` follow from the conditions; `versions` only ever grows.
"""

from __future__ import annotations

import dataclasses

from trainyard.api import conditions as cond
from trainyard.api import registeredmodel as rm

EVENT_VERSION_REGISTERED = "VersionRegistered"  # an Event reason, not a condition's


class Problem(Exception):
    """Why a condition is False: a named reason and what the user can do about it. Raised by the
    registry's rules (Registered) and by the serving builders (Ready)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


@dataclasses.dataclass(frozen=True)
class Registration:
    """What became of the current source in this reconcile: the version entry it is (`created`
    when it was recorded just now), or the problem that keeps it from being one."""

    entry: dict | None = None
    created: bool = False
    problem: Problem | None = None

    def __post_init__(self):
        if (self.entry is None) == (self.problem is None):
            raise ValueError("a Registration is a version entry or a problem, exactly one")


@dataclasses.dataclass(frozen=True)
class Serving:
    """What the serving objects look like after this reconcile applied them."""

    endpoint: str  # the Service's address; published only once some replica is ready
    traffic: list[dict]  # in place: {version, replicas, effectivePercent[, percent]}
    problem: Problem | None = None  # nothing was applied: why
    waiting: tuple[str, ...] = ()  # what the rollout still waits for


@dataclasses.dataclass(frozen=True)
class Observed:
    registration: Registration | None = None  # None: the source was settled before (see `settled`)
    serving: Serving | None = None  # None: no spec.deployment


def settled(model: dict) -> bool:
    """The current generation's source was already dealt with for good (recorded, or refused for
    a reason only a spec change fixes): the reconcile does not read it again."""
    conditions = (model.get("status") or {}).get("conditions")
    reg = cond.find(conditions, rm.REGISTERED)
    return bool(
        reg and reg.get("observedGeneration") == model["metadata"].get("generation") and not rm.is_waiting(conditions)
    )


def versions_after(status: dict | None, registration: Registration | None) -> tuple[list[dict], int | None]:
    """(the recorded versions, the current version number) once `registration` is taken in: the
    serving objects are built from these before the status is derived."""
    status = status or {}
    versions = [dict(v) for v in status.get("versions") or ()]
    current = status.get("version")
    if registration is not None and registration.entry is not None:
        current = registration.entry["version"]
        if registration.created:
            versions.append(dict(registration.entry))
    return versions, current


def _registered(r: Registration) -> tuple[str, str, str]:
    e = r.entry
    if e is None:
        assert r.problem is not None  # a Registration holds exactly one of the two
        return cond.FALSE, r.problem.reason, r.problem.message
    reason = rm.REASON_REGISTERED if r.created else rm.REASON_SOURCE_UNCHANGED
    return cond.TRUE, reason, f"version {e['version']} ({e['uri']}, sha256 {e['sha256'][:12]})"


def _ready(s: Serving) -> tuple[str, str, str]:
    if s.problem is not None:
        return cond.FALSE, s.problem.reason, s.problem.message
    if s.waiting:
        return cond.FALSE, rm.REASON_ROLLING_OUT, "; ".join(s.waiting)
    split = ", ".join(f"version {t['version']}: {t['replicas']} replica(s)" for t in s.traffic)
    return cond.TRUE, rm.REASON_AVAILABLE, f"serving at {s.endpoint} ({split})"


def derive(model: dict, observed: Observed, *, now: str) -> dict:
    """The model's new status; `now` stamps conditions that change."""
    old = dict(model.get("status") or {})
    gen = model["metadata"].get("generation")
    versions, current = versions_after(old, observed.registration)
    conditions = list(old.get("conditions") or ())
    reg = observed.registration
    if reg is not None:
        conditions = cond.set_condition(
            conditions, cond.condition(rm.REGISTERED, *_registered(reg), generation=gen, now=now)
        )
    new = {k: v for k, v in old.items() if k not in ("traffic", "endpoint")}
    new.update(versions=versions, observedGeneration=gen)
    if current is not None:
        new["version"] = current
        new["uri"] = next(v["uri"] for v in versions if v["version"] == current)
    s = observed.serving
    if s is not None:
        conditions = cond.set_condition(conditions, cond.condition(rm.READY, *_ready(s), generation=gen, now=now))
        if any(t["replicas"] for t in s.traffic):
            new["endpoint"] = s.endpoint
        new["traffic"] = s.traffic
    else:
        conditions = [c for c in conditions if c["type"] != rm.READY]
    new["conditions"] = conditions
    new["phase"] = rm.phase_of(conditions, deployment=s is not None)
    new["message"] = message(conditions)
    return new


def message(conditions: list[dict]) -> str:
    """The one line a human wants: the first condition that is not True, else the last one."""
    bad = [c for c in conditions if c["status"] != cond.TRUE]
    pick = bad[0] if bad else (conditions[-1] if conditions else None)
    return f"{pick['reason']}: {pick['message']}"[:1000] if pick else ""


def events(old: dict, new: dict) -> list[tuple[str, str, str]]:
    """(type, reason, message) of the Events one status change announces: a new version, and each
    change of a condition's status or reason (a new version's Registered is the version's Event)."""
    out = []
    if len(new.get("versions") or ()) > len(old.get("versions") or ()):
        v = new["versions"][-1]
        out.append(
            (
                "Normal",
                EVENT_VERSION_REGISTERED,
                f"version {v['version']} from {v.get('run') or v.get('sourceUri')}: {v['uri']}",
            )
        )
    for c in new.get("conditions") or ():
        before = cond.find(old.get("conditions"), c["type"])
        if before and (before["status"], before["reason"]) == (c["status"], c["reason"]):
            continue
        if c["reason"] == rm.REASON_REGISTERED:
            continue
        warning = c["status"] == cond.FALSE and c["reason"] != rm.REASON_ROLLING_OUT
        out.append(("Warning" if warning else "Normal", c["reason"], c["message"][:1000]))
    return out
