"""Container images for a real local node, built without any registry.

- **pause**: `images/pause/pause.c`, compiled statically with the host's C compiler and packaged
  `FROM scratch` by podman; containerd's `sandbox_image`.
- **Python base**: a Debian bookworm root filesystem from `debootstrap --variant=minbase`
  (python3, python3-venv, ca-certificates), `podman import`ed.
- **runtime**: `runtime/Dockerfile` built by `podman build --build-arg BASE_IMAGE=<that base>`;
  its `wheels/` context holds pinned wheels the host `pip download`ed plus trainyard itself
  built as a wheel, installed with `pip install --no-index`.

Every product is cached under `<cache>/images/` keyed by a hash of what it is made from, as a
`docker-archive` tarball that `ctr images import` loads into a node's containerd.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from trainyard.local.build import cache_root

REPO = Path(__file__).resolve().parents[2]
PAUSE_DIR = REPO / "images" / "pause"
RUNTIME_DOCKERFILE = REPO / "runtime" / "Dockerfile"

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")

# The curated runtime: one image per scikit-learn version (Python 3.11, as Debian bookworm has).
SKLEARN_VERSION = "1.7.2"
RUNTIME_PINS = {
    "scikit-learn": SKLEARN_VERSION,
    "numpy": "2.2.6",
    "scipy": "1.15.3",
    "joblib": "1.5.2",
    "threadpoolctl": "3.6.0",
    "minio": "7.2.18",
    "pyyaml": "6.0.3",
}
WHEEL_PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64")
PYTHON_VERSION = "3.11"


class ImageError(RuntimeError):
    pass


def images_dir() -> Path:
    d = cache_root() / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _hash(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:12]


def _tree_hash(root: Path, patterns: tuple[str, ...] = ("*.py", "*.yaml", "*.toml", "*.json")) -> str:
    h = hashlib.sha256()
    for path in sorted(p for pat in patterns for p in root.rglob(pat)):
        if any(
            part in (".git", "__pycache__", "build", ".pytest_cache") or part.endswith(".egg-info")
            for part in path.relative_to(root).parts
        ):
            continue
        h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def _run(
    argv: list[str],
    *,
    what: str,
    cwd: Path | None = None,
    input: bytes | None = None,
    stdin=None,
    out: TextIO | None = None,
) -> str:
    proc = subprocess.run(argv, cwd=cwd, input=input, stdin=stdin, capture_output=True)
    if proc.returncode != 0:
        tail = (proc.stderr or b"").decode(errors="replace")[-3000:]
        raise ImageError(f"{what} failed ({' '.join(argv[:4])} ...):\n{tail}")
    return proc.stdout.decode(errors="replace")


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise ImageError(f"`{tool}` is not installed; run scripts/install-node-deps")
    return path


def _podman_has(ref: str) -> bool:
    return subprocess.run([_need("podman"), "image", "exists", ref]).returncode == 0


def _save(ref: str, tarball: Path) -> Path:
    tmp = tarball.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    _run([_need("podman"), "save", "--format", "docker-archive", "-o", str(tmp), ref], what=f"podman save {ref}")
    tmp.rename(tarball)
    return tarball


def _save_replacing(ref: str, tarball: Path, stale: str) -> Path:
    """Save `ref` as `tarball` after removing the older tarballs matching the glob `stale`: one
    tarball per image is kept, not one per source tree ever built."""
    for old in images_dir().glob(stale):
        old.unlink()
    return _save(ref, tarball)


def _build(ref: str, dockerfile: Path, ctx: Path, base: str, *, what: str, args: tuple[str, ...] = ()) -> None:
    """`podman build` of one of the repository's Dockerfiles on `base` (its BASE_IMAGE build
    argument), with no network: everything it installs is in the context."""
    _run(
        [
            _need("podman"),
            "build",
            "-q",
            "--network=none",
            "-f",
            str(dockerfile),
            "-t",
            ref,
            "--build-arg",
            f"BASE_IMAGE={base}",
            *args,
            str(ctx),
        ],
        what=what,
    )


# ---- pause -----------------------------------------------------------------------------------
def pause_image(out: TextIO | None = None) -> tuple[str, Path]:
    """(image reference, docker-archive tarball) of the pause image, built once per source hash."""
    src = (PAUSE_DIR / "pause.c").read_bytes()
    key = _hash(src, (PAUSE_DIR / "Containerfile").read_bytes())
    ref = f"localhost/trainyard/pause:{key}"
    tarball = images_dir() / f"pause-{key}.tar"
    if tarball.exists():
        return ref, tarball
    _say(out, f"building pause image {ref}")
    with tempfile.TemporaryDirectory(prefix="trainyard-pause-") as tmp:
        ctx = Path(tmp)
        shutil.copy(PAUSE_DIR / "Containerfile", ctx / "Containerfile")
        _run(
            [_need("cc"), "-Os", "-static", "-Wall", "-o", str(ctx / "pause"), str(PAUSE_DIR / "pause.c")],
            what="compiling pause.c",
        )
        _run([str(ctx / "pause"), "-v"], what="pause -v")
        _run(
            [_need("podman"), "build", "-q", "-t", ref, "-f", str(ctx / "Containerfile"), str(ctx)],
            what="podman build pause",
        )
    return ref, _save(ref, tarball)


# ---- Python base -----------------------------------------------------------------------------
def base_image(out: TextIO | None = None) -> str:
    """A Debian bookworm + python3 image in podman's store, from a cached debootstrap rootfs."""
    key = _hash(DEBIAN_SUITE, DEBIAN_MIRROR, *BASE_PACKAGES, "minbase")
    ref = f"localhost/trainyard/debian-python:{DEBIAN_SUITE}-{key}"
    if _podman_has(ref):
        return ref
    rootfs_tar = images_dir() / f"debian-python-{DEBIAN_SUITE}-{key}.rootfs.tar"
    if not rootfs_tar.exists():
        started = time.monotonic()
        _say(out, f"debootstrap {DEBIAN_SUITE} ({', '.join(BASE_PACKAGES)}) — about a minute, once")
        with tempfile.TemporaryDirectory(prefix="trainyard-rootfs-", dir=images_dir()) as tmp:
            rootfs = Path(tmp) / "rootfs"
            _run(
                [
                    _need("debootstrap"),
                    "--variant=minbase",
                    f"--include={','.join(BASE_PACKAGES)}",
                    DEBIAN_SUITE,
                    str(rootfs),
                    DEBIAN_MIRROR,
                ],
                what="debootstrap",
            )
            # An image needs no apt lists or caches; they only make it bigger.
            for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
                for p in (rootfs / junk).glob("*"):
                    if p.is_file():
                        p.unlink()
            part = rootfs_tar.with_suffix(".tmp")
            _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(part), "."], what="tar rootfs")
            part.rename(rootfs_tar)
        _say(out, f"  rootfs cached in {rootfs_tar} ({time.monotonic() - started:.0f}s)")
    with open(rootfs_tar, "rb") as fh:
        _run([_need("podman"), "import", "--change", 'CMD ["python3"]', "-", ref], what="podman import", stdin=fh)
    return ref


