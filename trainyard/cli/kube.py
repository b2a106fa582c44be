"""The CLI's access to the Kubernetes API, with every failure turned into one clear line."""

from __future__ import annotations

import functools
import os

from trainyard.api.constants import GROUP, PLURALS, TRAINING_RUN, VERSION


class CliError(Exception):
    """Shown to the user as `trainyard: error: <message>`."""


class PodGone(CliError):
    """The pod asked about no longer exists."""


@functools.lru_cache(maxsize=1)
def _client():
    import kubernetes

    try:
        kubernetes.config.load_kube_config()
    except Exception:
        try:
            kubernetes.config.load_incluster_config()
        except Exception:
            where = os.environ.get("KUBECONFIG", "~/.kube/config")
            raise CliError(
                f"no cluster configured: no usable kubeconfig at {where} "
                "(start one with `trainyard local up`, or set KUBECONFIG)"
            ) from None
    return kubernetes.client.ApiClient()


def default_namespace() -> str:
    import kubernetes

    try:
        _, ctx = kubernetes.config.list_kube_config_contexts()
        return (ctx or {}).get("context", {}).get("namespace") or "default"
    except Exception:
        return "default"


def _call(fn, *args, what: str = "", **kwargs):
    import urllib3
    from kubernetes.client.rest import ApiException

    try:
        return fn(*args, **kwargs)
    except ApiException as exc:
        if exc.status == 404 and what:
            raise CliError(f"no {what}") from None
        if exc.status in (401, 403):
            raise CliError(f"the Kubernetes API refused the request ({exc.status} {exc.reason})") from None
        body = (exc.body or "")[:500] if isinstance(exc.body, str) else ""
        raise CliError(f"the Kubernetes API answered {exc.status} {exc.reason}: {body}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        host = _client().configuration.host
        raise CliError(
            f"cannot reach the Kubernetes API at {host} (is the cluster running?): {type(exc).__name__}"
        ) from None


def custom():
    import kubernetes

    return kubernetes.client.CustomObjectsApi(_client())


def core():
    import kubernetes

    return kubernetes.client.CoreV1Api(_client())


def get_run(namespace: str, name: str) -> dict:
    return _call(
        custom().get_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURALS[TRAINING_RUN],
        name,
        what=f"TrainingRun {name!r} in namespace {namespace!r} (list them with `trainyard runs`)",
    )


def list_runs(namespace: str, label_selector: str = "") -> list[dict]:
    res = _call(
        custom().list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURALS[TRAINING_RUN],
        label_selector=label_selector,
    )
    return res["items"]


def create_run(body: dict) -> dict:
    ns = body["metadata"]["namespace"]
    return _call(
        custom().create_namespaced_custom_object,
        GROUP,
        VERSION,
        ns,
        PLURALS[TRAINING_RUN],
        body,
        what=f"namespace {ns!r}",
    )


def get_compute(namespace: str, name: str) -> dict:
    return _call(
        custom().get_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        PLURALS["ComputeCluster"],
        name,
        what=f"ComputeCluster {name!r} in namespace {namespace!r} (see `kubectl get cc`)",
    )


def run_pods(namespace: str, run: str) -> list[dict]:
    res = _call(core().list_namespaced_pod, namespace, label_selector=f"{GROUP}/run={run}")
    pods = _client().sanitize_for_serialization(res)["items"]
    return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")


def api_message(exc) -> str:
    """The `message` of a Kubernetes Status body, else the HTTP status line."""
    import json

    try:
        message = json.loads(exc.body).get("message")
    except (TypeError, ValueError, AttributeError):
        message = None
    return f"{exc.status} {exc.reason}" + (f": {message}" if message else "")


def container_log(namespace: str, pod: str, container: str, *, follow: bool = False):
    """A container's log through the API server (which asks the node's kubelet); a streaming
    response when `follow`. PodGone when the pod no longer exists; CliError with the API server's
    own words for anything else (the kubelet unreachable, the container not started)."""
    import urllib3
    from kubernetes.client.rest import ApiException

    try:
        if follow:
            return core().read_namespaced_pod_log(
                pod, namespace, container=container, follow=True, _preload_content=False
            )
        return core().read_namespaced_pod_log(pod, namespace, container=container)
    except ApiException as exc:
        if exc.status == 404 and "not found" in api_message(exc):
            raise PodGone(f"pod {namespace}/{pod} is gone") from None
        raise CliError(f"the API server answered {api_message(exc)}") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise CliError(
            f"cannot reach the Kubernetes API at {_client().configuration.host}: {type(exc).__name__}"
        ) from None
