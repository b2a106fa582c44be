"""A run's identity: its ServiceAccount, Role and RoleBinding (to write its own live metrics), and
the Secret with object-store credentials scoped to it (operator/credentials.py).

Made while the run waits in its queue, so starting a run that gets a free slot is only creating
its Job. Credentials minted that early may be old by the time the run starts: the Secret says
when they expire (annotation `trainyard.dev/credentials-expire`), and a start re-mints them when
they would not last the run's whole lifetime. A process-local memo skips the API calls for a run
whose identity this process has already made; after a restart, creation is idempotent.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time

from trainyard.api.conditions import parse_time, rfc3339
from trainyard.operator import credentials, kube, names
from trainyard.operator.builders.access import (CREDENTIALS_EXPIRE, build_role, build_role_binding,
                                                build_service_account, build_store_secret)
from trainyard.operator.config import OperatorConfig

log = logging.getLogger("trainyard.run")
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="trainyard-identity")
SLACK_SECONDS = 600     # credentials minted up to this long before a start are still used

_made: dict[str, float] = {}      # run uid -> epoch seconds its credentials expire
_guard = threading.Lock()


def required_until(run: dict, *, starting: bool, now: float) -> float:
    """Until when the credentials must work: a queued run only needs them to exist; a starting
    run needs them for its whole allowed lifetime (less the slack)."""
    return now + credentials.duration_for(run) - SLACK_SECONDS if starting else now


def _secret(run: dict, cfg: OperatorConfig, now: float) -> tuple[dict, float]:
    duration = credentials.duration_for(run)
    creds = credentials.mint(cfg.s3_endpoint, cfg.s3_access_key, cfg.s3_secret_key,
                             credentials.run_policy(run, cfg.s3_bucket), duration)
    if not creds.scoped:
        log.warning("the object store has no STS: run %s/%s gets the operator's unscoped credentials",
                    run["metadata"]["namespace"], run["metadata"]["name"])
        expires = now + credentials.MAX_DURATION   # the operator's own keys do not expire
    else:
        expires = now + duration
    return build_store_secret(run, cfg, creds.access_key, creds.secret_key, creds.session_token,
                              expires=rfc3339(expires, timespec="seconds")), expires


def _ensure_secret(run: dict, cfg: OperatorConfig, needed: float) -> float:
    """Create the run's store Secret, or renew the one that exists when it expires too soon.
    Returns when its credentials expire."""
    now = time.time()
    body, expires = _secret(run, cfg, now)
    if kube.create_if_absent(body):
        return expires
    ns, name = run["metadata"]["namespace"], names.run_secret(run["metadata"]["name"])
    old = kube.core().read_namespaced_secret(name, ns)
    # No annotation (made by an older operator): treat as expired.
    current = parse_time((old.metadata.annotations or {}).get(CREDENTIALS_EXPIRE)) or 0.0
    if current >= needed:
        return current
    kube.core().patch_namespaced_secret(name, ns, {"metadata": {"annotations": body["metadata"]["annotations"]},
                                                   "data": body["data"]})
    return expires


def ensure(run: dict, cfg: OperatorConfig, *, starting: bool) -> None:
    """The run's ServiceAccount, Role, RoleBinding and store Secret exist (made concurrently: they
    are independent), with credentials good until `required_until`."""
    uid = run["metadata"]["uid"]
    needed = required_until(run, starting=starting, now=time.time())
    with _guard:
        if _made.get(uid, 0.0) >= needed:
            return
    made = [_POOL.submit(kube.create_if_absent, o)
            for o in (build_service_account(run), build_role(run), build_role_binding(run))]
    secret = _POOL.submit(_ensure_secret, run, cfg, needed)
    for future in made:
        future.result()
    expires = secret.result()
    with _guard:
        _made[uid] = expires


def forget(run: dict) -> None:
    """The run has ended: its identity is garbage-collected with it."""
    with _guard:
        _made.pop(run["metadata"].get("uid"), None)
