"""What every handler module shares: the operator's configuration, its object-store client, and
how an Event is posted. Built once per process."""

from __future__ import annotations

import functools

import kopf

from trainyard.operator.config import OperatorConfig


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
