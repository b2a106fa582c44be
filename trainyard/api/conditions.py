"""Kubernetes-style status conditions (metav1.Condition), as pure functions over plain dicts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

TRUE, FALSE, UNKNOWN = "True", "False", "Unknown"


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def rfc3339(t: float | None, timespec: str = "milliseconds") -> str | None:
    """Epoch seconds as RFC 3339 in UTC ("...Z"); None stays None."""
    if t is None:
        return None
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_time(s: str | None) -> float | None:
    """RFC 3339 (any precision, "Z" or an offset) to epoch seconds; empty or None is None."""
    if not s:
        return None
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def condition(
    type: str, status: str, reason: str, message: str = "", *, generation: int | None = None, now: str | None = None
) -> dict:
    if status not in (TRUE, FALSE, UNKNOWN):
        raise ValueError(f"condition status must be True, False or Unknown, not {status!r}")
    cond: dict = {
        "type": type,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": now or now_rfc3339(),
    }
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond


def find(conditions: Iterable[dict] | None, type: str) -> dict | None:
    return next((c for c in conditions or () if c.get("type") == type), None)


def is_true(conditions: Iterable[dict] | None, type: str) -> bool:
    c = find(conditions, type)
    return bool(c and c.get("status") == TRUE)


def set_condition(conditions: list[dict] | None, new: dict) -> list[dict]:
    """Return a new list with `new` replacing the condition of the same type.

    lastTransitionTime only moves when the status changes, as Kubernetes conventions require;
    a changed reason or message alone keeps the old time.
    """
    out: list[dict] = []
    replaced = False
    for c in conditions or ():
        if c.get("type") != new["type"]:
            out.append(dict(c))
            continue
        merged = dict(new)
        if c.get("status") == new["status"] and c.get("lastTransitionTime"):
            merged["lastTransitionTime"] = c["lastTransitionTime"]
        out.append(merged)
        replaced = True
    if not replaced:
        out.append(dict(new))
    return out


def same_ignoring_time(a: list[dict] | None, b: list[dict] | None) -> bool:
    def strip(cs):
        return sorted(
            ({k: v for k, v in c.items() if k != "lastTransitionTime"} for c in cs or ()), key=lambda c: c["type"]
        )

    return strip(a) == strip(b)
