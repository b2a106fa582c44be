"""Snapshots: ignore rules, a deterministic hash, and extraction that refuses unsafe tarballs."""

import io
import os
import tarfile
import time

import pytest

from trainyard.storage import snapshot
from trainyard.storage.snapshot import SnapshotError


def tree(root, files: dict[str, str]):
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_ignore_rules_follow_gitignore(tmp_path):
    tree(
        tmp_path,
        {
            ".trainyardignore": "data/\n*.log\n!keep.log\n/build\nnotes/**/*.tmp\n",
            "train.py": "",
            "keep.log": "",
            "run.log": "",
            "data/big.bin": "",
            "sub/data/x": "",
            "build/out": "",
            "sub/build/out": "",
            "notes/a/b/c.tmp": "",
            "notes/a/ok.md": "",
            ".git/HEAD": "",
            "pkg/__pycache__/m.pyc": "",
            ".trainyard/runs/x": "",
        },
    )
    assert snapshot.select_files(tmp_path) == [
        ".trainyardignore",
        "keep.log",
        "notes/a/ok.md",
        "sub/build/out",
        "train.py",
    ]


def test_gitignore_is_used_without_a_trainyardignore(tmp_path):
    tree(tmp_path, {".gitignore": "*.csv\n", "a.csv": "", "train.py": ""})
    assert snapshot.select_files(tmp_path) == [".gitignore", "train.py"]
    tree(tmp_path, {".trainyardignore": "*.py\n"})
    assert snapshot.select_files(tmp_path) == [".gitignore", ".trainyardignore", "a.csv"]


def test_same_tree_same_hash_regardless_of_mtime_and_order(tmp_path):
    files = {"train.py": "print(1)\n", "lib/util.py": "x = 1\n", "lib/z.txt": "z"}
    a = tree(tmp_path / "a", files)
    b = tree(tmp_path / "b", dict(reversed(list(files.items()))))
    old = time.time() - 86400
    os.utime(b / "train.py", (old, old))
    snap_a, snap_b = snapshot.make(a, tmp_path), snapshot.make(b, tmp_path)
    assert snap_a.sha256 == snap_b.sha256 and snap_a.files == 3
    (b / "train.py").write_text("print(2)\n")
    assert snapshot.make(b, tmp_path).sha256 != snap_a.sha256
    with tarfile.open(snap_a.path) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == ["lib/util.py", "lib/z.txt", "train.py"]
    assert {(i.mtime, i.uid, i.gid, i.uname, i.mode) for i in infos} == {(0, 0, 0, "", 0o644)}


def test_executable_bit_is_kept(tmp_path):
    src = tree(tmp_path / "src", {"run.sh": "#!/bin/sh\n"})
    os.chmod(src / "run.sh", 0o700)
    snap = snapshot.make(src, tmp_path)
    assert snapshot.extract(snap.path, tmp_path / "out") == 1
    assert os.access(tmp_path / "out" / "run.sh", os.X_OK)


def test_round_trip(tmp_path):
    src = tree(tmp_path / "src", {"train.py": "print(1)\n", "lib/u.py": "u\n"})
    snap = snapshot.make(src, tmp_path)
    snapshot.verify_digest(snap.path, snap.sha256)
    snapshot.extract(snap.path, tmp_path / "out")
    assert (tmp_path / "out/lib/u.py").read_text() == "u\n"


def evil_tarball(path, name=None, link=None, linktype=tarfile.SYMTYPE):
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("ok.txt"), io.BytesIO(b""))
        info = tarfile.TarInfo(name or "link")
        if link:
            info.type, info.linkname = linktype, link
            tar.addfile(info)
        else:
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    return path


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"name": "../escape.txt"}, "outside the destination"),
        ({"name": "/etc/evil.txt"}, "absolute path"),
        ({"name": "a/../../escape.txt"}, "outside the destination"),
        ({"link": "/etc/passwd"}, "absolute|outside"),
        ({"link": "../../outside"}, "outside"),
        ({"link": "../outside", "linktype": tarfile.LNKTYPE}, "outside"),
    ],
)
def test_traversal_is_rejected_before_anything_is_written(tmp_path, kwargs, match):
    bad = evil_tarball(tmp_path / "bad.tar.gz", **kwargs)
    dest = tmp_path / "dest"
    with pytest.raises(SnapshotError, match=f"unsafe snapshot: .*({match})"):
        snapshot.extract(bad, dest)
    assert list(dest.iterdir()) == []  # not even the harmless entry before it
    assert not (tmp_path / "escape.txt").exists()


def test_corrupt_tarball_fails_clearly(tmp_path):
    src = tree(tmp_path / "src", {"train.py": "x" * 10000})
    snap = snapshot.make(src, tmp_path)
    data = bytearray(snap.path.read_bytes())
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotError, match="corrupt snapshot truncated.tar.gz"):
        snapshot.extract(truncated, tmp_path / "out")
    (tmp_path / "garbage.tar.gz").write_bytes(b"not a tarball at all")
    with pytest.raises(SnapshotError, match="corrupt snapshot"):
        snapshot.extract(tmp_path / "garbage.tar.gz", tmp_path / "out2")
    with pytest.raises(SnapshotError, match="does not match its name"):
        snapshot.verify_digest(snap.path, "0" * 64)


def test_symlinks_inside_are_kept_and_outside_refused(tmp_path):
    src = tree(tmp_path / "src", {"lib/u.py": "u\n"})
    (src / "u.py").symlink_to("lib/u.py")
    snapshot.extract(snapshot.make(src, tmp_path).path, tmp_path / "out")
    assert (tmp_path / "out/u.py").is_symlink() and (tmp_path / "out/u.py").read_text() == "u\n"
    (src / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(SnapshotError, match="passwd: symlink to '/etc/passwd' points outside"):
        snapshot.make(src, tmp_path)
