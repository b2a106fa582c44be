"""The main step of a run's pod: run the entry script, then ship what it produced.

    python -m trainyard.runtime.run

The script runs in the code directory with TRAINYARD_INPUT_<NAME> set and `$(VAR)` expanded in its
arguments; its stdout/stderr go to the pod log and to ./logs/std_log.txt; SIGTERM and SIGINT are
forwarded to it. While it runs, a reporter publishes metrics (see reporter.py). After it exits,
whatever the exit code, ./outputs and ./logs go to runs/<ns>/<run>/ with manifest.json (path,
size, sha256 of each file), a termination message is written, and the runner exits with the
script's exit code (128+N if a signal N killed it).
"""

from __future__ import annotations

import collections
import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from trainyard.runtime import termination
from trainyard.runtime.config import RunConfig
from trainyard.runtime.expand import expand_args

TAIL_LINES = 20
LOG_NAME = "std_log.txt"
# Recorded in manifest.json, so a client loading the run's models can compare its own versions.
FRAMEWORK_PACKAGES = ("scikit-learn", "numpy", "scipy", "joblib")
_VERSIONS = f"""
import importlib.metadata as md, json, platform
def version(name):
    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None
packages = {{n: version(n) for n in {FRAMEWORK_PACKAGES!r}}}
print(json.dumps({{"python": platform.python_version(), "packages": {{k: v for k, v in packages.items() if v}}}}))
"""


def script_command(cfg: RunConfig, args: list[str]) -> list[str]:
    script = cfg.entry_script
    if script.endswith(".py"):
        return [cfg.python, "-u", script, *args]
    return [str(cfg.code_dir / script), *args]


def child_env(cfg: RunConfig, base: dict[str, str]) -> dict[str, str]:
    env = {**base, **cfg.input_env(), "TRAINYARD_METRICS_FILE": str(cfg.metrics_file), "PYTHONUNBUFFERED": "1"}
    return env


def environment(python: str) -> dict:
    """The Python and framework versions of the interpreter the script ran with (the image's, or
    the one `environment.pip` prepared): {"python": "3.11.2", "packages": {"scikit-learn": ...}}.
    A failure to ask is recorded as {"error": ...}, never a reason to fail the run."""
    try:
        proc = subprocess.run([python, "-c", _VERSIONS], capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:
            return json.loads(proc.stdout)
        return {"error": (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1][:300]}
    except (OSError, subprocess.TimeoutExpired, ValueError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


def exit_status(returncode: int) -> int:
    return 128 - returncode if returncode < 0 else returncode


class Tee:
    """Copies a child's output streams to our own streams and one log file, keeping the last
    lines of both together for the termination message."""

    def __init__(self, log_path: Path, tail: int = TAIL_LINES):
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "ab")
        self.lines: collections.deque[str] = collections.deque(maxlen=tail)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def follow(self, pipe, out) -> None:
        t = threading.Thread(target=self._pump, args=(pipe, out), daemon=True)
        t.start()
        self._threads.append(t)

    def _pump(self, pipe, out) -> None:
        partial = b""
        fd = pipe.fileno()
        while chunk := os.read(fd, 65536):
            with self._lock:
                out.write(chunk)
                out.flush()
                self.log.write(chunk)
                self.log.flush()
                *complete, partial = (partial + chunk).split(b"\n")
                self.lines.extend(line.decode(errors="replace").rstrip("\r") for line in complete)
        if partial:
            with self._lock:
                self.lines.append(partial.decode(errors="replace"))
        pipe.close()

    def close(self) -> list[str]:
        for t in self._threads:
            t.join()
        self.log.close()
        return list(self.lines)


def run_script(cfg: RunConfig, *, env: dict[str, str], out=None, err=None) -> tuple[int, list[str]]:
    """Run the entry script to completion, forwarding SIGTERM/SIGINT; (exit status, last lines)."""
    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    args = expand_args(cfg.args, env)
    tee = Tee(cfg.code_dir / "logs" / LOG_NAME)
    try:
        proc = subprocess.Popen(
            script_command(cfg, args),
            cwd=cfg.code_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        tee.close()
        msg = f"cannot start {cfg.entry_script}: {exc}"
        err.write(f"trainyard: {msg}\n".encode())
        return 127, [msg]

    def forward(signum, _frame):
        try:
            os.killpg(proc.pid, signum)  # the script and anything it started
        except ProcessLookupError:
            pass

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        tee.follow(proc.stdout, out)
        tee.follow(proc.stderr, err)
        code = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return exit_status(code), tee.close()


@dataclasses.dataclass
class Shipped:
    entries: list[dict]
    manifest_uri: str
    artifacts_uri: str


def ship(cfg: RunConfig, transfer, bucket: str, exit_code: int) -> Shipped:
    """Upload ./outputs and ./logs to the run's prefix, then manifest.json describing them and
    the files the script uploaded itself through the SDK."""
    from trainyard.runtime import metrics
    from trainyard.storage import layout
    from trainyard.storage.retry import with_retries
    from trainyard.storage.uri import S3Uri

    prefix = S3Uri(bucket, layout.run_prefix(cfg.namespace, cfg.run_name, cfg.run_uid))
    entries = []
    for sub in ("outputs", "logs"):
        found, _ = transfer.upload_dir(cfg.code_dir / sub, prefix.join(sub + "/"), name_prefix=sub + "/")
        entries += [dataclasses.asdict(e) for e in found]
    shipped = {e["path"] for e in entries}
    entries += [
        {"path": f["name"], "size": f["size"], "sha256": f["sha256"]}
        for f in metrics.files(metrics.read(cfg.metrics_file))
        if f["name"] not in shipped
    ]
    entries.sort(key=lambda e: e["path"])
    manifest = {
        "run": cfg.run_name,
        "uid": cfg.run_uid,
        "namespace": cfg.namespace,
        "experiment": cfg.experiment,
        "exitCode": exit_code,
        "environment": environment(cfg.python),
        "files": entries,
    }
    data = json.dumps(manifest, indent=1).encode()
    key = layout.run_manifest_key(cfg.namespace, cfg.run_name, cfg.run_uid)
    with_retries(
        lambda: transfer.client.put_object(bucket, key, io.BytesIO(data), len(data), content_type="application/json"),
        what=f"put {key}",
    )
    return Shipped(entries, str(S3Uri(bucket, key)), str(prefix))


def result_message(exit_code: int, tail: list[str], shipped: Shipped | None, upload_error: str | None) -> dict:
    reason = termination.COMPLETED if exit_code == 0 else termination.SCRIPT_FAILED
    if upload_error and exit_code == 0:
        reason = termination.OUTPUT_UPLOAD_FAILED
    msg = {"reason": reason, "exitCode": exit_code, "lastLogLines": tail}
    if upload_error:
        msg["message"] = f"uploading outputs failed: {upload_error}"
    if shipped:
        outputs = [e for e in shipped.entries if e["path"].startswith("outputs/")]
        msg.update(
            artifactsUri=shipped.artifacts_uri,
            manifest=shipped.manifest_uri,
            outputCount=len(outputs),
            outputBytes=sum(e["size"] for e in outputs),
            outputs=outputs,
        )
    return msg
