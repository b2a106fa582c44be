"""The client's access to the Kubernetes API: the user's own kubeconfig and context (RBAC
applies), the trainyard custom resources, pod logs and the service proxy — with every failure
turned into one of the Azure-named exceptions and one line that says what to do."""

from __future__ import annotations

import os

from trainyard.api.constants import GROUP, PLURALS, VERSION
from trainyard.core.exceptions import TrainyardException, UserErrorException


class NotFound(UserErrorException):
    """A 404 from the API server; callers turn it into their own exception."""


class Kube:
    def __init__(self, kubeconfig: str | None = None, context: str | None = None):
        self.kubeconfig, self.context = kubeconfig, context
        self._api = None

    @property
    def api(self):
        if self._api is None:
            import kubernetes

            path = self.kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
            try:
                self._api = kubernetes.config.new_client_from_config(config_file=path, context=self.context)
            except Exception as exc:
                if not self.kubeconfig and not self.context and os.environ.get("KUBERNETES_SERVICE_HOST"):
                    cfg = kubernetes.client.Configuration()
                    kubernetes.config.load_incluster_config(client_configuration=cfg)
                    self._api = kubernetes.client.ApiClient(cfg)
                else:
                    what = f"context {self.context!r} in " if self.context else ""
                    raise UserErrorException(
                        f"cannot use {what}kubeconfig {path}: {str(exc).splitlines()[0][:200]} "
                        "(start a cluster with `trainyard local up`, or fix kubeconfig/context in the workspace config)"
                    ) from None
        return self._api

    @property
    def host(self) -> str:
        return self.api.configuration.host

    def current_context(self) -> str | None:
        import kubernetes

        if self.context:
            return self.context
        try:
            _, ctx = kubernetes.config.list_kube_config_contexts(config_file=self.kubeconfig)
            return (ctx or {}).get("name")
        except Exception:
            return None

    def call(self, fn, *args, what: str = "", exc: type[TrainyardException] = UserErrorException, **kwargs):
        import urllib3
        from kubernetes.client.rest import ApiException

        try:
            return fn(*args, **kwargs)
        except ApiException as err:
            if err.status == 404:
                raise NotFound(f"no {what}" if what else f"not found: {err.reason}") from None
            if err.status in (401, 403):
                raise exc(
                    f"the Kubernetes API refused to {what or 'do that'} ({err.status} {err.reason}): "
                    "your kubeconfig's user needs RBAC rights on trainyard.dev resources in this namespace"
                ) from None
            raise exc(f"the Kubernetes API answered {err.status} {err.reason}: {_body_message(err)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as err:
            raise exc(
                f"cannot reach the Kubernetes API at {self.host} (is the cluster running?): {type(err).__name__}"
            ) from None

    # -- trainyard resources ---------------------------------------------------------------------

    def custom(self):
        import kubernetes

        return kubernetes.client.CustomObjectsApi(self.api)

    def core(self):
        import kubernetes

        return kubernetes.client.CoreV1Api(self.api)

    def get(self, kind: str, namespace: str, name: str, **kw) -> dict:
        what = kw.pop("what", f"{kind} {name!r} in namespace {namespace!r}")
        return self.call(
            self.custom().get_namespaced_custom_object, GROUP, VERSION, namespace, PLURALS[kind], name, what=what, **kw
        )

    def list(self, kind: str, namespace: str, label_selector: str = "", **kw) -> list[dict]:
        res = self.call(
            self.custom().list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURALS[kind],
            label_selector=label_selector,
            what=kw.pop("what", f"{kind}s in namespace {namespace!r}"),
            **kw,
        )
        return res["items"]

    def create(self, body: dict, **kw) -> dict:
        ns, kind = body["metadata"]["namespace"], body["kind"]
        return self.call(
            self.custom().create_namespaced_custom_object,
            GROUP,
            VERSION,
            ns,
            PLURALS[kind],
            body,
            what=kw.pop("what", f"namespace {ns!r}"),
            **kw,
        )

    def patch(self, kind: str, namespace: str, name: str, body: dict, **kw) -> dict:
        return self.call(
            self.custom().patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURALS[kind],
            name,
            body,
            what=kw.pop("what", f"{kind} {name!r} in namespace {namespace!r}"),
            **kw,
        )

    def delete(self, kind: str, namespace: str, name: str, **kw) -> None:
        self.call(
            self.custom().delete_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURALS[kind],
            name,
            what=kw.pop("what", f"{kind} {name!r} in namespace {namespace!r}"),
            **kw,
        )

    # -- pods, logs, services --------------------------------------------------------------------

    def pods(self, namespace: str, selector: str) -> list[dict]:
        res = self.call(self.core().list_namespaced_pod, namespace, label_selector=selector, what="pods")
        pods = self.api.sanitize_for_serialization(res)["items"]
        return sorted(pods, key=lambda p: p["metadata"].get("creationTimestamp") or "")

    def pod_log(self, namespace: str, pod: str, *, container: str | None = None, follow: bool = False, tail=None):
        """The container's log as text, or a streaming urllib3 response when `follow`. Raises the
        kubernetes client's own errors: the caller falls back to the object store's copy."""
        kw = {"container": container} if container else {}
        if tail:
            kw["tail_lines"] = tail
        if follow:
            return self.core().read_namespaced_pod_log(
                pod, namespace, follow=True, _preload_content=False, _request_timeout=(5, 3600), **kw
            )
        return self.core().read_namespaced_pod_log(pod, namespace, _request_timeout=10, **kw)

    def service_proxy(self, namespace: str, service: str, port: int | str, path: str, body=None):
        """POST `body` (a JSON-serialisable object; the client encodes it) — or GET without one —
        through the API server's service proxy, so a laptop reaches a ClusterIP Service.
        Returns (status, bytes)."""
        path = f"/api/v1/namespaces/{namespace}/services/http:{service}:{port}/proxy/{path.lstrip('/')}"
        method = "POST" if body is not None else "GET"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        api = self.api
        if hasattr(api, "param_serialize"):  # kubernetes >= 35: serialise, then send
            request = api.param_serialize(method, path, header_params=headers, body=body, auth_settings=["BearerToken"])
            resp = self.call(api.call_api, *request, _request_timeout=60, what=f"Service {service!r}")
            return resp.status, resp.read()
        from kubernetes.client.rest import ApiException

        try:
            resp = api.call_api(
                path,
                method,
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=60,
            )
        except ApiException as err:
            return err.status, (err.body if isinstance(err.body, bytes) else str(err.body or "").encode())
        raw = resp[0] if isinstance(resp, tuple) else resp
        return raw.status, raw.data


def _body_message(err) -> str:
    import json

    body = err.body.decode(errors="replace") if isinstance(err.body, bytes) else (err.body or "")
    try:
        return json.loads(body).get("message", body)[:500]
    except (ValueError, AttributeError):
        return body[:300]


def create_or_patch_spec(kube: Kube, body: dict, *, annotations: dict | None = None, exc=UserErrorException) -> dict:
    """Create `body`, or — it exists — merge-patch its spec (and annotations) onto the existing one."""
    from kubernetes.client.rest import ApiException

    ns, kind, name = body["metadata"]["namespace"], body["kind"], body["metadata"]["name"]
    try:
        return kube.custom().create_namespaced_custom_object(GROUP, VERSION, ns, PLURALS[kind], body)
    except ApiException as err:
        if err.status != 409:
            if err.status in (401, 403):
                raise exc(
                    f"the Kubernetes API refused to create {kind} {name!r} ({err.status}): your kubeconfig's user "
                    "needs RBAC rights on trainyard.dev resources in this namespace"
                ) from None
            raise exc(f"cannot create {kind} {name!r} in namespace {ns!r}: {_body_message(err)}") from None
    except Exception as err:
        raise exc(f"cannot reach the Kubernetes API at {kube.host}: {type(err).__name__}") from None
    patch: dict = {"spec": body["spec"]}
    if annotations:
        patch["metadata"] = {"annotations": annotations}
    return kube.patch(kind, ns, name, patch, exc=exc)
