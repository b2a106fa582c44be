"""Starting, probing and stopping the daemons of a local cluster, by PID."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path


class StartError(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_listening(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def spawn(argv: list[str], log: Path, *, env: dict[str, str] | None = None, cwd: Path | None = None) -> int:
    """Start a daemon in its own session (it outlives the caller) with output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            argv,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) is not alive.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            return False
    except (FileNotFoundError, IndexError):
        return False
    return True


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""


def stop(pid: int, expect_in_cmdline: str, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; only if the PID still runs what we started
    (a PID can be reused after a reboot)."""
    if not alive(pid) or expect_in_cmdline not in cmdline(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    while alive(pid):
        time.sleep(0.05)


def log_tail(log: Path, lines: int = 25) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def http_ok(url: str, *, context: ssl.SSLContext | None = None, expect: bytes | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=context) as resp:
            body = resp.read()
            return resp.status == 200 and (expect is None or expect in body)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ssl.SSLError, OSError):
        return False


def wait_until(
    check: Callable[[], bool], *, what: str, pid: int | None = None, log: Path | None = None, timeout: float = 90.0
) -> float:
    """Poll `check` with a growing interval; fail early if `pid` died. Returns seconds waited."""
    started = time.monotonic()
    delay = 0.05
    while True:
        if check():
            return time.monotonic() - started
        if pid is not None and not alive(pid):
            raise StartError(f"{what} exited during start-up; last log lines:\n{log_tail(log) if log else ''}")
        if time.monotonic() - started > timeout:
            raise StartError(f"{what} not ready after {timeout:.0f}s; last log lines:\n{log_tail(log) if log else ''}")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def client_tls(ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if cert and key:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


def insecure_tls() -> ssl.SSLContext:
    """For the /healthz of controller-manager and scheduler, which serve self-signed certs."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
