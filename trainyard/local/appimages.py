"""The images the Helm chart runs, built without any registry (see images.py for the mechanisms):

- **runtime**, with curated tags: `localhost/trainyard/runtime:sklearn-<version>-<hash>` (images.py)
  is also tagged `localhost/trainyard/runtime:sklearn-<major.minor>`, the tag the chart's
  `serving.images` maps each scikit-learn release to;
- **operator**: `operator/Dockerfile` built FROM the runtime image (so it adds only kopf and its
  dependencies), tagged by a hash of the Dockerfile, the runtime image and the wheels;
- **minio**: `images/minio/Dockerfile`, the cached MinIO binary on the Debian Python base.

Each is saved once per content hash as a docker-archive tarball under `<cache>/images/` and
imported into a node's containerd with `ctr images import` (kind: `kind load image-archive`).

    python -m trainyard.local.appimages [--import-into SOCKET]   # prints NAME=REF lines
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from trainyard.local import images
from trainyard.local.build import binary_path
from trainyard.local.images import REPO, _build, _hash, _need, _run, _save_replacing, _say

OPERATOR_DOCKERFILE = REPO / "operator" / "Dockerfile"
MINIO_DOCKERFILE = REPO / "images" / "minio" / "Dockerfile"
OPERATOR_EXTRA = ("kopf>=1.37",)


def curated_tag(sklearn_version: str = images.SKLEARN_VERSION) -> str:
    major_minor = ".".join(sklearn_version.split(".")[:2])
    return f"localhost/trainyard/runtime:sklearn-{major_minor}"


def _cached(ref: str, tarball: Path) -> bool:
    return tarball.exists() and images._podman_has(ref)


def runtime_image(out: TextIO | None = None) -> tuple[str, Path, str]:
    """The runtime image under its curated tag (`sklearn-1.7`), saved with that name only, so a
    node holds `...:sklearn-1.7` pointing at the current build; also the content-hashed ref."""
    ref, _ = images.runtime_image(out)
    curated = curated_tag()
    key = ref.rsplit("-", 1)[-1]
    tarball = images.images_dir() / f"runtime-curated-{curated.rsplit(':', 1)[1]}-{key}.tar"
    if tarball.exists():
        return curated, tarball, ref
    _run([_need("podman"), "tag", ref, curated], what="podman tag")
    return curated, _save_replacing(curated, tarball, f"runtime-curated-{curated.rsplit(':', 1)[1]}-*.tar"), ref


def operator_image(runtime_ref: str, out: TextIO | None = None) -> tuple[str, Path]:
    key = _hash(OPERATOR_DOCKERFILE.read_bytes(), runtime_ref, *OPERATOR_EXTRA)
    ref = f"localhost/trainyard/operator:{key}"
    tarball = images.images_dir() / f"operator-{key}.tar"
    if _cached(ref, tarball) or (tarball.exists() and not shutil.which("podman")):
        return ref, tarball
    with tempfile.TemporaryDirectory(prefix="trainyard-operator-ctx-") as tmp:
        ctx = Path(tmp)
        (ctx / "wheels").mkdir()
        own = images.trainyard_wheel(ctx / "wheels")
        wheel_dir = images.wheels(images.wheel_dependencies(own) + list(OPERATOR_EXTRA), out)
        for whl in wheel_dir.glob("*.whl"):
            shutil.copy(whl, ctx / "wheels")
        _say(out, f"podman build {ref}")
        _build(ref, OPERATOR_DOCKERFILE, ctx, runtime_ref, what="podman build operator")
    return ref, _save_replacing(ref, tarball, "operator-*.tar")


def minio_image(out: TextIO | None = None) -> tuple[str, Path]:
    binary = binary_path("minio", out=out)
    base = images.base_image(out)
    key = _hash(MINIO_DOCKERFILE.read_bytes(), str(binary.parent.name), base)
    ref = f"localhost/trainyard/minio:{key}"
    tarball = images.images_dir() / f"minio-{key}.tar"
    if tarball.exists():
        return ref, tarball
    with tempfile.TemporaryDirectory(prefix="trainyard-minio-ctx-") as tmp:
        ctx = Path(tmp)
        shutil.copy(binary, ctx / "minio")
        os.chmod(ctx / "minio", 0o755)
        _say(out, f"podman build {ref}")
        _build(ref, MINIO_DOCKERFILE, ctx, base, what="podman build minio")
    return ref, _save_replacing(ref, tarball, "minio-*.tar")


def chart_images(out: TextIO | None = None) -> dict[str, tuple[str, Path]]:
    """name -> (reference, tarball) of every image the chart runs."""
    curated, tarball, hashed = runtime_image(out)
    return {"runtime": (curated, tarball), "operator": operator_image(hashed, out), "minio": minio_image(out)}


def chart_values(refs: dict[str, str]) -> dict:
    """The `helm install` values that point the chart at these locally built images (pure)."""

    def split(ref: str) -> dict:
        repo, tag = ref.rsplit(":", 1)
        return {"repository": repo, "tag": tag, "pullPolicy": "Never"}

    major_minor = refs["runtime"].rsplit("sklearn-", 1)[1]
    return {
        "operator": {"image": split(refs["operator"])},
        "runtime": {"image": split(refs["runtime"]), "servingImages": {major_minor: refs["runtime"]}},
        "objectStore": {"minio": {"image": split(refs["minio"])}},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainyard.local.appimages", description=__doc__.split("\n\n")[0])
    p.add_argument("--import-into", metavar="SOCKET", help="containerd socket to import the images into")
    p.add_argument("--values", metavar="FILE", help="write Helm values pointing at the images to FILE")
    args = p.parse_args(argv)
    built = chart_images(sys.stderr)
    if args.import_into:
        images.import_into_containerd([tar for _, tar in built.values()], address=args.import_into)
    if args.values:
        import json

        Path(args.values).write_text(json.dumps(chart_values({k: r for k, (r, _) in built.items()}), indent=2))
    for name, (ref, tar) in built.items():
        print(f"{name}={ref} {tar}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
