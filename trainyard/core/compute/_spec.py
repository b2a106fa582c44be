"""The ComputeCluster a provisioning configuration becomes (pure).

`vm_size` becomes `spec.instanceType`: runs then go to nodes labelled
node.kubernetes.io/instance-type=<vm_size>, which the kwok and clusterAPI providers create. A
cluster of existing nodes usually has no such label; the workspace config's
`compute.vm_sizes` maps a vm_size to a node selector instead (e.g. STANDARD_D2_V2 ->
{"trainyard.dev/pool": "default"}), and `compute.provider` / `compute.nodeSelector` /
`compute.nodeResources` / `compute.defaultRunResources` fill the rest of the spec."""

from __future__ import annotations

import re

from trainyard.api.constants import API_VERSION, COMPUTE_CLUSTER
from trainyard.core.exceptions import ComputeTargetException

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_INSTANCE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
PRIORITIES = {"dedicated": "dedicated", "lowpriority": "spot", "low_priority": "spot", "spot": "spot"}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 63:
        raise ComputeTargetException(
            f"compute name {name!r} is not valid: use lower-case letters, digits and '-', at most 63 characters"
        )
    return name


def cluster_spec(
    *,
    vm_size: str | None,
    vm_priority: str | None,
    min_nodes: int,
    max_nodes: int,
    idle_seconds: int | None,
    defaults: dict | None = None,
) -> dict:
    defaults = dict(defaults or {})
    if not isinstance(max_nodes, int) or max_nodes < 1:
        raise ComputeTargetException(f"max_nodes must be a positive integer, got {max_nodes!r}")
    if not isinstance(min_nodes, int) or not 0 <= min_nodes <= max_nodes:
        raise ComputeTargetException(f"min_nodes must be between 0 and max_nodes ({max_nodes}), got {min_nodes!r}")
    priority = PRIORITIES.get((vm_priority or "dedicated").lower())
    if priority is None:
        raise ComputeTargetException(f"vm_priority must be 'dedicated' or 'lowpriority', got {vm_priority!r}")
    spec: dict = {
        "minNodes": min_nodes,
        "maxNodes": max_nodes,
        "priority": priority,
        "provider": {"type": defaults.get("provider", "static")},
    }
    selector = dict(defaults.get("nodeSelector") or {})
    sizes = {k.lower(): v for k, v in (defaults.get("vm_sizes") or {}).items()}
    if vm_size and vm_size.lower() in sizes:
        selector.update(sizes[vm_size.lower()] or {})
    elif vm_size:
        if not _INSTANCE.match(vm_size) or len(vm_size) > 128:
            raise ComputeTargetException(f"vm_size {vm_size!r} is not a valid instance type label value")
        spec["instanceType"] = vm_size
    if selector:
        spec["nodeSelector"] = {str(k): str(v) for k, v in selector.items()}
    if idle_seconds is not None:
        spec["idleSecondsBeforeScaleDown"] = int(idle_seconds)
    for key in ("nodeResources", "defaultRunResources"):
        if defaults.get(key):
            spec[key] = dict(defaults[key])
    return spec


def cluster_body(name: str, namespace: str, spec: dict) -> dict:
    return {
        "apiVersion": API_VERSION,
        "kind": COMPUTE_CLUSTER,
        "metadata": {"name": check_name(name), "namespace": namespace},
        "spec": spec,
    }


def status_view(obj: dict) -> dict:
    """Azure's AmlCompute status (`compute_target.status.serialize()`) from a ComputeCluster."""
    spec, st = obj.get("spec") or {}, obj.get("status") or {}
    conds = {c["type"]: c for c in st.get("conditions") or []}
    observed = st.get("observedGeneration") is not None and st.get("observedGeneration") >= (
        obj["metadata"].get("generation") or 0
    )
    failed = conds.get("ProviderError", {}).get("status") == "True"
    current, busy = st.get("currentNodes", 0), st.get("busyNodes", 0)
    resizing = st.get("desiredNodes", current) != current or conds.get("ScalingUp", {}).get("status") == "True"
    return {
        "currentNodeCount": current,
        "targetNodeCount": st.get("desiredNodes", current),
        "nodeStateCounts": {
            "idleNodeCount": max(0, st.get("readyNodes", 0) - busy),
            "runningNodeCount": busy,
            "preparingNodeCount": max(0, current - st.get("readyNodes", 0)),
            "unusableNodeCount": 0,
            "leavingNodeCount": 0,
            "preemptedNodeCount": 0,
        },
        "allocationState": "Resizing" if resizing else "Steady",
        "provisioningState": "Failed" if failed else ("Succeeded" if observed else "Creating"),
        "provisioningErrors": [conds["ProviderError"]["message"]] if failed else None,
        "scaleSettings": {
            "minNodeCount": spec.get("minNodes", 0),
            "maxNodeCount": spec.get("maxNodes"),
            "nodeIdleTimeBeforeScaleDown": f"PT{spec.get('idleSecondsBeforeScaleDown', 1800)}S",
        },
        "vmSize": spec.get("instanceType") or ",".join(f"{k}={v}" for k, v in (spec.get("nodeSelector") or {}).items()),
        "vmPriority": "LowPriority" if spec.get("priority") == "spot" else "Dedicated",
        "queuedRuns": st.get("queuedRuns", 0),
        "runningRuns": st.get("runningRuns", 0),
        "readyNodeCount": st.get("readyNodes", 0),
    }
