"""Build pinned upstream binaries from their Go modules, once, into a cache keyed by version.

Each GoBuild gets a throwaway wrapper module (`require <module> <version>`, plus the staging
replaces k8s.io/kubernetes needs), then one `go build -v` for all of its binaries. The binaries
land in `<cache>/bin/<name>-<version>/`, are written to a temporary directory first and renamed
into place, so an interrupted build never leaves a half-populated cache entry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from trainyard.local.versions import ALL_BUILDS, GoBuild, build_for_binary

STAMP = ".complete"


class BuildError(RuntimeError):
    pass


def cache_root() -> Path:
    """`$TRAINYARD_CACHE`, else `$XDG_CACHE_HOME/trainyard`, else `~/.cache/trainyard`."""
    if os.environ.get("TRAINYARD_CACHE"):
        return Path(os.environ["TRAINYARD_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "trainyard"


def build_dir(build: GoBuild) -> Path:
    return cache_root() / "bin" / build.cache_key


def is_built(build: GoBuild) -> bool:
    d = build_dir(build)
    return (d / STAMP).exists() and all((d / b).exists() for b in build.binaries)


def binary_path(binary: str, *, build_missing: bool = True, out: TextIO | None = None) -> Path:
    """Path of a cached binary, building its pinned module first if it is not cached."""
    build = build_for_binary(binary)
    if not is_built(build):
        if not build_missing:
            raise BuildError(f"{binary} is not built; run `trainyard local build`")
        ensure_built(build, out=out)
    return build_dir(build) / binary


def go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = "local"
    env.setdefault("GOFLAGS", "-mod=mod")
    return env


def _go(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    go = shutil.which("go")
    if go is None:
        raise BuildError("the `go` command is not on PATH; install Go >= 1.26 to build the cluster binaries")
    proc = subprocess.run([go, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"go {' '.join(args[:3])} failed in {cwd}:\n{proc.stderr[-4000:]}")
    return proc.stdout


def staging_replaces(module_dir: Path, version: str) -> dict[str, str]:
    """k8s.io/* modules that k8s.io/kubernetes requires as v0.0.0 (its staging directory),
    mapped to their published versions: Kubernetes vX.Y.Z publishes them as v0.Y.Z."""
    published = "v0." + ".".join(version.lstrip("v").split(".")[1:])
    replaces = {}
    for line in (module_dir / "go.mod").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("k8s.io/") and parts[1] == "v0.0.0":
            replaces[parts[0]] = published
    return replaces


def wrapper_go_mod(build: GoBuild, go_version: str, replaces: dict[str, str]) -> str:
    lines = [
        f"module trainyard.local/build/{build.name}",
        "",
        f"go {go_version}",
        "",
        f"require {build.module} {build.version}",
        "",
    ]
    if replaces:
        lines.append("replace (")
        lines += [f"\t{mod} => {mod} {ver}" for mod, ver in sorted(replaces.items())]
        lines.append(")")
    return "\n".join(lines) + "\n"


def wrapper_tools_go(build: GoBuild) -> str:
    imports = "\n".join(f'\t_ "{pkg}"' for pkg in sorted(set(build.binaries.values())))
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def _local_go_version(env: dict[str, str], cwd: Path) -> str:
    # "go1.26.8" -> "1.26.0": a wrapper must not ask for a newer toolchain than the local one.
    raw = _go(["env", "GOVERSION"], cwd, env).strip().removeprefix("go")
    major, minor = raw.split(".")[:2]
    return f"{major}.{minor}.0"


def _progress_printer(build: GoBuild, total: int, out: TextIO) -> Callable[[int], None]:
    tty = out.isatty()
    last = {"shown": -1, "t": 0.0}

    def show(done: int) -> None:
        pct = min(100, int(100 * done / max(total, 1)))
        now = time.monotonic()
        if tty:
            out.write(f"\r  building {build.cache_key}: {pct:3d}% ({done}/{total} packages)")
            out.flush()
        elif pct // 10 != last["shown"] // 10 or now - last["t"] > 30:
            out.write(f"  building {build.cache_key}: {pct}% ({done}/{total} packages)\n")
            out.flush()
            last["t"] = now
        last["shown"] = pct

    return show


def ensure_built(build: GoBuild, *, out: TextIO | None = None) -> Path:
    """Build `build` unless it is cached; returns its cache directory."""
    out = out or sys.stderr
    target = build_dir(build)
    if is_built(build):
        return target
    env = go_env()
    if not build.cgo:
        env["CGO_ENABLED"] = "0"
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"trainyard-build-{build.name}-") as tmp:
        work = Path(tmp) / "wrapper"
        work.mkdir()
        go_version = _local_go_version(env, work)
        replaces: dict[str, str] = {}
        if build.replace_staging:
            info = json.loads(_go(["mod", "download", "-json", f"{build.module}@{build.version}"], work, env))
            replaces = staging_replaces(Path(info["Dir"]), build.version)
        (work / "go.mod").write_text(wrapper_go_mod(build, go_version, replaces))
        (work / "tools.go").write_text(wrapper_tools_go(build))
        out.write(f"trainyard local: building {build.cache_key} (cached in {target})\n")
        _go(["mod", "tidy"], work, env)
        pkgs = sorted(set(build.binaries.values()))
        # `go build -v` names each package it compiles; the standard library is usually cached.
        deps = set(_go(["list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", *pkgs], work, env).split())
        show = _progress_printer(build, len(deps), out)
        staging = Path(tmp) / "out"
        staging.mkdir()
        # Compile all binaries in one `go build` when each is named after its package's last
        # element (shared packages compiled once); else one build each, sharing the go cache.
        same_names = all(pkg.rsplit("/", 1)[-1] == name for name, pkg in build.binaries.items())
        commands = (
            [["-o", str(staging) + "/", *pkgs]]
            if same_names and len(pkgs) > 1
            else [["-o", str(staging / name), pkg] for name, pkg in build.binaries.items()]
        )
        done = 0
        for cmd in commands:
            argv = [shutil.which("go") or "go", "build", "-v", "-trimpath", "-ldflags", build.ldflags, *cmd]
            proc = subprocess.Popen(argv, cwd=work, env=env, stderr=subprocess.PIPE, text=True)
            tail: list[str] = []
            assert proc.stderr is not None
            for line in proc.stderr:
                tail = (tail + [line])[-40:]
                if line.strip() in deps:
                    done += 1
                    show(done)
            if proc.wait() != 0:
                raise BuildError(f"go build of {build.cache_key} failed:\n{''.join(tail)}")
        if out.isatty():
            out.write("\n")
        staged = Path(tmp) / build.cache_key
        staged.mkdir()
        for name in build.binaries:
            shutil.move(str(staging / name), staged / name)
        (staged / STAMP).write_text(json.dumps({"seconds": round(time.monotonic() - started, 1)}))
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(staged), target)
    out.write(f"trainyard local: built {build.cache_key} in {time.monotonic() - started:.0f}s\n")
    return target


def ensure_all(builds: tuple[GoBuild, ...] = ALL_BUILDS, *, out: TextIO | None = None) -> dict[str, Path]:
    return {b.name: ensure_built(b, out=out) for b in builds}
