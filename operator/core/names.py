"""DNS-safe names of the objects the operator creates, in one place."""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^a-z0-9-]+")


def safe_name(base: str, suffix: str = "", max_len: int = 63) -> str:
    """`base-suffix`, lower-cased and DNS-1123 safe; when too long, truncated with a short hash
    of the full name so two long names never collide."""
    full = f"{base}-{suffix}" if suffix else base
    clean = _UNSAFE.sub("-", full.lower()).strip("-")
    if len(clean) <= max_len and clean == full:
        return clean
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    keep = max_len - len(digest) - 1 - (len(suffix) + 1 if suffix else 0)
    head = _UNSAFE.sub("-", base.lower()).strip("-")[:keep].rstrip("-")
    return f"{head}-{digest}-{suffix}" if suffix else f"{head}-{digest}"


def job_name(run: str) -> str:
    # Job pods are named <job>-<5 chars>; the run name schema allows 53 characters.
    return safe_name(run, max_len=57)


def run_service_account(run: str) -> str:
    return safe_name(run, "run")


def run_secret(run: str) -> str:
    return safe_name(run, "store")
