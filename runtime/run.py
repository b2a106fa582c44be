"""Entry point of a run's main container: `python -m trainyard.runtime.run` (see runner.py)."""

from __future__ import annotations

import io
import logging
import os
import sys
from pathlib import Path

from trainyard.api import trainingrun as tr
from trainyard.runtime import termination
from trainyard.runtime.config import ConfigError, RunConfig
from trainyard.runtime.reporter import MetricsReporter
from trainyard.runtime.runner import child_env, result_message, run_script, ship


def _say(text: str) -> None:
    print(f"trainyard: {text}", file=sys.stderr, flush=True)


def build_reporter(cfg: RunConfig, store, client) -> MetricsReporter:
    from trainyard.runtime.kubeapi import KubeTarget, StatusPatcher
    from trainyard.storage import layout

    patch = upload = None
    if cfg.run_name:
        target = KubeTarget.from_env()
        if target:
            patch = StatusPatcher(target, cfg.namespace, cfg.run_name).patch
        else:
            _say("no Kubernetes API configured: metrics are not reported to the run's status")
        if client is not None:
            key = layout.run_metrics_key(cfg.namespace, cfg.run_name, cfg.run_uid)

            def upload(data: bytes) -> None:
                client.put_object(store.bucket, key, io.BytesIO(data), len(data), content_type="application/x-ndjson")

    return MetricsReporter(
        cfg.metrics_file, interval=cfg.metrics_interval, primary=cfg.primary_metric, patch=patch, upload=upload
    )


def report_stage(cfg: RunConfig, step: str, env: dict[str, str] | None = None) -> bool:
    """Tell the run's status which step this pod is in ({pod, step}): while it installs
    environment.pip its `run` container is running, but the script is not. Best effort: the phase
    is only less precise when the API cannot be reached."""
    from trainyard.runtime.kubeapi import KubeError, KubeTarget, StatusPatcher

    env = dict(os.environ) if env is None else env
    target = KubeTarget.from_env(env) if cfg.run_name else None
    if target is None:
        return False
    try:
        StatusPatcher(target, cfg.namespace, cfg.run_name).patch(
            {tr.STAGE: {"pod": env.get("TRAINYARD_POD_NAME", ""), "step": step}}
        )
        return True
    except KubeError as exc:
        _say(f"could not report step {step!r} to the run's status: {exc}")
        return False


def _with_environment(cfg: RunConfig) -> RunConfig:
    """`environment.pip`: the interpreter that has the requirements (runtime/pipenv.py)."""
    import dataclasses

    from trainyard.runtime import pipenv

    reqs = pipenv.requirements(dict(os.environ))
    if not reqs:
        return cfg
    reported = report_stage(cfg, tr.STAGE_ENVIRONMENT)
    cfg = dataclasses.replace(cfg, python=pipenv.prepare(reqs, cfg.cache_dir, say=_say))
    if reported:
        report_stage(cfg, tr.STAGE_SCRIPT)
    return cfg


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="trainyard: %(message)s")
    try:
        cfg = RunConfig.from_env()
        if not cfg.entry_script:
            raise ConfigError("TRAINYARD_ENTRY_SCRIPT is not set")
    except ConfigError as exc:
        _say(str(exc))
        termination.write(
            Path(os.environ.get("TRAINYARD_TERMINATION_LOG") or "/dev/termination-log"),
            {"reason": termination.INVALID_CONFIG, "message": str(exc)},
        )
        return 2

    from trainyard.storage.cache import ObjectCache
    from trainyard.storage.config import StoreConfig, StoreError, describe
    from trainyard.storage.transfer import Transfer

    try:
        cfg = _with_environment(cfg)
    except Exception as exc:
        from trainyard.runtime import pipenv

        tail = getattr(exc, "tail", [])
        _say(f"environment failed: {exc}" + "".join(f"\n  {line}" for line in tail))
        termination.write(
            cfg.termination_log, {"reason": pipenv.ENVIRONMENT_FAILED, "message": str(exc), "lastLogLines": tail}
        )
        return 2

    store = client = None
    try:
        store = StoreConfig.from_env()
        client = store.client(max_connections=cfg.transfer_workers + 4)
    except StoreError as exc:
        _say(f"{exc}: outputs and metrics stay local")
    for sub in ("outputs", "logs"):
        (cfg.code_dir / sub).mkdir(parents=True, exist_ok=True)
    cfg.metrics_file.parent.mkdir(parents=True, exist_ok=True)

    reporter = build_reporter(cfg, store, client).start()
    try:
        code, tail = run_script(cfg, env=child_env(cfg, dict(os.environ)))
    finally:
        reporter.stop()

    shipped = error = None
    if cfg.run_name and client is not None:
        try:
            transfer = Transfer(client, cache=ObjectCache(cfg.cache_dir), workers=cfg.transfer_workers)
            shipped = ship(cfg, transfer, store.bucket, code)
            _say(f"uploaded {len(shipped.entries)} files to {shipped.artifacts_uri}")
        except Exception as exc:
            error = describe(exc)
            _say(f"uploading outputs failed: {error}")
    elif cfg.run_name:
        error = "object store not configured"
    msg = result_message(code, tail, shipped, error)
    termination.write(cfg.termination_log, msg)
    _say(f"{msg['reason']} (exit code {code})")
    return 1 if (error and code == 0) else code


if __name__ == "__main__":
    sys.exit(main())
