"""Where a TrainingRun becomes a Job: pure functions from the run (and its ComputeCluster) to the
Job dict the operator creates. Tested as exact data in tests/unit/test_job_builder.py.

The pod has two containers, both from the runtime image:
- init `stage`: `python -m trainyard.runtime.stage` puts the code and every input under
  /workspace (cached by content in a node-local directory);
- main `run`: `python -m trainyard.runtime.run` runs the entry script with the SDK context,
  reports metrics, and uploads ./outputs and ./logs when the script ends.
"""

from __future__ import annotations

import json
import re

from trainyard.api.computecluster import KUEUE_QUEUE_LABEL
from trainyard.api.constants import API_VERSION, LABEL_COMPUTE, LABEL_EXPERIMENT, LABEL_RUN, TRAINING_RUN
from trainyard.operator.computecluster.placement import packing, placement, run_resources
from trainyard.operator.core import names
from trainyard.operator.core.config import OperatorConfig

WORKSPACE = "/workspace"
CACHE_MOUNT = "/var/cache/trainyard"
CONFIGMAP_SOURCE_MOUNT = "/trainyard/source"
TERMINATION_LOG = "/dev/termination-log"
# Run annotations copied to the pod: KWOK's simulated duration and trainyard's simulated exit code.
PASSTHROUGH_ANNOTATION_PREFIXES = ("pod-complete.stage.kwok.x-k8s.io/", "trainyard.dev/simulated-")


