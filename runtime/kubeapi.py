"""Just enough of the Kubernetes API for a pod to report its own run's metrics: a merge-patch of
the TrainingRun's status subresource, with plain urllib (the runtime image carries no client
library).

    TRAINYARD_KUBE_API          API server URL (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)
    TRAINYARD_KUBE_TOKEN_FILE   bearer token, re-read on every request because projected
                                tokens rotate (default: the service account's token)
    TRAINYARD_KUBE_CA_FILE      CA bundle (default: the service account's ca.crt)
    TRAINYARD_KUBE_CLIENT_CERT / TRAINYARD_KUBE_CLIENT_KEY   client-certificate auth instead
"""

from __future__ import annotations

import dataclasses
import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from trainyard.api.constants import GROUP, PLURALS, TRAINING_RUN, VERSION

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class KubeTarget:
    api: str
    token_file: Path | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KubeTarget | None:
        """None when no API server is known (not in a pod and nothing configured)."""
        env = os.environ if env is None else env
        api = env.get("TRAINYARD_KUBE_API")
        if not api:
            host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT", "443")
            if not host:
                return None
            api = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"

        def path(var: str, default: Path | None) -> Path | None:
            value = env.get(var)
            if value:
                return Path(value)
            return default if default is not None and default.exists() else None

        return cls(
            api.rstrip("/"),
            path("TRAINYARD_KUBE_TOKEN_FILE", SA_DIR / "token"),
            path("TRAINYARD_KUBE_CA_FILE", SA_DIR / "ca.crt"),
            path("TRAINYARD_KUBE_CLIENT_CERT", None),
            path("TRAINYARD_KUBE_CLIENT_KEY", None),
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.api.startswith("https://"):
            return None
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if self.client_cert:
            ctx.load_cert_chain(str(self.client_cert), str(self.client_key) if self.client_key else None)
        return ctx


def request(
    target: KubeTarget,
    method: str,
    url: str,
    body: dict,
    content_type: str,
    *,
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> dict:
    """One JSON request to the API server with the target's credentials. HTTP errors propagate as
    urllib's HTTPError so callers can tell a conflict from a failure (see `error_detail`)."""
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )
    if target.token_file:
        req.add_header("Authorization", f"Bearer {target.token_file.read_text().strip()}")
    ctx = context if context is not None else target.ssl_context()
    with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:
        return json.loads(resp.read() or b"{}")


def error_detail(exc: urllib.error.HTTPError) -> str:
    """The API server's own message from an error response, else the start of its body."""
    detail = exc.read().decode(errors="replace")[:300]
    try:
        return json.loads(detail).get("message", detail)
    except ValueError:
        return detail


def run_status_url(api: str, namespace: str, name: str) -> str:
    return f"{api}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURALS[TRAINING_RUN]}/{name}/status"


class StatusPatcher:
    """PATCHes one TrainingRun's status with JSON merge patches."""

    def __init__(self, target: KubeTarget, namespace: str, name: str, *, timeout: float = 5.0):
        self.target, self.url, self.timeout = target, run_status_url(target.api, namespace, name), timeout
        self._ctx = target.ssl_context()

    def patch(self, status: dict) -> dict:
        try:
            return request(
                self.target,
                "PATCH",
                self.url,
                {"status": status},
                "application/merge-patch+json",
                timeout=self.timeout,
                context=self._ctx,
            )
        except urllib.error.HTTPError as exc:
            raise KubeError(f"PATCH {self.url}: HTTP {exc.code}: {error_detail(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise KubeError(f"PATCH {self.url}: {getattr(exc, 'reason', exc)}") from None