# ---- runtime ---------------------------------------------------------------------------------
def wheel_dependencies(wheel: Path) -> list[str]:
    """The Requires-Dist of a built wheel, without optional extras (what `pip install` needs)."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        lines = zf.read(meta).decode().splitlines()
    return [
        line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]


def wheels(deps: list[str], out: TextIO | None = None) -> Path:
    """Wheels of `deps` (trainyard's dependencies) for the image's Python, versions held to
    RUNTIME_PINS; downloaded once per (pins, dependency list)."""
    pins = sorted(f"{k}=={v}" for k, v in RUNTIME_PINS.items())
    deps = sorted(deps)
    d = images_dir() / f"wheels-py{PYTHON_VERSION}-{_hash(*pins, '|', *deps, *WHEEL_PLATFORMS)}"
    if (d / ".complete").exists():
        return d
    _say(out, f"pip download {len(deps)} dependencies (pinned: {', '.join(pins)})")
    d.mkdir(parents=True, exist_ok=True)
    (d / "constraints.txt").write_text("\n".join(pins) + "\n")
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--disable-pip-version-check",
        "-d",
        str(d),
        "--only-binary=:all:",
        "--python-version",
        PYTHON_VERSION,
        "--implementation",
        "cp",
        "--abi",
        "cp" + PYTHON_VERSION.replace(".", ""),
        "-c",
        str(d / "constraints.txt"),
    ]
    for plat in WHEEL_PLATFORMS:
        argv += ["--platform", plat]
    _run(argv + pins + deps, what="pip download")
    (d / ".complete").write_text("\n".join(pins + deps) + "\n")
    return d


def trainyard_wheel(dest: Path) -> Path:
    """trainyard itself, built from the working tree as a wheel."""
    with tempfile.TemporaryDirectory(prefix="trainyard-wheel-") as tmp:
        # Build from a copy so the tree gets no build/ or egg-info litter.
        src = Path(tmp) / "src"
        shutil.copytree(
            REPO,
            src,
            ignore=shutil.ignore_patterns(
                ".git", "__pycache__", "build", "*.egg-info", ".pytest_cache", "node_modules", "images"
            ),
        )
        _run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dest), str(src)],
            what="building the trainyard wheel",
        )
    found = sorted(dest.glob("trainyard-*.whl"))
    if not found:
        raise ImageError("pip wheel produced no trainyard wheel")
    return found[-1]


def runtime_image(out: TextIO | None = None) -> tuple[str, Path]:
    """(reference, docker-archive tarball) of the runtime image for the current source tree."""
    key = _hash(
        RUNTIME_DOCKERFILE.read_bytes(),
        *sorted(f"{k}=={v}" for k, v in RUNTIME_PINS.items()),
        _tree_hash(REPO / "trainyard"),
        _tree_hash(REPO / "operator"),
        _tree_hash(REPO / "runtime"),
        (REPO / "pyproject.toml").read_bytes(),
    )
    ref = f"localhost/trainyard/runtime:sklearn-{SKLEARN_VERSION}-{key}"
    tarball = images_dir() / f"runtime-sklearn-{SKLEARN_VERSION}-{key}.tar"
    if tarball.exists():
        return ref, tarball
    with tempfile.TemporaryDirectory(prefix="trainyard-runtime-ctx-") as tmp:
        ctx = Path(tmp)
        (ctx / "wheels").mkdir()
        # The wheel first: its metadata says which dependencies to fetch, consistently with the
        # code inside it even while pyproject.toml is being edited.
        own = trainyard_wheel(ctx / "wheels")
        wheel_dir = wheels(wheel_dependencies(own), out)
        base = base_image(out)
        started = time.monotonic()
        _say(out, f"podman build {ref}")
        for whl in wheel_dir.glob("*.whl"):
            os.link(whl, ctx / "wheels" / whl.name) if _same_fs(whl, ctx) else shutil.copy(whl, ctx / "wheels")
        _build(
            ref,
            RUNTIME_DOCKERFILE,
            ctx,
            base,
            what="podman build runtime",
            args=("--build-arg", f"SKLEARN_VERSION={SKLEARN_VERSION}"),
        )
    listed = subprocess.run(
        [_need("podman"), "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True
    ).stdout.split()
    stale = [r for r in listed if r.startswith(f"localhost/trainyard/runtime:sklearn-{SKLEARN_VERSION}-") and r != ref]
    if stale:  # nor their images in podman's store (about 600 MB each)
        subprocess.run([_need("podman"), "rmi", "-f", *stale], capture_output=True)
    _save_replacing(ref, tarball, f"runtime-sklearn-{SKLEARN_VERSION}-*.tar")  # one per sklearn version
    _say(out, f"  built and saved in {time.monotonic() - started:.0f}s")
    return ref, tarball


def _same_fs(a: Path, b: Path) -> bool:
    return a.stat().st_dev == b.stat().st_dev


def _say(out: TextIO | None, msg: str) -> None:
    out = out or sys.stderr
    out.write(f"trainyard images: {msg}\n")
    out.flush()


def node_images(out: TextIO | None = None) -> dict[str, tuple[str, Path]]:
    """Every image a real node needs: name -> (reference, tarball)."""
    return {"pause": pause_image(out), "runtime": runtime_image(out)}


def import_into_containerd(tarballs: list[Path], *, address: str, namespace: str = "k8s.io") -> None:
    ctr = _need("ctr")
    for tarball in tarballs:
        _run(
            [ctr, "--address", address, "-n", namespace, "images", "import", str(tarball)],
            what=f"ctr images import {tarball.name}",
        )


if __name__ == "__main__":  # python -m trainyard.local.images: build (or find) every node image
    for name, (ref, path) in node_images(sys.stderr).items():
        print(f"{name}: {ref} {path}")
