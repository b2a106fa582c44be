"""A run's identity: its ServiceAccount, Role and RoleBinding (to write its own live metrics), and
the Secret with object-store credentials scoped to it (operator/core/credentials.py).

Made while the run waits in its queue, so starting a run that gets a free slot is only creating
its Job. Credentials minted that early may be old by the time the run starts: the Secret says
when they expire (operator/core/store_secrets.py), and a start re-mints them when they would not last
the run's whole lifetime. A process-local cache of this process's own writes (`_made`) skips
the API calls for a run whose identity it has already made; it decides nothing that is not in the
API: without it (after a restart, or another replica) creation is idempotent and the Secret's
expiry annotation is read back.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time

from trainyard.operator.core import credentials, kube, names, store_secrets
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.trainingrun.access import (
    build_role,
    build_role_binding,
    build_service_account,
    build_store_secret,
)

_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="trainyard-identity")
SLACK_SECONDS = 600  # credentials minted up to this long before a start are still used

# CACHE: run uid -> epoch seconds the credentials this process made for it expire. Bounded: the
# oldest entries go first (a run ended or deleted unseen costs an entry until then).
_made: collections.OrderedDict[str, float] = collections.OrderedDict()
MADE_MAX = 10_000
_guard = threading.Lock()


def required_until(run: dict, *, starting: bool, now: float) -> float:
    """Until when the credentials must work: a queued run only needs them to exist; a starting
    run needs them for its whole allowed lifetime (less the slack)."""
    return now + credentials.duration_for(run) - SLACK_SECONDS if starting else now


def _ensure_secret(run: dict, cfg: OperatorConfig, needed: float) -> float:
    ns, name = run["metadata"]["namespace"], run["metadata"]["name"]

    def build(access_key: str, secret_key: str, token: str, expires: str) -> dict:
        return build_store_secret(run, cfg, access_key, secret_key, token, expires=expires)

    return store_secrets.ensure(
        ns,
        names.run_secret(name),
        cfg,
        credentials.run_policy(run, cfg.s3_bucket),
        credentials.duration_for(run),
        build,
        needed=needed,
        who=f"run {ns}/{name}",
        owner_uid=run["metadata"]["uid"],
    )


def ensure(run: dict, cfg: OperatorConfig, *, starting: bool) -> None:
    """The run's ServiceAccount, Role, RoleBinding and store Secret exist (made concurrently: they
    are independent), with credentials good until `required_until`."""
    uid = run["metadata"]["uid"]
    needed = required_until(run, starting=starting, now=time.time())
    with _guard:
        if _made.get(uid, 0.0) >= needed:
            return
    made = [
        _POOL.submit(kube.create_if_absent, o)
        for o in (build_service_account(run), build_role(run), build_role_binding(run))
    ]
    secret = _POOL.submit(_ensure_secret, run, cfg, needed)
    for future in made:
        future.result()
    expires = secret.result()
    with _guard:
        _made[uid] = expires
        _made.move_to_end(uid)
        while len(_made) > MADE_MAX:
            _made.popitem(last=False)


def forget(run: dict) -> None:
    """The run has ended: its identity is garbage-collected with it."""
    with _guard:
        _made.pop(run["metadata"].get("uid"), None)
