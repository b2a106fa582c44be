"""The init step of a run's pod: stage the code and every input, in parallel, then exit.

    python -m trainyard.runtime.stage

Code: a snapshot tarball (fetched through the node cache, checked against the SHA-256 in its
name, extracted safely), a git revision, or a mounted directory (a ConfigMap volume) copied in.
Inputs: each `s3://` prefix is mirrored into <data dir>/<name>. On failure the termination
message names what failed, e.g. {"reason": "DataStagingFailed", "input": "mnist", "message": ...},
and the exit status is 1 (2 for an unusable environment).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from trainyard.runtime import termination
from trainyard.runtime.config import ConfigError, InputSpec, RunConfig

GIT_TIMEOUT = 900


class StageError(Exception):
    def __init__(self, message: str, *, input: str | None = None, source: str | None = None):
        super().__init__(message)
        self.message, self.input, self.source = message, input, source

    def termination(self) -> dict:
        msg = {"reason": termination.DATA_STAGING_FAILED}
        if self.input is not None:
            msg["input"] = self.input
        if self.source is not None:
            msg["source"] = self.source
        msg["message"] = self.message
        return msg


def source_kind(source: str) -> str:
    if source.startswith("s3://"):
        return "snapshot"
    if source.startswith("git+"):
        return "git"
    if source.startswith("file://") or source.startswith("/"):
        return "dir"
    raise StageError(
        f"unsupported TRAINYARD_SOURCE {source!r}: expected s3://…tar.gz, git+<url> or a directory", source=source
    )


def check_modes(inputs: tuple[InputSpec, ...]) -> None:
    """`mode: mount` is accepted by the schema but not implemented yet: fail before any transfer."""
    for spec in inputs:
        if spec.mode != "download":
            raise StageError(
                f"input {spec.name!r} asks for mode: {spec.mode}, which is not supported yet; "
                "use mode: download (the default)",
                input=spec.name,
            )


# -- code ----------------------------------------------------------------------------------------


def stage_snapshot(transfer, uri: str, dest: Path) -> str:
    from trainyard.storage import layout, snapshot
    from trainyard.storage.transfer import TransferStats
    from trainyard.storage.uri import parse_s3

    s3 = parse_s3(uri)
    obj = transfer.stat(s3)
    if obj is None:
        raise StageError(f"snapshot {uri} does not exist")
    cached = transfer.fetch(obj, TransferStats())
    expected = layout.snapshot_sha256(s3.key)
    if expected:
        snapshot.verify_digest(cached, expected)
    count = snapshot.extract(cached, dest)
    return f"snapshot {uri}: {count} entries"


def _git(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=GIT_TIMEOUT)
    if check and proc.returncode != 0:
        raise StageError(f"git {args[0]} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    return proc


def stage_git(url: str, revision: str, dest: Path) -> str:
    """Fetch one revision into `dest` (which may already hold inputs or a previous attempt)."""
    if shutil.which("git") is None:
        raise StageError("git is not installed in the runtime image")
    dest.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", cwd=dest)
    _git("config", "remote.origin.url", url, cwd=dest)
    if _git("fetch", "-q", "--depth", "1", "origin", revision, cwd=dest, check=False).returncode == 0:
        target = "FETCH_HEAD"
    else:  # servers that refuse fetching a commit by id; fetch everything, then resolve
        _git("fetch", "-q", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=dest)
        target = revision
        if _git("rev-parse", "--verify", "-q", f"origin/{revision}", cwd=dest, check=False).returncode == 0:
            target = f"origin/{revision}"
    _git("checkout", "-q", "--force", target, cwd=dest)
    commit = _git("rev-parse", "HEAD", cwd=dest).stdout.strip()
    return f"git {url}@{revision}: {commit}"


def stage_dir(src: Path, dest: Path) -> str:
    """Copy a mounted directory (a ConfigMap volume) in, following its `..data` symlinks and
    leaving out the volume's `..`-prefixed bookkeeping entries."""
    if not src.is_dir():
        raise StageError(f"source directory {src} does not exist (is the ConfigMap mounted?)")
    skip = shutil.ignore_patterns("..*")
    count = 0
    for entry in sorted(src.iterdir()):
        if entry.name.startswith(".."):
            continue
        target = dest / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target, dirs_exist_ok=True, ignore=skip)
        else:
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(entry, target)
        count += 1
    return f"directory {src}: {count} entries"


