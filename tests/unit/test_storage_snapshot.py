"""Snapshots: ignore rules, a deterministic hash, and extraction that refuses unsafe tarballs."""

import io
import os
import stat
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


@pytest.fixture(params=["stdlib-filter", "own-filter"])
def extraction(request, monkeypatch):
    """Both extraction paths on this Python: with `tarfile.data_filter` (3.11.4+), and without it,
    as on Debian bookworm's 3.11.2 in the runtime image."""
    if request.param == "own-filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
        monkeypatch.delattr(tarfile, "FilterError", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python has no tarfile.data_filter")
    return request.param


def hostile(path, *entries):
    """A tar.gz of a harmless file followed by `entries`: (name, type, linkname-or-bytes, mode)."""
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("ok.txt"), io.BytesIO(b""))
        for name, kind, payload, mode in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mode = kind, mode
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = payload
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                tar.addfile(info)
    return path


REG, SYM, LNK, DIR = tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE


@pytest.mark.parametrize(
    "entries,match",
    [
        ([("../escape.txt", REG, b"evil", 0o644)], "'../escape.txt' would be written outside the destination"),
        ([("/etc/evil.txt", REG, b"evil", 0o644)], "'/etc/evil.txt' has an absolute path"),
        ([("a/../../escape.txt", REG, b"evil", 0o644)], "'a/../../escape.txt' would be written outside"),
        ([("link", SYM, "/etc/passwd", 0o777)], "link 'link' has an absolute target '/etc/passwd'"),
        ([("sub/link", SYM, "../../outside", 0o777)], "link 'sub/link' -> '../../outside' points outside"),
        ([("hard", LNK, "../outside", 0o644)], "link 'hard' -> '../outside' points outside"),
        ([("hard", LNK, "/etc/shadow", 0o644)], "link 'hard' has an absolute target"),
        # Through the archive's own links: each step looks harmless, the sum leaves the tree.
        ([("here", SYM, ".", 0o777), ("out", SYM, "here/../x", 0o777)], "link 'out' -> 'here/../x' points outside"),
        ([("up", SYM, "..", 0o777)], "link 'up' -> '..' points outside"),
        ([("d", SYM, "sub", 0o777), ("d/../../x", REG, b"e", 0o644)], "'d/../../x' would be written outside"),
        ([("loop", SYM, "loop2", 0o777), ("loop2", SYM, "loop", 0o777)], "link 'loop' -> 'loop2' points outside"),
        ([("dev", tarfile.CHRTYPE, None, 0o644)], "'dev' is a device file or fifo"),
        ([("blk", tarfile.BLKTYPE, None, 0o644)], "'blk' is a device file or fifo"),
        ([("pipe", tarfile.FIFOTYPE, None, 0o644)], "'pipe' is a device file or fifo"),
        ([("ok.txt", SYM, "/etc/passwd", 0o777)], "'ok.txt' appears twice"),
    ],
)
def test_hostile_tarballs_are_refused_before_anything_is_written(tmp_path, extraction, entries, match):
    bad = hostile(tmp_path / "bad.tar.gz", *entries)
    dest = tmp_path / "dest"
    with pytest.raises(SnapshotError) as err:
        snapshot.extract(bad, dest)
    assert str(err.value).startswith("unsafe snapshot: ") and match in str(err.value), str(err.value)
    assert list(dest.iterdir()) == []  # not even the harmless entry before it
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "x").exists()


def test_modes_lose_setuid_setgid_sticky_and_group_other_write(tmp_path, extraction):
    good = hostile(
        tmp_path / "modes.tar.gz",
        ("suid", REG, b"#!/bin/sh\n", 0o4777),
        ("sgid", REG, b"x", 0o2666),
        ("private", REG, b"x", 0o400),
        ("noexec-for-owner", REG, b"x", 0o677),
        ("shared", DIR, None, 0o1777),
        ("shared/inside", REG, b"x", 0o644),
        ("rel", SYM, "shared/inside", 0o777),
        ("hard", LNK, "sgid", 0o644),
    )
    dest = tmp_path / "dest"
    assert snapshot.extract(good, dest) == 9

    def mode(name):
        return stat.S_IMODE(os.lstat(dest / name).st_mode)

    assert mode("suid") == 0o755
    assert mode("sgid") == 0o644
    assert mode("private") == 0o600
    assert mode("noexec-for-owner") == 0o644
    assert mode("shared") & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX | stat.S_IWOTH) == 0
    assert (dest / "rel").is_symlink() and (dest / "rel").read_text() == "x"
    assert os.stat(dest / "hard").st_ino == os.stat(dest / "sgid").st_ino
    assert {os.lstat(dest / n).st_uid for n in ("suid", "shared", "hard")} == {os.geteuid()}


def test_a_snapshot_round_trips_on_both_paths(tmp_path, extraction):
    src = tree(tmp_path / "src", {"train.py": "print(1)\n", "lib/u.py": "u\n"})
    (src / "u.py").symlink_to("lib/u.py")
    os.chmod(src / "train.py", 0o755)
    out = tmp_path / "out"
    assert snapshot.extract(snapshot.make(src, tmp_path).path, out) == 3
    assert (out / "u.py").read_text() == "u\n" and os.access(out / "train.py", os.X_OK)


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


def test_links_already_in_the_destination_are_followed_when_checking(tmp_path, extraction):
    """A retried attempt extracts into a directory that may hold a symlink out of it."""
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "outside").symlink_to(tmp_path)
    for entries, match in (
        ([("outside/escape.txt", REG, b"e", 0o644)], "'outside/escape.txt' would be written outside"),
        ([("up", SYM, "outside/..", 0o777)], "link 'up' -> 'outside/..' points outside"),
    ):
        with pytest.raises(SnapshotError, match=match):
            snapshot.extract(hostile(tmp_path / "bad.tar.gz", *entries), dest)
        assert sorted(p.name for p in dest.iterdir()) == ["outside"]
    assert not (tmp_path / "escape.txt").exists()