def owner_reference(run: dict) -> dict:
    meta = run["metadata"]
    return {
        "apiVersion": API_VERSION,
        "kind": TRAINING_RUN,
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def run_labels(run: dict) -> dict[str, str]:
    spec = run["spec"]
    return {
        "app.kubernetes.io/managed-by": "trainyard",
        LABEL_RUN: run["metadata"]["name"],
        LABEL_EXPERIMENT: spec.get("experiment", "default"),
        LABEL_COMPUTE: spec["compute"],
    }


def runtime_env(run: dict, cfg: OperatorConfig) -> list[dict]:
    """The env contract between the operator and trainyard.runtime (see runtime/config.py)."""
    meta, spec = run["metadata"], run["spec"]
    source = spec["source"]
    env = [
        {"name": "TRAINYARD_RUN_NAME", "value": meta["name"]},
        {"name": "TRAINYARD_RUN_NAMESPACE", "value": meta["namespace"]},
        {"name": "TRAINYARD_RUN_UID", "value": meta["uid"]},
        # The pod says in the run's status.stage which of its steps it is in (runtime/run.py).
        {"name": "TRAINYARD_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "TRAINYARD_EXPERIMENT", "value": spec.get("experiment", "default")},
        {"name": "TRAINYARD_SOURCE", "value": json.dumps(source, sort_keys=True)},
        {"name": "TRAINYARD_ENTRY_SCRIPT", "value": spec["entryScript"]},
        {"name": "TRAINYARD_ARGS", "value": json.dumps(spec.get("args") or [])},
        {"name": "TRAINYARD_INPUTS", "value": json.dumps(spec.get("inputs") or [], sort_keys=True)},
        {"name": "TRAINYARD_WORKDIR", "value": WORKSPACE},
        {"name": "TRAINYARD_CACHE_DIR", "value": CACHE_MOUNT},
        {"name": "TRAINYARD_TERMINATION_LOG", "value": TERMINATION_LOG},
    ]
    if "configMap" in source:
        env.append({"name": "TRAINYARD_SOURCE_DIR", "value": CONFIGMAP_SOURCE_MOUNT})
    if spec.get("primaryMetric"):
        env.append({"name": "TRAINYARD_PRIMARY_METRIC", "value": spec["primaryMetric"]})
    pip = (spec.get("environment") or {}).get("pip")
    if pip:
        env.append({"name": "TRAINYARD_PIP_REQUIREMENTS", "value": json.dumps(pip)})
    if cfg.kube_api_for_pods:
        env.append({"name": "TRAINYARD_KUBE_API", "value": cfg.kube_api_for_pods})
    return env


def build_job(run: dict, cluster: dict | None, cfg: OperatorConfig, *, kueue_queue: str | None = None) -> dict:
    """The run's Job. With `kueue_queue` (Kueue is installed and the cluster names a LocalQueue) the
    Job is created suspended and labelled for that queue: Kueue admits it by unsuspending it."""
    meta, spec = run["metadata"], run["spec"]
    name = meta["name"]
    labels = run_labels(run)
    image = (spec.get("environment") or {}).get("image") or cfg.runtime_image
    selector, tolerations = placement(cluster)
    env = runtime_env(run, cfg)
    env_from = [{"secretRef": {"name": names.run_secret(name)}}]
    mounts: list[dict] = [{"name": "workspace", "mountPath": WORKSPACE}, {"name": "cache", "mountPath": CACHE_MOUNT}]
    volumes = [
        {"name": "workspace", "emptyDir": {}},
        {"name": "cache", "hostPath": {"path": cfg.node_cache_path, "type": "DirectoryOrCreate"}},
    ]
    init_mounts = list(mounts)
    if "configMap" in spec["source"]:
        volumes.append({"name": "source", "configMap": {"name": spec["source"]["configMap"]["name"]}})
        init_mounts.append({"name": "source", "mountPath": CONFIGMAP_SOURCE_MOUNT, "readOnly": True})
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k.startswith(PASSTHROUGH_ANNOTATION_PREFIXES)
    }

    def container(cname: str, module: str, **extra) -> dict:
        return {
            "name": cname,
            "image": image,
            "imagePullPolicy": cfg.image_pull_policy,
            "command": ["python", "-m", module],
            "env": env,
            "envFrom": env_from,
            "workingDir": WORKSPACE,
            "terminationMessagePath": TERMINATION_LOG,
            "terminationMessagePolicy": "FallbackToLogsOnError",
            **extra,
        }

    pod_spec = {
        "restartPolicy": "Never",
        "serviceAccountName": names.run_service_account(name),
        "enableServiceLinks": False,
        "initContainers": [container("stage", "trainyard.runtime.stage", volumeMounts=init_mounts)],
        "containers": [
            container("run", "trainyard.runtime.run", volumeMounts=mounts, resources=run_resources(run, cluster))
        ],
        "volumes": volumes,
    }
    if selector:
        pod_spec["nodeSelector"] = selector
    if tolerations:
        pod_spec["tolerations"] = tolerations
    affinity = packing(cluster)
    if affinity:
        pod_spec["affinity"] = affinity
    job_spec = {
        "backoffLimit": spec.get("maxRetries", 0),
        # A pod lost with its node, or preempted, is replaced without counting as a failure.
        "podFailurePolicy": {
            "rules": [
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
            ]
        },
        # Never two pods of one run at once: a replacement starts after the old pod is gone.
        "podReplacementPolicy": "Failed",
        "template": {"metadata": {"labels": dict(labels), "annotations": annotations}, "spec": pod_spec},
    }
    if spec.get("timeoutSeconds"):
        job_spec["activeDeadlineSeconds"] = spec["timeoutSeconds"]
    job_labels = dict(labels)
    if kueue_queue:
        job_spec["suspend"] = True
        job_labels[KUEUE_QUEUE_LABEL] = kueue_queue
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": names.job_name(name),
            "namespace": meta["namespace"],
            "labels": job_labels,
            "ownerReferences": [owner_reference(run)],
        },
        "spec": job_spec,
    }


# What runtime/expand.py expands: with each `$$` (a literal `$`) removed, left to right as expand()
# pairs them, a `$(` left over starts a reference. (A CEL rule cannot afford this scan on 128 args
# of 2048 characters: the API server's cost estimate rejects it, so the operator checks.)
_INPUT_REF = re.compile(r"\$\(TRAINYARD_INPUT_([^)]*)\)")


def unknown_input_refs(spec: dict) -> list[str]:
    """`$(TRAINYARD_INPUT_X)` references in spec.args that name no input (X is the input's name
    upper-cased), in order of appearance."""
    known = {f"{i['name'].upper()}" for i in spec.get("inputs") or ()}
    refs = (m for a in spec.get("args") or () for m in _INPUT_REF.findall(str(a).replace("$$", "")))
    return list(dict.fromkeys(f"$(TRAINYARD_INPUT_{r})" for r in refs if r not in known))
