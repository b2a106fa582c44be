"""The run's configuration, read from the pod's environment into a dataclass.

The operator's Job builder sets exactly these variables on both the init container
(`python -m trainyard.runtime.stage`) and the main container (`python -m trainyard.runtime.run`);
both containers mount the same volume at TRAINYARD_WORKDIR.

Run identity
    TRAINYARD_RUN_NAME          the TrainingRun's name; unset means "not in a run" (SDK offline)
    TRAINYARD_RUN_NAMESPACE     its namespace (default: default)
    TRAINYARD_EXPERIMENT        spec.experiment (default: default)
    TRAINYARD_PRIMARY_METRIC    spec.primaryMetric; empty means the first metric logged
    TRAINYARD_RUN_UID           the TrainingRun's uid (recorded in the manifest)
Code
    TRAINYARD_SOURCE            spec.source as JSON, exactly as in the resource:
                                {"snapshot": "s3://bucket/snapshots/<sha256>.tar.gz"},
                                {"git": {"url": ..., "revision": ..., "path": ...}} or
                                {"configMap": {"name": ...}} (then the files are read from
                                TRAINYARD_SOURCE_DIR, default /trainyard/source, where the Job
                                builder mounts the ConfigMap). For hand-written pods the short
                                forms work too: s3://…tar.gz, git+<url>, or a directory path
                                (then TRAINYARD_SOURCE_REVISION / TRAINYARD_SOURCE_PATH give the
                                git revision and sub-directory).
    TRAINYARD_ENTRY_SCRIPT      spec.entryScript, relative to the code directory
    TRAINYARD_ARGS              spec.args as a JSON list of strings (default [])
Data
    TRAINYARD_INPUTS            spec.inputs as a JSON list of {"name", "uri", "mode"} (default [])
Paths (defaults suit a pod; all may be overridden)
    TRAINYARD_WORKDIR           shared volume; code lands here (default /workspace)
    TRAINYARD_DATA_DIR          inputs land in <data dir>/<name> (default <workdir>/inputs)
    TRAINYARD_CACHE_DIR         node-local object cache (default <workdir>/.trainyard/cache); put it
                                on the same filesystem as the data dir so inputs are hardlinked
    TRAINYARD_TERMINATION_LOG   where the termination message goes (default /dev/termination-log)
Tuning
    TRAINYARD_TRANSFER_WORKERS  parallel transfers (default 16)
    TRAINYARD_RANGED_GET_MIB    fetch objects at least this big as parallel ranged GETs (default off)
    TRAINYARD_METRICS_INTERVAL  seconds between metric reports (default 2)
    TRAINYARD_PYTHON            interpreter for .py entry scripts (default: the runtime's own)
Object store (from the operator's Secret): TRAINYARD_S3_ENDPOINT, TRAINYARD_S3_ACCESS_KEY,
    TRAINYARD_S3_SECRET_KEY, TRAINYARD_S3_BUCKET, TRAINYARD_S3_REGION, TRAINYARD_S3_SECURE
Kubernetes API (defaults: the pod's service account; see trainyard.runtime.kubeapi):
    TRAINYARD_KUBE_API, TRAINYARD_KUBE_TOKEN_FILE, TRAINYARD_KUBE_CA_FILE,
    TRAINYARD_KUBE_CLIENT_CERT, TRAINYARD_KUBE_CLIENT_KEY

Set by the runner for the script: TRAINYARD_INPUT_<NAME> (where input <name> was staged) and
TRAINYARD_METRICS_FILE (where the SDK appends metric records).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

MODES = ("download", "mount")
DEFAULT_SOURCE_DIR = "/trainyard/source"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """The environment does not describe a runnable run; the message names the variable."""


@dataclasses.dataclass(frozen=True)
class InputSpec:
    name: str
    uri: str
    mode: str = "download"

    @property
    def env_name(self) -> str:
        return f"TRAINYARD_INPUT_{self.name.upper()}"


def _json_list(env: Mapping[str, str], var: str) -> list:
    raw = env.get(var, "").strip()
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{var} is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise ConfigError(f"{var} must be a JSON list, got {type(value).__name__}")
    return value


def parse_inputs(env: Mapping[str, str]) -> tuple[InputSpec, ...]:
    inputs = []
    for i, item in enumerate(_json_list(env, "TRAINYARD_INPUTS")):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("uri"), str):
            raise ConfigError(f"TRAINYARD_INPUTS[{i}] needs string fields name and uri, got {item!r}")
        spec = InputSpec(item["name"], item["uri"], item.get("mode") or "download")
        if not _NAME.match(spec.name):
            raise ConfigError(f"TRAINYARD_INPUTS[{i}].name {spec.name!r} must match {_NAME.pattern}")
        if spec.mode not in MODES:
            raise ConfigError(f"TRAINYARD_INPUTS[{i}].mode {spec.mode!r} must be one of {', '.join(MODES)}")
        if spec.name in {s.name for s in inputs}:
            raise ConfigError(f"TRAINYARD_INPUTS[{i}].name {spec.name!r} is used twice")
        inputs.append(spec)
    return tuple(inputs)


def parse_source(env: Mapping[str, str]) -> tuple[str, str, str]:
    """(source in short form, git revision, git sub-directory) from TRAINYARD_SOURCE."""
    raw = env.get("TRAINYARD_SOURCE", "").strip()
    revision, path = env.get("TRAINYARD_SOURCE_REVISION") or "HEAD", env.get("TRAINYARD_SOURCE_PATH", "")
    if not raw.startswith("{"):
        return raw, revision, path
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"TRAINYARD_SOURCE is not valid JSON: {exc}") from None
    if isinstance(obj.get("snapshot"), str):
        return obj["snapshot"], revision, path
    git = obj.get("git")
    if isinstance(git, dict) and isinstance(git.get("url"), str):
        return "git+" + git["url"], git.get("revision") or "HEAD", git.get("path") or ""
    if isinstance(obj.get("configMap"), dict):
        return env.get("TRAINYARD_SOURCE_DIR") or DEFAULT_SOURCE_DIR, revision, path
    raise ConfigError(f"TRAINYARD_SOURCE needs one of snapshot, git.url, configMap; got {raw[:200]}")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    run_name: str | None
    run_uid: str = ""
    namespace: str = "default"
    experiment: str = "default"
    source: str = ""
    source_revision: str = "HEAD"
    source_path: str = ""
    entry_script: str = ""
    args: tuple[str, ...] = ()
    inputs: tuple[InputSpec, ...] = ()
    workdir: Path = Path("/workspace")
    data_dir: Path = Path("/workspace/inputs")
    cache_dir: Path = Path("/workspace/.trainyard/cache")
    termination_log: Path = Path("/dev/termination-log")
    primary_metric: str = ""
    transfer_workers: int = 16
    ranged_get_mib: int | None = None
    metrics_interval: float = 2.0
    python: str = sys.executable

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RunConfig:
        env = os.environ if env is None else env
        args = _json_list(env, "TRAINYARD_ARGS")
        if not all(isinstance(a, str) for a in args):
            raise ConfigError("TRAINYARD_ARGS must be a JSON list of strings")
        workdir = Path(env.get("TRAINYARD_WORKDIR") or "/workspace")
        source, revision, source_path = parse_source(env)
        source_path = source_path.strip("/")
        if source_path and ".." in source_path.split("/"):
            raise ConfigError(f"the source path must not contain '..': {source_path!r}")
        return cls(
            run_name=env.get("TRAINYARD_RUN_NAME") or None,
            namespace=env.get("TRAINYARD_RUN_NAMESPACE") or "default",
            experiment=env.get("TRAINYARD_EXPERIMENT") or "default",
            run_uid=env.get("TRAINYARD_RUN_UID", ""),
            source=source,
            source_revision=revision,
            source_path=source_path,
            entry_script=env.get("TRAINYARD_ENTRY_SCRIPT", ""),
            args=tuple(args),
            inputs=parse_inputs(env),
            workdir=workdir,
            data_dir=Path(env.get("TRAINYARD_DATA_DIR") or workdir / "inputs"),
            cache_dir=Path(env.get("TRAINYARD_CACHE_DIR") or workdir / ".trainyard" / "cache"),
            termination_log=Path(env.get("TRAINYARD_TERMINATION_LOG") or "/dev/termination-log"),
            primary_metric=env.get("TRAINYARD_PRIMARY_METRIC", ""),
            transfer_workers=_number(env, "TRAINYARD_TRANSFER_WORKERS", 16, int),
            metrics_interval=_number(env, "TRAINYARD_METRICS_INTERVAL", 2.0, float),
            ranged_get_mib=_number(env, "TRAINYARD_RANGED_GET_MIB", None, int),
            python=env.get("TRAINYARD_PYTHON") or sys.executable,
        )

    @property
    def code_dir(self) -> Path:
        """Where the entry script runs: the workdir, or the git sub-directory in it."""
        return self.workdir / self.source_path if self.source_path else self.workdir

    @property
    def metrics_file(self) -> Path:
        return self.workdir / ".trainyard" / "metrics.jsonl"

    def input_dir(self, spec: InputSpec) -> Path:
        return self.data_dir / spec.name

    def input_env(self) -> dict[str, str]:
        """TRAINYARD_INPUT_<NAME> for every input: where the init step staged it."""
        return {s.env_name: str(self.input_dir(s)) for s in self.inputs}


def _number(env: Mapping[str, str], var: str, default, kind):
    raw = env.get(var)
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{var} must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{var} must be positive, got {raw!r}")
    return value