def stage_source(cfg: RunConfig, transfer) -> str:
    from trainyard.storage.uri import parse

    kind = source_kind(cfg.source)
    try:
        if kind == "snapshot":
            return stage_snapshot(transfer, cfg.source, cfg.workdir)
        if kind == "git":
            return stage_git(cfg.source[len("git+") :], cfg.source_revision, cfg.workdir)
        return stage_dir(parse(cfg.source).path, cfg.workdir)
    except StageError as exc:
        exc.source = cfg.source
        raise
    except Exception as exc:
        raise StageError(_reason(exc), source=cfg.source) from exc


# -- inputs --------------------------------------------------------------------------------------


def stage_input(cfg: RunConfig, transfer, spec: InputSpec, pool) -> str:
    from trainyard.storage.uri import parse_s3

    try:
        stats = transfer.download(parse_s3(spec.uri), cfg.input_dir(spec), pool=pool)
    except Exception as exc:
        raise StageError(_reason(exc), input=spec.name) from exc
    return f"input {spec.name} ({spec.uri}) -> {cfg.input_dir(spec)}: {stats.summary()}"


def _reason(exc: BaseException) -> str:
    from trainyard.storage.config import describe

    if isinstance(exc, StageError):
        return exc.message
    text = describe(exc)
    if "connection refused" in text or "Max retries" in text or "NewConnectionError" in text:
        return f"object store unreachable: {text}"
    return text


@dataclasses.dataclass
class StageResult:
    lines: list[str]
    seconds: float


def stage(cfg: RunConfig, *, store=None, out=sys.stdout) -> StageResult:
    """Stage the code and the inputs; raises StageError naming the first thing that failed."""
    started = time.monotonic()
    check_modes(cfg.inputs)
    kind = source_kind(cfg.source) if cfg.source else None
    transfer = None
    if kind == "snapshot" or cfg.inputs:
        transfer = _transfer(cfg, store)
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    lines = []
    with (
        cf.ThreadPoolExecutor(cfg.transfer_workers, thread_name_prefix="trainyard-get") as objects,
        cf.ThreadPoolExecutor(1 + len(cfg.inputs), thread_name_prefix="trainyard-stage") as tasks,
    ):
        futures = [tasks.submit(stage_source, cfg, transfer)] if kind else []
        futures += [tasks.submit(stage_input, cfg, transfer, spec, objects) for spec in cfg.inputs]
        try:
            for fut in cf.as_completed(futures):
                lines.append(fut.result())
                print(f"trainyard: staged {lines[-1]}", file=out, flush=True)
        except BaseException:
            for fut in futures:
                fut.cancel()
            objects.shutdown(wait=False, cancel_futures=True)
            raise
    return StageResult(lines, time.monotonic() - started)


def _transfer(cfg: RunConfig, store):
    from trainyard.storage.cache import ObjectCache
    from trainyard.storage.config import StoreConfig, StoreError
    from trainyard.storage.transfer import Transfer

    try:
        store = store or StoreConfig.from_env()
    except StoreError as exc:
        raise StageError(str(exc)) from None
    client = store.client(max_connections=cfg.transfer_workers + 4)
    threshold = cfg.ranged_get_mib * 1024 * 1024 if cfg.ranged_get_mib else None
    return Transfer(client, cache=ObjectCache(cfg.cache_dir), workers=cfg.transfer_workers, range_threshold=threshold)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="trainyard: %(message)s")
    try:
        cfg = RunConfig.from_env()
    except ConfigError as exc:
        print(f"trainyard: {exc}", file=sys.stderr)
        termination.write(
            Path(os.environ.get("TRAINYARD_TERMINATION_LOG") or "/dev/termination-log"),
            {"reason": termination.INVALID_CONFIG, "message": str(exc)},
        )
        return 2
    try:
        result = stage(cfg)
    except StageError as exc:
        msg = exc.termination()
        print(f"trainyard: staging failed: {termination.encode(msg)}", file=sys.stderr, flush=True)
        termination.write(cfg.termination_log, msg)
        return 1
    print(f"trainyard: staged in {result.seconds:.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
