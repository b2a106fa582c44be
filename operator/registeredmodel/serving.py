"""No-code deployment of a RegisteredModel: pure functions from the model (and the versions it
serves) to the Deployment, Service, HorizontalPodAutoscaler and Secret the operator applies.
Tested as exact data in tests/unit/test_serving_builder.py.

Shape: one Deployment per served version (`<model>-v<N>`), all behind one Service (`<model>-serving`)
that selects every version's pods. A traffic split is a split of replicas: with kube-proxy
spreading connections evenly over ready endpoints, a version with 1 of 4 replicas gets about 25%
of the connections. The split is as fine as the replica count allows, and `status.traffic` says
what it is. Each pod:

- init container `fetch`: downloads the version's file from the registry prefix and checks its
  SHA-256 (`python -m trainyard.runtime.serving.fetch`), so the server never starts on a wrong file;
- container `server`: `python -m trainyard.runtime.serving` (= `trainyard serve`), whose readiness
  endpoint answers 200 only once the model is loaded and probed — readiness means loaded;
- on deletion: preStop sleeps while the endpoint is withdrawn, then SIGTERM makes the server
  answer with `Connection: close` for a drain period and finish in-flight requests.

Rolling within a version never drops capacity (maxUnavailable 0); moving traffic to another version
is done by operator/registeredmodel/rollout.py, which removes an old version's Deployment only once
every new one is available (see `retire`).
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath

from trainyard.api import registeredmodel as rm
from trainyard.api.constants import API_VERSION, LABEL_MODEL, REGISTERED_MODEL
from trainyard.operator.core import names
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.core.store_access import store_secret
from trainyard.operator.registeredmodel.status import Problem
from trainyard.storage import layout

LABEL_MODEL_VERSION = "trainyard.dev/model-version"
COMPONENT = "model-server"
PORT = 8080
SERVICE_PORT = 80
GRPC_PORT = 8081  # the Open Inference Protocol over gRPC: the same number on the container and the Service
MODEL_MOUNT = "/model"
DEFAULT_RESOURCES = {"cpu": "1", "memory": "512Mi"}  # the Azure ML tutorial's 1 CPU, 0.5 GB
PRESTOP_SLEEP_SECONDS = 5  # endpoint removal reaches every kube-proxy within this
DRAIN_SECONDS = 3  # then Connection: close on every response, in-flight work finishes
GRACE_SECONDS = 30
SHA256_ANNOTATION = "trainyard.dev/model-sha256"


# ---- names --------------------------------------------------------------------------------------


def deployment_name(model: str, version: int) -> str:
    return names.safe_name(model, f"v{version}")


def service_name(model: str) -> str:
    # A Service name must start with a letter (DNS-1035); model names may start with a digit.
    return names.safe_name(model if model[0].isalpha() else f"m-{model}", "serving")


def store_secret_name(model: str) -> str:
    return names.safe_name(model, "model-store")


def endpoint(model: dict) -> str:
    """Where to send requests: the Service's in-cluster URL and the Azure ML scoring route (KServe V1
    and Open Inference Protocol V2 routes are served on the same address)."""
    meta = model["metadata"]
    return f"http://{service_name(meta['name'])}.{meta['namespace']}.svc/score"


# ---- traffic ------------------------------------------------------------------------------------


def traffic(model: dict, versions: list[dict], current: int | None) -> list[tuple[dict, int]]:
    """[(version entry, percent)] of the versions that receive traffic: `deployment.traffic`, or
    everything to the current version. Percent 0 means not served. Raises Problem when a
    listed version is not registered."""
    by_number = {v["version"]: v for v in versions}
    wanted = (model["spec"].get("deployment") or {}).get("traffic")
    if not wanted:
        if current is None or current not in by_number:
            raise Problem(rm.REASON_NOTHING_TO_SERVE, "no version is registered yet")
        return [(by_number[current], 100)]
    missing = [t["version"] for t in wanted if t["version"] not in by_number]
    if missing:
        have = ", ".join(str(v) for v in sorted(by_number)) or "none"
        raise Problem(
            rm.REASON_VERSION_NOT_REGISTERED,
            f"deployment.traffic names version(s) {', '.join(map(str, missing))}, which are not "
            f"registered (registered: {have}); fix deployment.traffic",
        )
    return [
        (by_number[t["version"]], t["percent"]) for t in sorted(wanted, key=lambda t: t["version"]) if t["percent"] > 0
    ]


def split_replicas(total: int, percent: int) -> int:
    """A version's share of `total` replicas, at least one while it gets any traffic."""
    if total <= 0 or percent <= 0:
        return 0
    return max(1, round(total * percent / 100))


