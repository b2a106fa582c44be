"""Workspace: a namespace of a Kubernetes cluster plus the object store (Azure ML: an Azure ML
workspace). `Workspace.from_config()` reads the config file described in trainyard/core/_config.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

from trainyard.core import _config
from trainyard.core._kube import Kube
from trainyard.core.exceptions import UserErrorException


class Workspace:
    """`Workspace(namespace="default")`, `Workspace.from_config()`; Azure's positional
    (subscription_id, resource_group, workspace_name) are accepted, resource_group as the namespace."""

    def __init__(
        self,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        workspace_name: str | None = None,
        *,
        namespace: str | None = None,
        kubeconfig: str | None = None,
        context: str | None = None,
        store: dict | None = None,
        compute: dict | None = None,
        datastore_prefix: str | None = None,
        _config_obj: _config.WorkspaceConfig | None = None,
        **_azure_only,
    ):
        if _config_obj is None:
            data = {
                "namespace": namespace or resource_group or "default",
                "workspace_name": workspace_name,
                "kubeconfig": kubeconfig,
                "context": context,
                "store": store or {},
                "compute": compute or {},
            }
            if datastore_prefix is not None:
                data["datastore_prefix"] = datastore_prefix
            _config_obj = _config.parse({k: v for k, v in data.items() if v is not None})
        self._cfg = _config_obj
        self._kube = Kube(self._cfg.kubeconfig, self._cfg.context)
        self._store_pair = None

    @classmethod
    def from_config(cls, path: str | os.PathLike | None = None, auth=None, _logger=None, _file_name=None) -> Workspace:
        """Read `.trainyard/config.json` or `config.json` from `path`, or from the current
        directory and its parents; UserErrorException with one line when there is none."""
        where = path
        if _file_name and path is not None:
            where = Path(path) / _file_name
        ws = cls(_config_obj=_config.load(where))
        return ws

    # -- what Azure's notebooks print ------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._cfg.workspace_name

    @property
    def namespace(self) -> str:
        return self._cfg.namespace

    @property
    def resource_group(self) -> str:
        return self._cfg.namespace

    @property
    def location(self) -> str:
        return self._kube.current_context() or "in-cluster"

    @property
    def subscription_id(self) -> str:
        return self._kube.host

    @property
    def config_path(self) -> Path | None:
        return self._cfg.path

    def get_details(self) -> dict:
        bucket = _config.store_env(self._cfg).get("TRAINYARD_S3_BUCKET") or "trainyard"
        return {
            "name": self.name,
            "namespace": self.namespace,
            "kubeContext": self.location,
            "apiServer": self._kube.host,
            "objectStore": _config.store_env(self._cfg).get("TRAINYARD_S3_ENDPOINT"),
            "bucket": bucket,
            "defaultDatastore": self.get_default_datastore().name,
            "configFile": str(self._cfg.path) if self._cfg.path else None,
        }

    def write_config(self, path: str | None = None, file_name: str | None = None) -> Path:
        """Write this workspace's config (without store secrets) to `path`/.trainyard/config.json."""
        folder = Path(path or ".") / ".trainyard"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / (file_name or "config.json")
        data = {
            "workspace_name": self.name,
            "namespace": self.namespace,
            **({"kubeconfig": self._cfg.kubeconfig} if self._cfg.kubeconfig else {}),
            **({"context": self._cfg.context} if self._cfg.context else {}),
            "store": {k: v for k, v in self._cfg.store.items() if k not in ("access_key", "secret_key")},
            **({"compute": dict(self._cfg.compute)} if self._cfg.compute else {}),
        }
        target.write_text(json.dumps(data, indent=2) + "\n")
        return target

    def __repr__(self) -> str:
        return f"Workspace.create(name='{self.name}', namespace='{self.namespace}', context='{self.location}')"

    # -- the pieces a workspace holds ------------------------------------------------------------

    def get_default_datastore(self):
        from trainyard.core.datastore import Datastore

        return Datastore._default(self)

    @property
    def datastores(self) -> dict:
        ds = self.get_default_datastore()
        return {ds.name: ds}

    @property
    def compute_targets(self) -> dict:
        from trainyard.api.constants import COMPUTE_CLUSTER
        from trainyard.core.compute import AmlCompute

        items = self._kube.list(COMPUTE_CLUSTER, self.namespace)
        return {c["metadata"]["name"]: AmlCompute._from_object(self, c) for c in items}

    @property
    def experiments(self) -> dict:
        from trainyard.api.constants import TRAINING_RUN
        from trainyard.core.experiment import Experiment

        names = {r["spec"].get("experiment", "default") for r in self._kube.list(TRAINING_RUN, self.namespace)}
        return {n: Experiment(self, n) for n in sorted(names)}

    @property
    def models(self) -> dict:
        from trainyard.core.model import Model

        return {m.name: m for m in Model.list(self)}

    # -- the object store --------------------------------------------------------------------------

    def _store(self):
        """(StoreConfig, minio client), checked once: UserErrorException with one line if the
        store is not configured or not reachable."""
        if self._store_pair is None:
            from trainyard.storage.config import StoreConfig, StoreError

            try:
                cfg = StoreConfig.from_env(_config.store_env(self._cfg))
                client = cfg.client(connect_timeout=3.0, read_timeout=60.0)
                cfg.check(client)
            except StoreError as exc:
                raise UserErrorException(f"{exc} (set it in the workspace config's store, or TRAINYARD_S3_*)") from None
            self._store_pair = (cfg, client)
        return self._store_pair

    @property
    def _bucket(self) -> str:
        return _config.store_env(self._cfg).get("TRAINYARD_S3_BUCKET") or "trainyard"
