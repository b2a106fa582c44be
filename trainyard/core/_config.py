"""The workspace config file: where it is found and what it holds (pure apart from reading files).

Azure ML's `Workspace.from_config()` reads `config.json` (subscription, resource group, workspace)
from the current folder, a `.azureml/` folder, or any parent. trainyard's file sits in the same
places — `.trainyard/config.json` or `config.json`, searched upward from the current directory —
and says which cluster, namespace and object store make the workspace:

    {
      "workspace_name": "tutorials",                  # optional; default: the namespace
      "kubeconfig": "~/.kube/config",                  # optional; default $KUBECONFIG, ~/.kube/config
      "context": "trainyard-local",                   # optional; default the kubeconfig's current one
      "namespace": "default",
      "store": {"env_file": "objectstore.env"},       # or endpoint/bucket/access_key/secret_key
      "datastore_prefix": "datasets/",                # optional: where ds.upload() writes
      "compute": {"provider": "static",               # optional: for ComputeTarget.create
                  "nodeSelector": {"trainyard.dev/pool": "default"},
                  "vm_sizes": {"STANDARD_D2_V2": {"trainyard.dev/pool": "default"}}}
    }

Relative paths are relative to the file. TRAINYARD_S3_* variables set in the environment override
the file's store settings, as for the CLI.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path

from trainyard.core.exceptions import UserErrorException

CONFIG_CANDIDATES = (Path(".trainyard") / "config.json", Path("config.json"))
DEFAULT_DATASTORE_PREFIX = "datasets/"
_STORE_KEYS = {
    "endpoint": "TRAINYARD_S3_ENDPOINT",
    "access_key": "TRAINYARD_S3_ACCESS_KEY",
    "secret_key": "TRAINYARD_S3_SECRET_KEY",
    "bucket": "TRAINYARD_S3_BUCKET",
    "region": "TRAINYARD_S3_REGION",
    "secure": "TRAINYARD_S3_SECURE",
}
_KNOWN = {"workspace_name", "name", "kubeconfig", "context", "namespace", "store", "datastore_prefix", "compute"}
HOW_TO = "see docs/azureml-migration.md#the-workspace-config-file"


@dataclasses.dataclass(frozen=True)
class WorkspaceConfig:
    namespace: str = "default"
    name: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    store: Mapping[str, str] = dataclasses.field(default_factory=dict)
    datastore_prefix: str = DEFAULT_DATASTORE_PREFIX
    compute: Mapping = dataclasses.field(default_factory=dict)
    path: Path | None = None

    @property
    def workspace_name(self) -> str:
        return self.name or self.namespace


def find(path: str | os.PathLike | None = None, cwd: Path | None = None) -> Path:
    """The config file: `path` itself if it is a file, else the first candidate in `path` (or the
    current directory and then each parent)."""
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            for cand in CONFIG_CANDIDATES:
                if (p / cand).is_file():
                    return p / cand
        raise UserErrorException(f"no workspace config at {p} (write .trainyard/config.json there; {HOW_TO})")
    start = (cwd or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        for cand in CONFIG_CANDIDATES:
            if (folder / cand).is_file():
                return folder / cand
    raise UserErrorException(
        f"no workspace config found in {start} or its parents: write .trainyard/config.json "
        f'with at least {{"namespace": "default"}} ({HOW_TO})'
    )


def parse(data: object, where: Path | None = None) -> WorkspaceConfig:
    """A WorkspaceConfig from the file's JSON object; unknown or Azure-only keys are refused
    with the one line that explains them."""
    label = str(where) if where else "the workspace config"
    if not isinstance(data, dict):
        raise UserErrorException(f"{label} must hold a JSON object")
    if "subscription_id" in data and "namespace" not in data:
        raise UserErrorException(
            f"{label} is an Azure ML workspace config (subscription_id, resource_group); trainyard needs "
            f'the cluster\'s namespace and store instead, e.g. {{"namespace": "default"}} ({HOW_TO})'
        )
    unknown = sorted(set(data) - _KNOWN - {"subscription_id", "resource_group"})
    if unknown:
        raise UserErrorException(f"{label}: unknown key(s) {', '.join(unknown)} ({HOW_TO})")
    ns = data.get("namespace") or "default"
    if not isinstance(ns, str):
        raise UserErrorException(f"{label}: namespace must be a string")
    base = where.parent if where else Path.cwd()

    def rel(p: str | None) -> str | None:
        if not p:
            return None
        q = Path(os.path.expanduser(p))
        return str(q if q.is_absolute() else (base / q))

    store = dict(data.get("store") or {})
    if not isinstance(data.get("store") or {}, dict):
        raise UserErrorException(f"{label}: store must be an object ({HOW_TO})")
    bad = sorted(set(store) - set(_STORE_KEYS) - {"env_file"})
    if bad:
        raise UserErrorException(f"{label}: unknown store key(s) {', '.join(bad)} ({HOW_TO})")
    if store.get("env_file"):
        store["env_file"] = rel(store["env_file"])
    prefix = data.get("datastore_prefix", DEFAULT_DATASTORE_PREFIX) or ""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return WorkspaceConfig(
        namespace=ns,
        name=data.get("workspace_name") or data.get("name"),
        kubeconfig=rel(data.get("kubeconfig")),
        context=data.get("context"),
        store={k: str(v) for k, v in store.items()},
        datastore_prefix=prefix.lstrip("/"),
        compute=dict(data.get("compute") or {}),
        path=where,
    )


def load(path: str | os.PathLike | None = None) -> WorkspaceConfig:
    where = find(path)
    try:
        data = json.loads(where.read_text())
    except ValueError as exc:
        raise UserErrorException(f"{where} is not valid JSON: {exc}") from None
    return parse(data, where)


def read_env_file(path: str) -> dict[str, str]:
    """`export KEY=value` / `KEY=value` lines (what `trainyard local up` writes to objectstore.env)."""
    out = {}
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UserErrorException(f"cannot read the store's env_file {path}: {exc.strerror}") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.removeprefix("export ").partition("=")
        if sep:
            out[key.strip()] = value.strip().strip("'\"")
    return out


def store_env(cfg: WorkspaceConfig, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The TRAINYARD_S3_* settings of the workspace: env_file, then the file's own keys, then the
    process environment on top."""
    environ = os.environ if environ is None else environ
    env: dict[str, str] = {}
    if cfg.store.get("env_file"):
        env.update({k: v for k, v in read_env_file(cfg.store["env_file"]).items() if k.startswith("TRAINYARD_S3_")})
    env.update({_STORE_KEYS[k]: v for k, v in cfg.store.items() if k in _STORE_KEYS})
    env.update({k: v for k, v in environ.items() if k.startswith("TRAINYARD_S3_") and v})
    return env
