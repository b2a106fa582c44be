"""`Run.register_model` from inside a run's pod: create (or re-point) a RegisteredModel whose
source is this run, over plain urllib like runtime/kubeapi.py (the image carries no client
library). The run's ServiceAccount may get/create/patch registeredmodels in its namespace
(operator/trainingrun/access.py).

The script is still running when it calls this, so the operator records the version when the run
has completed and its outputs are uploaded: the model waits (SourceRunNotCompleted) until then.
"""

from __future__ import annotations

import dataclasses
import urllib.error

from trainyard.api.constants import API_VERSION, GROUP, PLURALS, REGISTERED_MODEL, VERSION
from trainyard.runtime.kubeapi import KubeError, KubeTarget, error_detail, request


@dataclasses.dataclass(frozen=True)
class ModelRef:
    """What `register_model` returns, shaped like Azure ML's Model (name, id, version). The version
    is assigned when the run completes: see `trainyard models NAME` or the resource's status."""

    name: str
    namespace: str
    version: int | None = None

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}"


def model_body(
    name: str,
    namespace: str,
    run: str,
    path: str,
    *,
    framework: str | None = None,
    framework_version: str | None = None,
    resources: dict | None = None,
    description: str | None = None,
    tags: dict | None = None,
) -> dict:
    spec: dict = {"source": {"trainingRun": {"name": run, "path": path}}}
    if framework:
        spec["framework"] = framework
    if framework_version:
        spec["frameworkVersion"] = framework_version
    if resources:
        spec["resources"] = {k: str(v) for k, v in resources.items()}
    if description:
        spec["description"] = description
    if tags:
        spec["tags"] = {str(k): str(v) for k, v in tags.items()}
    return {
        "apiVersion": API_VERSION,
        "kind": REGISTERED_MODEL,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def apply(target: KubeTarget, body: dict, *, timeout: float = 10.0) -> dict:
    """Create the model; if it exists, move its spec to `body`'s (a new source: a new version)."""
    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    base = f"{target.api}/apis/{GROUP}/{VERSION}/namespaces/{ns}/{PLURALS[REGISTERED_MODEL]}"
    try:
        try:
            return request(target, "POST", base, body, "application/json", timeout=timeout)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
        return request(
            target, "PATCH", f"{base}/{name}", {"spec": body["spec"]}, "application/merge-patch+json", timeout=timeout
        )
    except urllib.error.HTTPError as exc:
        raise KubeError(f"registering model {ns}/{name}: HTTP {exc.code}: {error_detail(exc)}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise KubeError(f"registering model {ns}/{name}: {getattr(exc, 'reason', exc)}") from None
