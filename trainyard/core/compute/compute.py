"""ComputeTarget (Azure ML: azureml.core.compute.ComputeTarget): a ComputeCluster of the
workspace's namespace. `ComputeTarget(ws, name)` returns the AmlCompute of that name or raises
ComputeTargetException; `ComputeTarget.create(ws, name, config)` creates one."""

from __future__ import annotations

import sys
import time

from trainyard.api.constants import COMPUTE_CLUSTER
from trainyard.core._kube import NotFound
from trainyard.core.compute import _spec
from trainyard.core.exceptions import ComputeTargetException


class ComputeTargetStatus:
    def __init__(self, view: dict):
        self._view = view
        for k, v in view.items():
            setattr(self, k[0].lower() + k[1:], v)
        self.current_node_count = view["currentNodeCount"]
        self.target_node_count = view["targetNodeCount"]
        self.provisioning_state = view["provisioningState"]
        self.allocation_state = view["allocationState"]

    def serialize(self) -> dict:
        return dict(self._view)

    def __repr__(self) -> str:
        return f"ComputeTargetStatus({self._view})"


class ComputeTarget:
    _compute_type = "AmlCompute"

    def __new__(cls, workspace=None, name=None):
        if cls is ComputeTarget and workspace is not None:
            from trainyard.core.compute.amlcompute import AmlCompute

            return super().__new__(AmlCompute)
        return super().__new__(cls)

    def __init__(self, workspace, name: str):
        self.workspace, self.name = workspace, name
        self._obj = self._get()

    @classmethod
    def _from_object(cls, workspace, obj: dict):
        self = object.__new__(cls)
        self.workspace, self.name, self._obj = workspace, obj["metadata"]["name"], obj
        return self

    def _get(self) -> dict:
        ws = self.workspace
        try:
            return ws._kube.get(COMPUTE_CLUSTER, ws.namespace, self.name, exc=ComputeTargetException)
        except NotFound:
            raise ComputeTargetException(
                f"ComputeTargetNotFound: compute target {self.name!r} does not exist in namespace {ws.namespace!r} "
                "(create it with ComputeTarget.create)"
            ) from None

    def refresh_state(self) -> None:
        self._obj = self._get()

    @property
    def type(self) -> str:
        return self._compute_type

    @property
    def provisioning_state(self) -> str:
        return _spec.status_view(self._obj)["provisioningState"]

    @property
    def status(self) -> ComputeTargetStatus:
        self.refresh_state()
        return ComputeTargetStatus(_spec.status_view(self._obj))

    def get_status(self) -> ComputeTargetStatus:
        return self.status

    def __repr__(self) -> str:
        return f"{type(self).__name__}(workspace={self.workspace.name}, name={self.name}, type={self.type})"

    @staticmethod
    def create(workspace, name: str, provisioning_configuration) -> ComputeTarget:
        return provisioning_configuration._create(workspace, name)

    @staticmethod
    def list(workspace) -> list:
        return list(workspace.compute_targets.values())

    def wait_for_completion(
        self, show_output=False, min_node_count=None, timeout_in_minutes=20, is_delete_operation=False
    ):
        """Until the operator has taken the cluster in and at least `min_node_count` nodes (by
        default its min_nodes) are ready; ComputeTargetException on a provider error or timeout."""
        deadline = time.monotonic() + timeout_in_minutes * 60
        want = min_node_count if min_node_count is not None else (self._obj.get("spec") or {}).get("minNodes", 0)
        last = None
        while True:
            if is_delete_operation:
                try:
                    self.refresh_state()
                except ComputeTargetException:
                    if show_output:
                        print("Deleting operation finished")
                    return
                time.sleep(1.0)
                continue
            view = self.status.serialize()
            state = (view["provisioningState"], view["readyNodeCount"])
            if show_output and state != last:
                sys.stdout.write(f"{view['provisioningState']}: {view['readyNodeCount']} ready node(s)\n")
                sys.stdout.flush()
            last = state
            if view["provisioningState"] == "Failed":
                raise ComputeTargetException(
                    f"compute target {self.name!r} failed: {'; '.join(view['provisioningErrors'] or [])}"
                )
            if view["provisioningState"] == "Succeeded" and view["readyNodeCount"] >= want:
                if show_output:
                    print(f"{type(self).__name__} wait for completion finished")
                    if want:
                        print("Minimum number of nodes requested have been provisioned")
                return
            if time.monotonic() > deadline:
                raise ComputeTargetException(
                    f"compute target {self.name!r}: {view['readyNodeCount']} of {want} node(s) ready after "
                    f"{timeout_in_minutes} minutes ({view['provisioningState']})"
                )
            time.sleep(1.0)

    def delete(self) -> None:
        ws = self.workspace
        try:
            ws._kube.delete(COMPUTE_CLUSTER, ws.namespace, self.name, exc=ComputeTargetException)
        except NotFound:
            raise ComputeTargetException(f"compute target {self.name!r} does not exist (already deleted?)") from None

    def detach(self) -> None:
        self.delete()

    def serialize(self) -> dict:
        return {"name": self.name, "type": self.type, "spec": dict(self._obj.get("spec") or {})}


class ComputeTargetProvisioningConfiguration:
    """What `provisioning_configuration(...)` returns: the ComputeCluster spec to create."""

    _target_class: type = ComputeTarget

    def __init__(self, **settings):
        self.settings = settings

    def _spec(self, workspace) -> dict:
        return _spec.cluster_spec(defaults=dict(workspace._cfg.compute), **self.settings)

    def validate_configuration(self) -> None:
        _spec.cluster_spec(**self.settings)

    def _create(self, workspace, name: str):
        body = _spec.cluster_body(name, workspace.namespace, self._spec(workspace))
        ws = workspace
        try:
            ws._kube.get(COMPUTE_CLUSTER, ws.namespace, name, exc=ComputeTargetException)
            raise ComputeTargetException(
                f"compute target {name!r} already exists in namespace {ws.namespace!r}: use ComputeTarget(ws, {name!r})"
            )
        except NotFound:
            pass
        obj = ws._kube.create(body, exc=ComputeTargetException, what=f"namespace {ws.namespace!r}")
        return self._target_class._from_object(workspace, obj)
