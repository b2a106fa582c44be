"""Secrets that hand object-store credentials to pods — a run's pods and a model's servers alike.

Credentials are minted with a session policy (operator/core/credentials.py); the Secret records when
they expire (annotation `trainyard.dev/credentials-expire`, RFC 3339), so whoever needs them to
last longer renews them in place instead of trusting a Secret of unknown age.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kubernetes.client.rest import ApiException

from trainyard.api.conditions import parse_time, rfc3339
from trainyard.operator.core import credentials, kube
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.core.store_access import CREDENTIALS_EXPIRE

log = logging.getLogger("trainyard.credentials")

# build(access_key, secret_key, session_token, expires as RFC 3339) -> the Secret's manifest
Build = Callable[[str, str, str, str], dict]


def ensure(
    namespace: str,
    name: str,
    cfg: OperatorConfig,
    policy: dict,
    duration: int,
    build: Build,
    *,
    needed: float,
    who: str,
    owner_uid: str | None = None,
) -> float:
    """Secret `name` exists with credentials that work until `needed` (epoch seconds): read as it
    is when it does, created when missing, its keys re-minted in place when they expire sooner (a
    Secret without the annotation counts as expired). Returns when its credentials expire.

    A Secret left by another owner of the same name (`owner_uid` not among its owners: a run
    deleted and re-created before the garbage collector came) carries the other owner's policy —
    another run's prefix — and is about to be collected: it is replaced, never reused."""
    try:
        old = kube.core().read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
        old = None
    owners = {r.uid for r in (old.metadata.owner_references or ())} if old is not None else set()
    # Owned by someone else: an earlier run of the same name. Not owned at all: ours to reuse.
    stale = owner_uid is not None and bool(owners) and owner_uid not in owners
    if stale:
        try:
            kube.core().delete_namespaced_secret(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
        old = None
    if old is not None:
        current = parse_time((old.metadata.annotations or {}).get(CREDENTIALS_EXPIRE)) or 0.0
        if current >= needed:
            return current
    now = time.time()
    creds = credentials.mint(cfg.s3_endpoint, cfg.s3_access_key, cfg.s3_secret_key, policy, duration)
    if creds.scoped:
        expires = now + duration
    else:
        log.warning("the object store has no STS: %s gets the operator's unscoped credentials", who)
        expires = now + credentials.MAX_DURATION  # the operator's own keys do not expire
    body = build(creds.access_key, creds.secret_key, creds.session_token, rfc3339(expires, timespec="seconds"))
    if old is None and kube.create_if_absent(body):
        return expires
    meta = {"annotations": body["metadata"]["annotations"]}
    if stale:  # recreated meanwhile by the old owner's last reconcile: make it this owner's
        meta["ownerReferences"] = body["metadata"].get("ownerReferences")
    kube.core().patch_namespaced_secret(name, namespace, {"metadata": meta, "data": body["data"]})
    return expires