def split_bounds(autoscaling: dict, percent: int) -> tuple[int, int]:
    low = max(1, math.ceil(autoscaling["minReplicas"] * percent / 100))
    return low, max(low, math.ceil(autoscaling["maxReplicas"] * percent / 100))


# ---- objects ------------------------------------------------------------------------------------


def owner_reference(model: dict) -> dict:
    meta = model["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": REGISTERED_MODEL,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def model_labels(model: dict) -> dict[str, str]:
    return {
        "app.kubernetes.io/managed-by": "trainyard",
        "app.kubernetes.io/component": COMPONENT,
        LABEL_MODEL: model["metadata"]["name"],
    }


def _meta(model: dict, name: str, labels: dict[str, str]) -> dict:
    return {
        "name": name,
        "namespace": model["metadata"]["namespace"],
        "labels": labels,
        "ownerReferences": [owner_reference(model)],
    }


def resources(model: dict) -> dict:
    wanted = dict(DEFAULT_RESOURCES)
    wanted.update({k: str(v) for k, v in (model["spec"].get("resources") or {}).items()})
    return {"requests": dict(wanted), "limits": {"memory": wanted["memory"]}}


def build_deployment(model: dict, entry: dict, image: str, cfg: OperatorConfig, replicas: int | None) -> dict:
    """`replicas` None leaves the count to a HorizontalPodAutoscaler."""
    name, version = model["metadata"]["name"], entry["version"]
    labels = {**model_labels(model), LABEL_MODEL_VERSION: str(version)}
    filename = PurePosixPath(entry["uri"]).name
    model_path = f"{MODEL_MOUNT}/{filename}"
    mount = [{"name": "model", "mountPath": MODEL_MOUNT}]
    fetch = {
        "name": "fetch",
        "image": image,
        "imagePullPolicy": cfg.image_pull_policy,
        "command": ["python", "-m", "trainyard.runtime.serving.fetch"],
        "env": [
            {"name": "TRAINYARD_MODEL_URI", "value": entry["uri"]},
            {"name": "TRAINYARD_MODEL_SHA256", "value": entry["sha256"]},
            {"name": "TRAINYARD_MODEL_PATH", "value": model_path},
        ],
        "envFrom": [{"secretRef": {"name": store_secret_name(name)}}],
        "volumeMounts": mount,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    server = {
        "name": "server",
        "image": image,
        "imagePullPolicy": cfg.image_pull_policy,
        "command": ["python", "-m", "trainyard.runtime.serving"],
        "env": [
            {"name": "TRAINYARD_SERVE_MODEL", "value": model_path},
            {"name": "TRAINYARD_SERVE_NAME", "value": name},
            {"name": "TRAINYARD_SERVE_MODEL_VERSION", "value": str(version)},
            {"name": "TRAINYARD_SERVE_HOST", "value": "0.0.0.0"},
            {"name": "TRAINYARD_SERVE_PORT", "value": str(PORT)},
            {"name": "TRAINYARD_SERVE_GRPC_PORT", "value": str(GRPC_PORT)},
            {"name": "TRAINYARD_SERVE_DRAIN_SECONDS", "value": str(DRAIN_SECONDS)},
        ],
        "ports": [
            {"name": "http", "containerPort": PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/v2/health/ready", "port": "http"},
            "periodSeconds": 1,
            "timeoutSeconds": 1,
            "failureThreshold": 2,
            "successThreshold": 1,
        },
        "livenessProbe": {
            "httpGet": {"path": "/v2/health/live", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "lifecycle": {"preStop": {"sleep": {"seconds": PRESTOP_SLEEP_SECONDS}}},
        "resources": resources(model),
        "volumeMounts": [{**mount[0], "readOnly": True}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    spec = {
        "revisionHistoryLimit": 3,
        "selector": {"matchLabels": {LABEL_MODEL: name, LABEL_MODEL_VERSION: str(version)}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "template": {
            "metadata": {"labels": labels, "annotations": {SHA256_ANNOTATION: entry["sha256"]}},
            "spec": {
                "automountServiceAccountToken": False,
                "enableServiceLinks": False,
                "terminationGracePeriodSeconds": GRACE_SECONDS,
                "initContainers": [fetch],
                "containers": [server],
                "volumes": [{"name": "model", "emptyDir": {}}],
            },
        },
    }
    if replicas is not None:
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(model, deployment_name(name, version), labels),
        "spec": spec,
    }


def build_service(model: dict) -> dict:
    name = model["metadata"]["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(model, service_name(name), model_labels(model)),
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_MODEL: name, "app.kubernetes.io/component": COMPONENT},
            "ports": [
                {"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"},
                # h2c: gRPC is HTTP/2 without TLS; the hint lets ingresses and meshes proxy it as such.
                {
                    "name": "grpc",
                    "port": GRPC_PORT,
                    "targetPort": "grpc",
                    "protocol": "TCP",
                    "appProtocol": "kubernetes.io/h2c",
                },
            ],
        },
    }


def build_hpa(model: dict, version: int, bounds: tuple[int, int], target_cpu: int) -> dict:
    name = model["metadata"]["name"]
    dep = deployment_name(name, version)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(model, dep, {**model_labels(model), LABEL_MODEL_VERSION: str(version)}),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep},
            "minReplicas": bounds[0],
            "maxReplicas": bounds[1],
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": target_cpu}},
                }
            ],
        },
    }


