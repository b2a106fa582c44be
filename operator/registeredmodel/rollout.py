"""Puts a model's serving objects in place: server-side apply of what the builders return, the
scoped store Secret, and the retirement of versions that no longer receive traffic once every
version that does is available. Returns what is in place (`status.Serving`), from which
operator/registeredmodel/status.py derives the Ready condition."""

from __future__ import annotations

from kubernetes.client.rest import ApiException

from trainyard.api import registeredmodel as rm
from trainyard.api.constants import LABEL_MODEL
from trainyard.operator.core import credentials, kube, store_secrets
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.registeredmodel import registry, serving
from trainyard.operator.registeredmodel.status import Problem, Serving
from trainyard.runtime.serving.artifact import SCIKIT_LEARN

FIELD_MANAGER = "trainyard-operator"
APPLY = "application/apply-patch+yaml"


def _apps():
    import kubernetes

    return kubernetes.client.AppsV1Api(kube.api_client())


def _autoscaling():
    import kubernetes

    return kubernetes.client.AutoscalingV2Api(kube.api_client())


def apply(obj: dict) -> None:
    """Server-side apply: creates or updates, and leaves fields we do not set (an HPA's replicas)."""
    ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    patch = {
        "Deployment": _apps().patch_namespaced_deployment,
        "Service": kube.core().patch_namespaced_service,
        "HorizontalPodAutoscaler": _autoscaling().patch_namespaced_horizontal_pod_autoscaler,
    }[obj["kind"]]
    patch(name, ns, obj, field_manager=FIELD_MANAGER, force=True, _content_type=APPLY)


def _ignore_404(fn, *args) -> None:
    try:
        fn(*args)
    except ApiException as exc:
        if exc.status != 404:
            raise


def observed_deployments(namespace: str, model: str) -> dict[int, dict]:
    items = _apps().list_namespaced_deployment(namespace, label_selector=f"{LABEL_MODEL}={model}").items
    out = {}
    for d in items:
        version = (d.metadata.labels or {}).get(serving.LABEL_MODEL_VERSION, "")
        if version.isdigit():
            out[int(version)] = kube.to_dict(d)
    return out


def remove_all(namespace: str, model: str) -> None:
    """spec.deployment was removed: the serving objects go (the artifacts and versions stay)."""
    selector = f"{LABEL_MODEL}={model}"
    for hpa in _autoscaling().list_namespaced_horizontal_pod_autoscaler(namespace, label_selector=selector).items:
        _ignore_404(_autoscaling().delete_namespaced_horizontal_pod_autoscaler, hpa.metadata.name, namespace)
    for dep in _apps().list_namespaced_deployment(namespace, label_selector=selector).items:
        _ignore_404(_apps().delete_namespaced_deployment, dep.metadata.name, namespace)
    _ignore_404(kube.core().delete_namespaced_service, serving.service_name(model), namespace)


def _ensure_secret(model: dict, cfg: OperatorConfig) -> None:
    """The servers' read-only store Secret exists. Not renewed: every later server pod gets the
    credentials minted at the first deployment (known gap: once they expire, deleting the Secret
    makes the next reconcile mint new ones; the Secret's expiry annotation says when)."""
    ns, name = model["metadata"]["namespace"], model["metadata"]["name"]

    def build(access_key: str, secret_key: str, token: str, expires: str) -> dict:
        return serving.build_store_secret(model, cfg, access_key, secret_key, token, expires=expires)

    store_secrets.ensure(
        ns,
        serving.store_secret_name(name),
        cfg,
        serving.model_read_policy(model, cfg.s3_bucket),
        credentials.MAX_DURATION,
        build,
        needed=0.0,
        who=f"the servers of model {ns}/{name}",
    )


def images_for(served: list[tuple[dict, int]], cfg: OperatorConfig) -> list[tuple[dict, int, str]]:
    """Pair each served version with its runtime image, or raise the Problem naming the fix."""
    out = []
    for entry, percent in served:
        if entry.get("framework") != SCIKIT_LEARN:
            raise Problem(
                rm.REASON_NOT_SERVABLE,
                f"version {entry['version']} is framework {entry.get('framework')}; only "
                "ScikitLearn models have a no-code server",
            )
        image = registry.serving_image(cfg.serving_image_map, entry.get("frameworkVersion"))
        if image is None:
            have = ", ".join(f"{k} ({v})" for k, v in sorted(cfg.serving_image_map.items())) or "none"
            raise Problem(
                rm.REASON_NO_RUNTIME_IMAGE,
                f"version {entry['version']} was saved by scikit-learn {entry.get('frameworkVersion') or '(unknown)'}, "
                f"and no runtime image loads that release (curated images: {have}); retrain with a listed "
                "scikit-learn, or add an image to the operator's TRAINYARD_SERVING_IMAGES",
            )
        out.append((entry, percent, image))
    return out


def deploy(model: dict, versions: list[dict], current: int | None, cfg: OperatorConfig) -> Serving:
    """Apply what `versions` and `current` call for; what is in place afterwards."""
    ns, name = model["metadata"]["namespace"], model["metadata"]["name"]
    endpoint = serving.endpoint(model)
    try:
        served = images_for(serving.traffic(model, versions, current), cfg)
    except Problem as p:
        return Serving(endpoint, _traffic_status(observed_deployments(ns, name)), problem=p)
    _ensure_secret(model, cfg)
    objs = serving.serving_objects(model, served, cfg)
    for obj in objs:
        apply(obj)
    wanted_hpas = {o["metadata"]["name"] for o in objs if o["kind"] == "HorizontalPodAutoscaler"}
    for hpa in (
        _autoscaling().list_namespaced_horizontal_pod_autoscaler(ns, label_selector=f"{LABEL_MODEL}={name}").items
    ):
        if hpa.metadata.name not in wanted_hpas:
            _ignore_404(_autoscaling().delete_namespaced_horizontal_pod_autoscaler, hpa.metadata.name, ns)
    desired = {entry["version"] for entry, _, _ in served}
    observed = observed_deployments(ns, name)
    retired, waiting = serving.retire(desired, observed)
    for v in retired:
        _ignore_404(_apps().delete_namespaced_deployment, serving.deployment_name(name, v), ns)
        observed.pop(v, None)
    in_place = _traffic_status(observed, {entry["version"]: pct for entry, pct, _ in served})
    return Serving(endpoint, in_place, waiting=tuple(waiting))


def _traffic_status(observed: dict[int, dict], percent: dict[int, int] | None = None) -> list[dict]:
    """What receives traffic now: each Deployment's ready replicas and its share of them."""
    ready = {v: ((d.get("status") or {}).get("readyReplicas") or 0) for v, d in observed.items()}
    total = sum(ready.values())
    out = []
    for v in sorted(observed):
        row = {"version": v, "replicas": ready[v], "effectivePercent": round(100 * ready[v] / total) if total else 0}
        if percent is not None:
            row["percent"] = percent.get(v, 0)
        out.append(row)
    return out
