"""What every handler module shares: the operator's configuration, its object-store client, and
how an Event is posted (built once per process), and how a handler turns a failed reconcile into a retry."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import kopf

from trainyard.operator.core.config import OperatorConfig

T = TypeVar("T")


@functools.lru_cache(maxsize=1)
def config() -> OperatorConfig:
    return OperatorConfig.from_env()


@functools.lru_cache(maxsize=1)
def store():
    """The operator's own object-store client (reads manifests, metrics and models), or None."""
    if not config().s3_endpoint:
        return None
    from trainyard.storage.config import StoreConfig

    return StoreConfig.from_env().client()


def post_event(body: dict, type: str, reason: str, message: str) -> None:
    kopf.event(body, type=type, reason=reason, message=message)


def retrying(kind: str, namespace: str, name: str, reconcile: Callable[[], T]) -> T:
    """Run a reconcile inside a kopf handler: an unexpected failure (the API or the store
    hiccuped, a write raced) becomes a TemporaryError, retried with backoff and shown on the
    object; a PermanentError stays permanent."""
    try:
        return reconcile()
    except kopf.PermanentError:
        raise
    except Exception as exc:
        raise kopf.TemporaryError(f"reconcile of {kind} {namespace}/{name} failed: {exc}", delay=2) from exc