def serving_objects(model: dict, served: list[tuple[dict, int, str]], cfg: OperatorConfig) -> list[dict]:
    """Every object for `served` = [(version entry, percent, image)], Service first."""
    dep = model["spec"].get("deployment") or {}
    auto = dep.get("autoscaling")
    objs = [build_service(model)]
    for entry, percent, image in served:
        if auto:
            objs.append(build_deployment(model, entry, image, cfg, None))
            objs.append(
                build_hpa(
                    model, entry["version"], split_bounds(auto, percent), auto.get("targetCPUUtilizationPercentage", 70)
                )
            )
        else:
            objs.append(build_deployment(model, entry, image, cfg, split_replicas(dep.get("replicas", 1), percent)))
    return objs


def model_read_policy(model: dict, bucket: str) -> dict:
    """Session policy of the serving pods' credentials: read this model's versions, nothing else."""
    prefix = f"models/{model['metadata']['namespace']}/{model['metadata']['name']}/"
    layout.model_prefix(model["metadata"]["namespace"], model["metadata"]["name"], 1)  # validates the segments
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"]},
            # S3 clients without a configured region ask the bucket's location first (as the runs' policy allows).
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": [f"arn:aws:s3:::{bucket}"]},
        ],
    }


def build_store_secret(
    model: dict,
    cfg: OperatorConfig,
    access_key: str,
    secret_key: str,
    session_token: str = "",
    expires: str | None = None,
) -> dict:
    meta = _meta(model, store_secret_name(model["metadata"]["name"]), model_labels(model))
    return store_secret(meta, cfg, access_key, secret_key, session_token, expires)


# ---- rollout ------------------------------------------------------------------------------------


def available(deployment: dict) -> bool:
    """The Deployment controller has seen its latest spec and every replica is updated and available."""
    spec, st = deployment.get("spec") or {}, deployment.get("status") or {}
    want = spec.get("replicas", 1)
    return (
        st.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1)
        and st.get("updatedReplicas", 0) >= want
        and st.get("availableReplicas", 0) >= want
        and not st.get("unavailableReplicas")
    )


def retire(desired: set[int], observed: dict[int, dict]) -> tuple[list[int], list[str]]:
    """(old versions whose Deployments can go now, what the rollout still waits for). Old versions
    keep serving until every desired version is available: zero capacity lost in a switch."""
    waiting = []
    for v in sorted(desired):
        dep = observed.get(v)
        if dep is None:
            waiting.append(f"version {v}: Deployment not created yet")
        elif not available(dep):
            st = dep.get("status") or {}
            waiting.append(
                f"version {v}: {st.get('availableReplicas', 0)}/{(dep.get('spec') or {}).get('replicas', 1)} "
                "replicas available"
            )
    old = sorted(v for v in observed if v not in desired)
    return ([] if waiting else old), waiting
