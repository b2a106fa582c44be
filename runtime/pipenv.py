"""`environment.pip` of a TrainingRun: the script's Python environment (Azure ML's Environment
from a pip/conda spec), resolved in the run container before the script starts.

- Requirements already satisfied by the image (pip's own resolver decides: a `--dry-run
  --no-index` install that would install nothing) run on the image's interpreter: no network,
  no new environment — the curated-image case.
- Otherwise a virtualenv layered on the image (its site-packages stay visible through a `.pth`
  file) is created under the node cache, keyed by the requirements and the image's interpreter,
  and pip installs only what is missing. Later runs with the same spec on that node reuse it.
  pip reads its index settings from the environment as usual, so a cluster without internet
  access points `PIP_FIND_LINKS` / `PIP_NO_INDEX` / `PIP_INDEX_URL` at a wheelhouse or mirror.

A failed install ends the run with reason EnvironmentFailed and pip's last lines.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import site
import subprocess
import sys
from pathlib import Path

ENVIRONMENT_FAILED = "EnvironmentFailed"
PIP_TIMEOUT = 1800


class EnvironmentError_(Exception):
    """pip could not build the environment; `tail` holds its last output lines."""

    def __init__(self, message: str, tail: list[str]):
        super().__init__(message)
        self.message, self.tail = message, tail


def requirements(env: dict[str, str]) -> list[str]:
    raw = env.get("TRAINYARD_PIP_REQUIREMENTS") or ""
    if not raw:
        return []
    reqs = json.loads(raw)
    if not isinstance(reqs, list) or not all(isinstance(r, str) and r.strip() for r in reqs):
        raise ValueError("TRAINYARD_PIP_REQUIREMENTS must be a JSON list of requirement strings")
    return [r.strip() for r in reqs]


def env_key(reqs: list[str], python: str = sys.executable) -> str:
    """Same requirements on the same image interpreter -> the same environment directory."""
    ident = f"{sys.version}|{Path(python).resolve()}|{sys.prefix}"
    return hashlib.sha256(json.dumps([sorted(reqs), ident]).encode()).hexdigest()[:16]


def _pip(python: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python, *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
        env=env,
    )


def satisfied(reqs: list[str], python: str = sys.executable) -> bool:
    """True when `python`'s environment already has every requirement (nothing would be installed)."""
    proc = _pip(python, "install", "--dry-run", "--no-index", "--quiet", "--report", "-", *reqs)
    if proc.returncode != 0:
        return False
    try:
        return json.loads(proc.stdout).get("install") == []
    except ValueError:
        return False


def prepare(reqs: list[str], cache_dir: Path, *, say=lambda msg: None) -> str:
    """The interpreter to run the script with (see the module doc)."""
    if not reqs:
        return sys.executable
    if satisfied(reqs):
        say(f"environment: {', '.join(reqs)} satisfied by the image")
        return sys.executable
    root = Path(cache_dir) / "envs"
    root.mkdir(parents=True, exist_ok=True)
    target = root / env_key(reqs)
    python = target / "bin" / "python"
    with open(root / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent runs on one node build it once
        if (target / ".complete").exists():
            say(f"environment: reusing {target}")
            return str(python)
        shutil.rmtree(target, ignore_errors=True)
        say(f"environment: installing {', '.join(reqs)} into {target}")
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(target)], check=True, capture_output=True, timeout=300
        )
        layered = subprocess.run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        Path(layered, "_trainyard_image.pth").write_text("\n".join(site.getsitepackages()) + "\n")
        proc = _pip(str(python), "install", "--no-input", *reqs)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            shutil.rmtree(target, ignore_errors=True)
            raise EnvironmentError_(f"pip install {' '.join(reqs)} failed", tail)
        (target / ".complete").write_text(json.dumps(reqs) + "\n")
    return str(python)
