"""Content-addressed code snapshots: a deterministic tar.gz of a source directory, named by its
SHA-256, uploaded once; and safe extraction.

Ignore rules: `.trainyardignore` at the top of the directory, in gitignore syntax (Azure ML's
`.amlignore`); when it is absent, `.gitignore` is used instead, as Azure ML does. `.git/`,
`.trainyard/` and `__pycache__/` are always left out. Determinism: entries sorted, mtime 0,
uid/gid 0, no user names, modes normalised to 0644/0755, gzip header without name or time.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import hashlib
import io
import os
import stat
import tarfile
import tempfile
import zlib
from pathlib import Path

from trainyard.storage import layout
from trainyard.storage.uri import S3Uri

IGNORE_FILE = ".trainyardignore"
ALWAYS_IGNORED = (".git/", ".trainyard/", "__pycache__/", "*.pyc")


class SnapshotError(Exception):
    """A snapshot cannot be made, or a tarball is corrupt or unsafe to extract."""


def ignore_patterns(src: Path) -> list[str]:
    for name in (IGNORE_FILE, ".gitignore"):
        path = src / name
        if path.is_file():
            return [*ALWAYS_IGNORED, *path.read_text().splitlines()]
    return list(ALWAYS_IGNORED)


def select_files(src: Path, patterns: list[str] | None = None) -> list[str]:
    """Files (and symlinks) under `src` that the ignore rules keep, as sorted '/' paths.
    An ignored directory is not descended into, as in git."""
    from pathspec import GitIgnoreSpec  # real gitignore semantics (negation, anchoring, **)

    spec = GitIgnoreSpec.from_lines(ignore_patterns(src) if patterns is None else patterns)
    kept = []
    for dirpath, dirnames, filenames in os.walk(src):
        rel_dir = Path(dirpath).relative_to(src).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not os.path.islink(os.path.join(dirpath, d)) and not spec.match_file(rel_dir + d + "/")
        )
        kept += [rel_dir + f for f in filenames if not spec.match_file(rel_dir + f)]
        # A symlink to a directory is kept as a link (never followed), unless ignored.
        kept += [
            rel_dir + d
            for d in os.listdir(dirpath)
            if os.path.islink(os.path.join(dirpath, d))
            and os.path.isdir(os.path.join(dirpath, d))
            and not spec.match_file(rel_dir + d)
        ]
    return sorted(set(kept))


def _tarinfo(src: Path, rel: str) -> tarfile.TarInfo:
    full = src / rel
    st = full.lstat()
    info = tarfile.TarInfo(rel)
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    if stat.S_ISLNK(st.st_mode):
        target = os.readlink(full)
        inside = os.path.normpath(os.path.join(os.path.dirname(rel), target))
        if os.path.isabs(target) or inside == ".." or inside.startswith("../"):
            raise SnapshotError(f"{rel}: symlink to {target!r} points outside the source directory")
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(full), 0o777
    elif stat.S_ISREG(st.st_mode):
        info.size, info.mode = st.st_size, 0o755 if st.st_mode & 0o111 else 0o644
    else:
        raise SnapshotError(f"{rel}: not a regular file or symlink; add it to {IGNORE_FILE}")
    return info


def write_tarball(src: Path, out: io.BufferedIOBase, files: list[str]) -> None:
    """The deterministic tar.gz of `files` (relative to `src`) into `out`."""
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for rel in files:
                info = _tarinfo(src, rel)
                if info.isreg():
                    with open(src / rel, "rb") as fh:
                        tar.addfile(info, fh)
                else:
                    tar.addfile(info)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    sha256: str
    path: Path  # the tarball on local disk (a temporary file owned by the caller)
    files: int
    size: int

    @property
    def key(self) -> str:
        return layout.snapshot_key(self.sha256)


def make(src: Path, workdir: Path | None = None) -> Snapshot:
    """Build the snapshot tarball of `src` in a temporary file and return its digest."""
    src = Path(src)
    if not src.is_dir():
        raise SnapshotError(f"source directory {src} does not exist")
    files = select_files(src)
    fd, name = tempfile.mkstemp(prefix="snapshot-", suffix=".tar.gz", dir=workdir)
    with os.fdopen(fd, "wb") as out:
        write_tarball(src, out, files)
    digest = hashlib.sha256()
    with open(name, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return Snapshot(digest.hexdigest(), Path(name), len(files), os.path.getsize(name))


def upload(client, bucket: str, src: Path, *, progress=None) -> tuple[S3Uri, bool]:
    """Snapshot `src` and upload it to snapshots/<sha256>.tar.gz unless it is already there.
    Returns (URI, whether it was uploaded). `progress` is a minio progress object."""
    from minio.error import S3Error

    snap = make(src)
    try:
        uri = S3Uri(bucket, snap.key)
        try:
            client.stat_object(bucket, snap.key)
            return uri, False
        except S3Error as exc:
            if exc.code not in ("NoSuchKey", "NoSuchObject"):
                raise
        client.fput_object(bucket, snap.key, str(snap.path), content_type="application/gzip", progress=progress)
        return uri, True
    finally:
        snap.path.unlink(missing_ok=True)


def verify_digest(path: Path, expected: str) -> None:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() != expected:
        raise SnapshotError(f"corrupt snapshot: sha256 {digest.hexdigest()} does not match its name {expected}")


# Links resolved through other links in the archive: more hops than this is a loop (Linux's own limit).
_MAX_LINK_HOPS = 40


def _resolve(path: str, links: dict[str, str]) -> list[str] | None:
    """Where `path` (relative to the extraction root) lands once the archive's own symlinks are
    followed, as path components; None when it leaves the root or loops. This is realpath()
    computed over the archive instead of the disk, so it holds before anything is written."""
    out: list[str] = []
    todo = path.split("/")
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
        target = links.get("/".join(out))
        if target is not None:
            hops += 1
            if hops > _MAX_LINK_HOPS or target.startswith("/"):
                return None
            out.pop()
            todo = target.split("/") + todo
    return out


def check_members(members: list[tarfile.TarInfo]) -> None:
    """Refuse a tarball that `tarfile.data_filter` would refuse, and more, naming the member:
    absolute paths, paths or links leaving the root (also through the archive's own symlinks),
    device files and fifos, and duplicate names (a later entry could replace a checked one)."""
    links = {os.path.normpath(m.name): m.linkname for m in members if m.issym()}
    seen: set[str] = set()
    for m in members:
        name = os.path.normpath(m.name)
        if m.name.startswith("/") or os.path.isabs(name):
            raise SnapshotError(f"unsafe snapshot: {m.name!r} has an absolute path")
        if name in seen and name != ".":
            raise SnapshotError(f"unsafe snapshot: {m.name!r} appears twice")
        seen.add(name)
        if not (m.isreg() or m.isdir() or m.issym() or m.islnk()):
            raise SnapshotError(f"unsafe snapshot: {m.name!r} is a device file or fifo, not a file, directory or link")
        if name == ".." or name.startswith("../") or _resolve(os.path.dirname(name), links) is None:
            raise SnapshotError(f"unsafe snapshot: {m.name!r} would be written outside the destination")
        if m.issym() or m.islnk():
            if m.linkname.startswith("/"):
                raise SnapshotError(f"unsafe snapshot: link {m.name!r} has an absolute target {m.linkname!r}")
            # A symlink's target is relative to its directory; a hard link's to the archive root.
            target = os.path.join(os.path.dirname(name), m.linkname) if m.issym() else m.linkname
            if _resolve(target, links) is None:
                raise SnapshotError(
                    f"unsafe snapshot: link {m.name!r} -> {m.linkname!r} points outside the destination"
                )


def check_on_disk(members: list[tarfile.TarInfo], dest: Path) -> None:
    """What `dest` already holds (a retried attempt's files, inputs staged beside the code) may
    have symlinks of its own: each member's path and link target must still resolve inside
    `dest` when followed on disk, as the data filter checks with realpath()."""
    root = os.path.realpath(dest)

    def inside(path: str) -> bool:
        return os.path.commonpath([root, os.path.realpath(os.path.join(root, path))]) == root

    for m in members:
        name = os.path.normpath(m.name)
        if not inside(os.path.dirname(name)):
            raise SnapshotError(f"unsafe snapshot: {m.name!r} would be written outside the destination")
        if m.issym() or m.islnk():
            target = os.path.join(os.path.dirname(name), m.linkname) if m.issym() else m.linkname
            if not inside(target):
                where = f"link {m.name!r} -> {m.linkname!r}"
                raise SnapshotError(f"unsafe snapshot: {where} points outside the destination")


def _data_mode(m: tarfile.TarInfo) -> int:
    """The mode `tarfile.data_filter` gives: no setuid/setgid/sticky, no group/other write; a file
    the owner cannot execute is executable by nobody; the owner can always read and write."""
    mode = m.mode & 0o755
    if m.isdir():
        return mode | 0o700
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


def _sanitized(m: tarfile.TarInfo) -> tarfile.TarInfo:
    """A copy of a checked member as the data filter would leave it, for Pythons without one
    (Debian bookworm's 3.11.2: the filters arrived in 3.11.4). TarInfo.replace() is 3.11.4 too."""
    out = copy.copy(m)
    if not m.issym():  # tarfile never chmods a symlink
        out.mode = _data_mode(m)
    # Ownership is the extracting user's, as with the data filter (tarfile chowns only as root).
    out.uid, out.gid, out.uname, out.gname = os.geteuid(), os.getegid(), "", ""
    return out


def extract(tarball: Path, dest: Path) -> int:
    """Extract a snapshot into `dest`, refusing absolute paths, '..', links leaving `dest` and
    special files before anything is written. Returns the number of entries.

    The check is ours on every Python, so a bad tarball gets the same message everywhere; where
    the standard library has `tarfile.data_filter` (3.11.4+) it is applied on top, otherwise the
    members are extracted as the copies that filter would make."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(tarball, mode="r:gz") as tar:
            members = tar.getmembers()
            check_members(members)
            check_on_disk(members, dest)
            if getattr(tarfile, "data_filter", None) is not None:
                tar.extractall(dest, members=members, filter="data")
            else:
                tar.extractall(dest, members=[_sanitized(m) for m in members])
    except (tarfile.ReadError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise SnapshotError(f"corrupt snapshot {tarball.name}: {exc}") from None
    except tarfile.TarError as exc:  # the stdlib filter refused what ours let through (FilterError)
        raise SnapshotError(f"unsafe snapshot: {exc}") from None
    return len(members)
