"""A node-local cache of downloaded objects, keyed by content (ETag + size).

    <root>/objects/<etag>-<size>          a verified object, read-only
    <root>/objects/<etag>-<size>.ok       its fingerprint: size, mtime_ns, inode, whether the ETag was checked
    <root>/objects/<etag>-<size>.part     a download in progress (resumed by the next attempt)
    <root>/objects/<etag>-<size>.ranges   completed byte ranges of a ranged download in progress
    <root>/objects/<etag>-<size>.lock     flock held while one process fetches the object

A hit costs a stat: the entry is trusted only while its size, mtime and inode equal the
fingerprint taken when it was verified, so a cached file changed in place (a script writing to
its hardlinked input) is noticed and fetched again. Entries are placed into a target directory by
reflink, else hardlink (same filesystem), else copy.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
from pathlib import Path

_SAFE = re.compile(r"^[A-Za-z0-9-]{1,80}$")
FICLONE = 0x40049409


def entry_id(etag: str, size: int) -> str:
    etag = etag.strip().strip('"').lower()
    if not _SAFE.match(etag):
        etag = "h" + hashlib.sha256(etag.encode()).hexdigest()[:40]
    return f"{etag}-{size}"


def _fingerprint(st: os.stat_result) -> dict:
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


class ObjectCache:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.dir = self.root / "objects"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, etag: str, size: int) -> Path:
        return self.dir / entry_id(etag, size)

    def part_path(self, etag: str, size: int) -> Path:
        return self.dir / (entry_id(etag, size) + ".part")

    def ranges_path(self, etag: str, size: int) -> Path:
        return self.dir / (entry_id(etag, size) + ".ranges")

    @contextlib.contextmanager
    def lock(self, etag: str, size: int):
        """Exclusive across threads and processes (pods on one node share the cache)."""
        fd = os.open(self.dir / (entry_id(etag, size) + ".lock"), os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def lookup(self, etag: str, size: int, *, drop: bool = True) -> tuple[Path | None, bool]:
        """(path of a trusted entry or None, whether an untrustworthy entry was dropped). Call
        with `drop=True` only while holding the entry's lock."""
        path = self.path(etag, size)
        ok = path.with_name(path.name + ".ok")
        try:
            st = path.stat()
            recorded = json.loads(ok.read_text())
        except (FileNotFoundError, ValueError):
            dropped = drop and path.exists()
            if dropped:
                self.drop(etag, size)
            return None, dropped
        if {k: recorded.get(k) for k in ("size", "mtime_ns", "ino")} != _fingerprint(st) or st.st_size != size:
            if drop:
                self.drop(etag, size)
            return None, drop
        return path, False

    def drop(self, etag: str, size: int) -> None:
        path = self.path(etag, size)
        for p in (path, path.with_name(path.name + ".ok")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def commit(self, etag: str, size: int, part: Path, *, etag_checked: bool) -> Path:
        """Move a verified download into the cache, read-only, and record its fingerprint."""
        path = self.path(etag, size)
        os.chmod(part, 0o444)
        os.replace(part, path)
        with contextlib.suppress(FileNotFoundError):
            self.ranges_path(etag, size).unlink()
        record = {**_fingerprint(path.stat()), "etag": etag, "etagChecked": etag_checked}
        tmp = path.with_name(path.name + ".ok.tmp")
        tmp.write_text(json.dumps(record))
        os.replace(tmp, path.with_name(path.name + ".ok"))
        return path


# (source device, target device) pairs where reflinks failed once: not tried again.
_NO_REFLINK: set[tuple[int, int]] = set()


def place(src: Path, dst: Path) -> str:
    """Put a cached file at `dst`: reflink (copy-on-write), else hardlink, else copy. Returns
    which one worked."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    src_st = src.stat()
    try:
        dst_st = dst.stat()
        if (dst_st.st_dev, dst_st.st_ino) == (src_st.st_dev, src_st.st_ino):
            return "present"
        dst.unlink()
    except FileNotFoundError:
        pass
    devices = (src_st.st_dev, dst.parent.stat().st_dev)
    if devices not in _NO_REFLINK:
        if _reflink(src, dst):
            return "reflink"
        _NO_REFLINK.add(devices)
    try:
        os.link(src, dst)
        return "hardlink"
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
    shutil.copyfile(src, dst)
    return "copy"


def _reflink(src: Path, dst: Path) -> bool:
    with open(src, "rb") as s:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            fcntl.ioctl(fd, FICLONE, s.fileno())
            return True
        except OSError:
            os.close(fd)
            fd = -1
            dst.unlink()
            return False
        finally:
            if fd >= 0:
                os.close(fd)
