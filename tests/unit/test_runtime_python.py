"""The Python of the runtime image is one the code that runs in it supports.

The image is built from a Debian root filesystem (trainyard/local/images.py), so its Python is
Debian's, not the newest patch release: bookworm ships 3.11.2, and `tarfile.data_filter` arrived
in 3.11.4 — the integration tier (the host's Python) passed while every snapshot failed to stage
in the image (issue 19)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

from trainyard.local import images

REPO = Path(__file__).resolve().parents[2]

# The python3 package of each Debian release the base image may be built from (packages.debian.org:
# bookworm python3.11 3.11.2-6+debu12*, trixie python3.13 3.13.5-*). Add a line when images.py
# moves to another suite.
DEBIAN_PYTHON = {"bookworm": (3, 11, 2), "trixie": (3, 13, 5)}

# Standard-library names newer than some Python the image or requires-python admits, with the
# release that added them. Code in the image may use one only through getattr() with a fallback.
NEWER_STDLIB = {
    ("tarfile", "data_filter"): (3, 11, 4),
    ("tarfile", "tar_filter"): (3, 11, 4),
    ("tarfile", "fully_trusted_filter"): (3, 11, 4),
    ("tarfile", "FilterError"): (3, 11, 4),
    ("tarfile", "AbsolutePathError"): (3, 11, 4),
    ("tarfile", "OutsideDestinationError"): (3, 11, 4),
    ("tarfile", "SpecialFileError"): (3, 11, 4),
    ("tarfile", "AbsoluteLinkError"): (3, 11, 4),
    ("tarfile", "LinkOutsideDestinationError"): (3, 11, 4),
    ("itertools", "batched"): (3, 12, 0),
    ("typing", "override"): (3, 12, 0),
}

# What runs inside the runtime image: the runtime itself and the layers it imports.
IMAGE_CODE = ("runtime", "trainyard/storage", "trainyard/api")


def image_python() -> tuple[int, int, int]:
    return DEBIAN_PYTHON[images.DEBIAN_SUITE]


def requires_python() -> SpecifierSet:
    return SpecifierSet(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"])


def lowest_admitted() -> tuple[int, int, int]:
    """The oldest Python the code must run on: the image's, or requires-python's lower bound."""
    bounds = [s.version for s in requires_python() if s.operator in (">=", "~=", "==")]
    floor = min(tuple(int(p) for p in (b.split(".") + ["0", "0"])[:3]) for b in bounds)
    return min(image_python(), floor)


def newer_names_used(source: str, python: tuple[int, int, int]) -> list[str]:
    """`module.name` attribute reads and `from module import name` of NEWER_STDLIB names that
    `python` lacks (a plain `import tarfile` then `tarfile.data_filter`, or an alias of it)."""
    tree = ast.parse(source)
    aliases = {}  # local name -> module, for `import tarfile` / `import tarfile as tf`
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name] = a.name
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            key = (aliases.get(node.value.id), node.attr)
            if key in NEWER_STDLIB and NEWER_STDLIB[key] > python:
                found.append(f"{key[0]}.{key[1]} (line {node.lineno})")
        if isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                key = (node.module, a.name)
                if key in NEWER_STDLIB and NEWER_STDLIB[key] > python:
                    found.append(f"from {key[0]} import {key[1]} (line {node.lineno})")
    return found


def test_the_image_suite_has_a_known_python():
    assert images.DEBIAN_SUITE in DEBIAN_PYTHON, f"add {images.DEBIAN_SUITE}'s python3 version to DEBIAN_PYTHON"
    assert images.PYTHON_VERSION == "{}.{}".format(*image_python())
    # The Dockerfile's default base (an ordinary Docker host) is the same minor release.
    assert f"ARG BASE_IMAGE=python:{images.PYTHON_VERSION}-slim" in images.RUNTIME_DOCKERFILE.read_text()


def test_requires_python_admits_the_image_python():
    spec = requires_python()
    assert spec.contains("{}.{}.{}".format(*image_python())), (
        f"requires-python {spec} does not admit the runtime image's Python {image_python()}"
    )


def test_the_scan_finds_what_it_looks_for():
    src = "import tarfile as tf\nfrom itertools import batched\ntf.data_filter(m, d)\nx = getattr(tf, 'FilterError')\n"
    assert sorted(newer_names_used(src, (3, 11, 2))) == [
        "from itertools import batched (line 2)",
        "tarfile.data_filter (line 3)",
    ]
    assert newer_names_used(src, (3, 12, 0)) == []


@pytest.mark.parametrize("top", IMAGE_CODE)
def test_code_in_the_image_uses_no_stdlib_name_its_python_lacks(top):
    lowest = lowest_admitted()
    offenders = {
        str(path.relative_to(REPO)): used
        for path in sorted((REPO / top).rglob("*.py"))
        if (used := newer_names_used(path.read_text(), lowest))
    }
    assert offenders == {}, f"needs a newer Python than {lowest} (use getattr with a fallback): {offenders}"


def test_readme_lists_the_curated_images_versions():
    """README's table of the curated runtime image is the truth of images.py (issue 19 item 10)."""
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("### The curated runtime image") :].split("\n\n")[2]
    rows = dict(line.strip("|").replace(" ", "").split("|", 1) for line in table.splitlines()[2:])
    assert rows == {
        "Python": "{}.{}.{}(Debian{}'s`python3`)".format(*image_python(), images.DEBIAN_SUITE),
        **{name: images.RUNTIME_PINS[name] for name in ("scikit-learn", "numpy", "scipy", "joblib")},
    }
