"""The SDK a training script uses, shaped like Azure ML's `Run`:

    from trainyard import Run
    run = Run.get_context()
    run.log("accuracy", 0.92)

In a run (TRAINYARD_RUN_NAME set by the pod) each call appends a record to the metrics file the
runner follows and ships. Offline (plain `python train.py`) the same calls work and keep their
records in ./.trainyard/runs/<id>/, so one script runs locally first and remotely next.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
import sys
import threading
import time
from pathlib import Path, PurePosixPath

from trainyard.runtime import metrics

OFFLINE_DIR = Path(".trainyard") / "runs"


def _safe_name(name: str) -> str:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts:
        raise ValueError(f"artifact name must be a relative path without '..', got {name!r}")
    return p.as_posix()


class Run:
    """One run's context: metrics, tags and files."""

    _context: Run | None = None
    _lock = threading.Lock()

    def __init__(
        self,
        *,
        id: str,
        experiment: str,
        metrics_file: Path,
        offline: bool,
        namespace: str = "default",
        files_dir: Path | None = None,
        uid: str = "",
    ):
        self.id, self.experiment, self.namespace, self.uid = id, experiment, namespace, uid
        self.metrics_file, self.offline, self.files_dir = Path(metrics_file), offline, files_dir
        self._store = None

    def __repr__(self) -> str:
        return f"Run(id={self.id!r}, experiment={self.experiment!r}, offline={self.offline})"

    @property
    def name(self) -> str:
        return self.id

    @classmethod
    def get_context(cls) -> Run:
        """The current run: the pod's when inside a TrainingRun, else a new offline run."""
        with cls._lock:
            if cls._context is None:
                cls._context = cls._from_env(os.environ)
            return cls._context

    @classmethod
    def _from_env(cls, env) -> Run:
        name = env.get("TRAINYARD_RUN_NAME")
        experiment = env.get("TRAINYARD_EXPERIMENT") or "default"
        if name:
            workdir = Path(env.get("TRAINYARD_WORKDIR") or "/workspace")
            path = env.get("TRAINYARD_METRICS_FILE") or workdir / ".trainyard" / "metrics.jsonl"
            return cls(
                id=name,
                experiment=experiment,
                metrics_file=Path(path),
                offline=False,
                namespace=env.get("TRAINYARD_RUN_NAMESPACE") or "default",
                uid=env.get("TRAINYARD_RUN_UID", ""),
            )
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")
        run_id = f"offline-{stamp}-{secrets.token_hex(3)}"
        folder = OFFLINE_DIR / run_id
        print(f"trainyard: offline run {run_id}; metrics in {folder / 'metrics.jsonl'}", file=sys.stderr)
        return cls(
            id=run_id,
            experiment=experiment,
            metrics_file=Path.cwd() / folder / "metrics.jsonl",
            offline=True,
            files_dir=Path.cwd() / folder / "files",
        )

    # -- recording -------------------------------------------------------------------------------

    def _record(self, kind: str, **fields) -> None:
        metrics.append(self.metrics_file, {"t": round(time.time(), 3), "kind": kind, **fields})

    def log(self, name: str, value, description: str = "") -> None:
        """Log a value (a number, string or bool); logging a name again makes it a series."""
        self._record("metric", name=name, value=value, **({"description": description} if description else {}))

    def log_list(self, name: str, value, description: str = "") -> None:
        self._record("list", name=name, values=list(value), **({"description": description} if description else {}))

    def log_row(self, name: str, description: str | None = None, **kwargs) -> None:
        self._record("row", name=name, row=kwargs, **({"description": description} if description else {}))

    def tag(self, key: str, value=None) -> None:
        self._record("tag", key=key, value="" if value is None else str(value))

    def set_tags(self, tags: dict) -> None:
        for k, v in tags.items():
            self.tag(k, v)

    def upload_file(self, name: str, path_or_stream) -> None:
        """Store a file as artifact `name` (e.g. "outputs/model.pkl"): to the run's prefix in the
        object store in a run, to ./.trainyard/runs/<id>/files offline."""
        name = _safe_name(name)
        data = path_or_stream.read() if hasattr(path_or_stream, "read") else Path(path_or_stream).read_bytes()
        if isinstance(data, str):
            data = data.encode()
        if self.offline:
            target = self.files_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        else:
            self._put(name, data)
        self._record("file", name=name, size=len(data), sha256=hashlib.sha256(data).hexdigest())

    def _put(self, name: str, data: bytes) -> None:
        import io

        from trainyard.storage import layout
        from trainyard.storage.config import StoreConfig
        from trainyard.storage.retry import with_retries

        if self._store is None:
            cfg = StoreConfig.from_env()
            self._store = (cfg, cfg.client())
        cfg, client = self._store
        key = layout.run_prefix(self.namespace, self.id, self.uid) + name
        with_retries(lambda: client.put_object(cfg.bucket, key, io.BytesIO(data), len(data)), what=f"put {key}")

    # -- reading back ----------------------------------------------------------------------------

    def get_metrics(self, name: str | None = None) -> dict:
        """{name: value}, or {name: [values...]} for a name logged more than once."""
        out = metrics.aggregate(metrics.read(self.metrics_file))
        return {name: out[name]} if name is not None and name in out else ({} if name is not None else out)

    def get_tags(self) -> dict:
        return metrics.tags(metrics.read(self.metrics_file))

    def get_file_names(self) -> list[str]:
        """Uploaded artifacts plus what is in ./outputs and ./logs now (shipped at the end)."""
        names = {f["name"] for f in metrics.files(metrics.read(self.metrics_file))}
        for sub in ("outputs", "logs"):
            root = Path(sub)
            if root.is_dir():
                names |= {p.as_posix() for p in root.rglob("*") if p.is_file()}
        return sorted(names)

    def register_model(
        self,
        model_name: str,
        model_path: str,
        *,
        framework: str | None = None,
        framework_version: str | None = None,
        resources: dict | None = None,
        description: str | None = None,
        tags: dict | None = None,
        **azure_kwargs,
    ):
        """Register `model_path` (a file this run writes under ./outputs) as model `model_name`:
        a RegisteredModel whose source is this run. Azure ML's `model_framework`,
        `model_framework_version` and `resource_configuration` (with `.cpu`, `.memory_in_gb`) are
        accepted too. The version is assigned once this run has completed and its outputs are
        uploaded; the returned reference's `version` is therefore None."""
        from trainyard.runtime import registry_client
        from trainyard.runtime.kubeapi import KubeTarget

        framework = framework or _framework_name(azure_kwargs.pop("model_framework", None))
        framework_version = framework_version or azure_kwargs.pop("model_framework_version", None)
        resources = resources or _resources(azure_kwargs.pop("resource_configuration", None))
        if azure_kwargs:
            raise TypeError(f"register_model() got unexpected arguments: {', '.join(sorted(azure_kwargs))}")
        path = _safe_name(model_path)
        if self.offline:
            raise RuntimeError(
                "register_model needs a run on a cluster (this is an offline run); after "
                f"submitting, use `trainyard register RUN {path} --name {model_name}`"
            )
        target = KubeTarget.from_env()
        if target is None:
            raise RuntimeError("register_model: no Kubernetes API known to this pod (TRAINYARD_KUBE_API)")
        body = registry_client.model_body(
            model_name,
            self.namespace,
            self.id,
            path,
            framework=framework,
            framework_version=framework_version,
            resources=resources,
            description=description,
            tags=tags,
        )
        registry_client.apply(target, body)
        self._record("model", name=model_name, path=path)
        return registry_client.ModelRef(model_name, self.namespace)

    def complete(self) -> None:
        """Kept for Azure ML scripts; the runner completes the run when the script exits."""

    def flush(self) -> None:
        """Records are written as they are logged; nothing to flush."""


def _framework_name(value) -> str | None:
    """Azure ML's Model.Framework.SCIKITLEARN is the string "ScikitLearn"; accept it loosely."""
    if value is None:
        return None
    text = str(getattr(value, "value", value))
    return "ScikitLearn" if text.replace("-", "").replace("_", "").lower() == "scikitlearn" else "Custom"


def _resources(config) -> dict | None:
    """An Azure ML ResourceConfiguration(cpu=1, memory_in_gb=0.5), or a dict, as Kubernetes quantities."""
    if config is None:
        return None
    if isinstance(config, dict):
        return dict(config)
    out = {}
    if getattr(config, "cpu", None) is not None:
        out["cpu"] = str(config.cpu)
    if getattr(config, "memory_in_gb", None) is not None:
        out["memory"] = f"{int(float(config.memory_in_gb) * 1024)}Mi"
    return out or None


def reset_context() -> None:
    """Forget the current run (tests; a forked worker that wants its own)."""
    with Run._lock:
        Run._context = None
