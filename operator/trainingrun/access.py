"""Per-run identity: the run's pod gets its own ServiceAccount allowed to patch only its own
TrainingRun's status (live metrics), and a Secret with the object-store endpoint and credentials.
All owned by the run, so they go when it goes."""

from __future__ import annotations

from trainyard.api.constants import GROUP
from trainyard.operator.core import names
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.core.store_access import store_secret
from trainyard.operator.trainingrun.job import owner_reference, run_labels


def _meta(run: dict, name: str) -> dict:
    return {
        "name": name,
        "namespace": run["metadata"]["namespace"],
        "labels": run_labels(run),
        "ownerReferences": [owner_reference(run)],
    }


def build_service_account(run: dict) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(run, names.run_service_account(run["metadata"]["name"])),
    }


def build_role(run: dict) -> dict:
    run_name = run["metadata"]["name"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(run, names.run_service_account(run_name)),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": ["trainingruns/status"],
                "resourceNames": [run_name],
                "verbs": ["get", "patch"],
            },
            {"apiGroups": [GROUP], "resources": ["trainingruns"], "resourceNames": [run_name], "verbs": ["get"]},
            # Run.register_model(): a model whose source is this run (create cannot be name-scoped).
            {"apiGroups": [GROUP], "resources": ["registeredmodels"], "verbs": ["get", "create", "patch"]},
        ],
    }


def build_role_binding(run: dict) -> dict:
    sa = names.run_service_account(run["metadata"]["name"])
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(run, sa),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": sa},
        "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": run["metadata"]["namespace"]}],
    }


def build_store_secret(
    run: dict,
    cfg: OperatorConfig,
    access_key: str,
    secret_key: str,
    session_token: str = "",
    expires: str | None = None,
) -> dict:
    """Object-store settings for the run's pod. `access_key`/`secret_key` are what the pod may use:
    credentials scoped to this run where the store issues them (see operator/core/credentials.py)."""
    meta = _meta(run, names.run_secret(run["metadata"]["name"]))
    return store_secret(meta, cfg, access_key, secret_key, session_token, expires)
