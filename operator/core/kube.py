"""The few Kubernetes API calls the operator makes, over the official client.

Creation is idempotent: an object that already exists is read back instead (a restarted operator
never creates a second Job)."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterator

import kubernetes
from kubernetes.client.rest import ApiException

from trainyard.api.constants import GROUP, PLURALS, VERSION

POOL_SIZE = 48


@functools.lru_cache(maxsize=1)
def api_client() -> kubernetes.client.ApiClient:
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    cfg = kubernetes.client.Configuration.get_default_copy()
    # One connection per thread that may call at once (kopf's executor, the work queue, the
    # admission and creation pools): a smaller pool discards connections, and every new one
    # costs a TLS handshake on both sides.
    cfg.connection_pool_maxsize = POOL_SIZE
    return kubernetes.client.ApiClient(cfg)


def core() -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api_client())


def batch() -> kubernetes.client.BatchV1Api:
    return kubernetes.client.BatchV1Api(api_client())


def rbac() -> kubernetes.client.RbacAuthorizationV1Api:
    return kubernetes.client.RbacAuthorizationV1Api(api_client())


def custom() -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(api_client())


def to_dict(obj) -> dict:
    return api_client().sanitize_for_serialization(obj)


def get_custom(kind: str, namespace: str, name: str) -> dict | None:
    try:
        return custom().get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def patch_custom_status(kind: str, namespace: str, name: str, status: dict) -> dict:
    return custom().patch_namespaced_custom_object_status(
        GROUP, VERSION, namespace, PLURALS[kind], name, {"status": status}
    )


def merge_patch(old: dict, new: dict, *, keep: tuple[str, ...] = ()) -> dict:
    """The JSON merge patch from status `old` to `new`: the keys that changed, and None for keys
    gone — except those in `keep`, which someone else writes."""
    patch = {k: v for k, v in new.items() if old.get(k) != v}
    patch.update({k: None for k in old if k not in new and k not in keep})
    return patch


def _raw(resp) -> dict:
    # Plain JSON: building the client's model objects and serialising them back costs more CPU
    # than the HTTP request itself.
    return json.loads(resp.data)


def get_job(namespace: str, name: str) -> dict | None:
    try:
        return _raw(batch().read_namespaced_job(name, namespace, _preload_content=False))
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


def config_map_exists(namespace: str, name: str) -> bool:
    """False only when the API server says it does not exist; an operator not allowed to read
    ConfigMaps (a chart without that rule) answers True and leaves the pod to find out."""
    try:
        core().read_namespaced_config_map(name, namespace, _preload_content=False)
        return True
    except ApiException as exc:
        if exc.status == 404:
            return False
        if exc.status == 403:
            return True
        raise


def list_pods(namespace: str, selector: str) -> list[dict]:
    return _raw(core().list_namespaced_pod(namespace, label_selector=selector, _preload_content=False))["items"]


_CREATORS = {
    "Job": lambda ns, body: batch().create_namespaced_job(ns, body),
    "ServiceAccount": lambda ns, body: core().create_namespaced_service_account(ns, body),
    "Secret": lambda ns, body: core().create_namespaced_secret(ns, body),
    "Role": lambda ns, body: rbac().create_namespaced_role(ns, body),
    "RoleBinding": lambda ns, body: rbac().create_namespaced_role_binding(ns, body),
}


def create_if_absent(obj: dict) -> bool:
    """Create `obj`; True if created, False if it already existed."""
    try:
        _CREATORS[obj["kind"]](obj["metadata"]["namespace"], obj)
        return True
    except ApiException as exc:
        if exc.status == 409:
            return False
        raise


def create_job(job: dict) -> dict:
    """Create the Job, or read back the one that exists (never two Jobs for one run)."""
    try:
        return _raw(batch().create_namespaced_job(job["metadata"]["namespace"], job, _preload_content=False))
    except ApiException as exc:
        if exc.status != 409:
            raise
    return get_job(job["metadata"]["namespace"], job["metadata"]["name"])


def delete_job(namespace: str, name: str) -> None:
    try:
        batch().delete_namespaced_job(name, namespace, propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise


class _Held:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock, self.users = threading.Lock(), 0


_locks: dict[tuple[str, str], _Held] = {}  # only objects being reconciled (or waited for) right now
_locks_guard = threading.Lock()


@contextlib.contextmanager
def lock_for(namespace: str, name: str) -> Iterator[None]:
    """One reconcile at a time per object (pod, job and run events arrive concurrently). The lock
    is dropped when nobody holds or waits for it, so the table does not grow with every object
    the operator has ever seen."""
    key = (namespace, name)
    with _locks_guard:
        held = _locks.setdefault(key, _Held())
        held.users += 1
    try:
        with held.lock:
            yield
    finally:
        with _locks_guard:
            held.users -= 1
            if held.users == 0:
                del _locks[key]
