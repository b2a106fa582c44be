"""S3 ETags: what they promise about content, and checking a file against one.

A single-part upload's ETag is the MD5 of the content. A multipart upload's is
md5(concat(md5(part_i))) + "-N": checkable only when the part size is known, so we try the part
sizes common clients use (ours, minio-go/mc, boto3, minio-py) that give exactly N parts. Any other
ETag (SSE-KMS, SSE-C, odd part sizes) can only be checked by size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from pathlib import Path

MiB = 1024 * 1024
UPLOAD_PART_SIZE = 16 * MiB  # ours; also minio-go's and mc's minimum
COMMON_PART_SIZES = (16 * MiB, 8 * MiB, 5 * MiB, 32 * MiB, 64 * MiB, 128 * MiB, 10 * MiB, 15 * MiB)
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_MULTI = re.compile(r"^([0-9a-f]{32})-(\d+)$")
CHUNK = 1 * MiB


class VerificationError(Exception):
    """A downloaded or cached file does not match its object's size or ETag."""


def normalize(etag: str | None) -> str:
    return (etag or "").strip().strip('"').lower()


def kind(etag: str) -> str:
    """'md5', 'multipart' or 'opaque'."""
    etag = normalize(etag)
    if _MD5.match(etag):
        return "md5"
    if _MULTI.match(etag):
        return "multipart"
    return "opaque"


def part_sizes(etag: str, size: int) -> list[int]:
    """Candidate part sizes for a multipart ETag: those giving exactly its part count."""
    m = _MULTI.match(normalize(etag))
    if not m:
        return []
    count = int(m.group(2))
    if count == 1:
        return [max(size, 1)]
    return [p for p in COMMON_PART_SIZES if math.ceil(size / p) == count]


def multipart_etag(part_md5s: list[bytes]) -> str:
    return f"{hashlib.md5(b''.join(part_md5s)).hexdigest()}-{len(part_md5s)}"


@dataclasses.dataclass(frozen=True)
class Digests:
    md5: str | None = None
    multipart: str | None = None  # the ETag a multipart upload with the given part size gets
    sha256: str | None = None


def digest_file(path: Path, part_size: int | None = None, *, md5: bool = True, sha256: bool = False) -> Digests:
    """In one read: MD5, the multipart ETag at `part_size` (if given) and SHA-256 (if asked)."""
    hashers = [h for h in (hashlib.md5() if md5 else None, hashlib.sha256() if sha256 else None) if h]
    parts, cur, filled = [], hashlib.md5(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            for h in hashers:
                h.update(chunk)
            if not part_size:
                continue
            view = memoryview(chunk)
            while view:
                take = min(len(view), part_size - filled)
                cur.update(view[:take])
                filled, view = filled + take, view[take:]
                if filled == part_size:
                    parts.append(cur.digest())
                    cur, filled = hashlib.md5(), 0
    if part_size and (filled or not parts):
        parts.append(cur.digest())
    it = iter(hashers)
    return Digests(
        md5=next(it).hexdigest() if md5 else None,
        multipart=multipart_etag(parts) if part_size else None,
        sha256=next(it).hexdigest() if sha256 else None,
    )


def verifiable(etag: str, size: int) -> bool:
    k = kind(etag)
    return k == "md5" or (k == "multipart" and bool(part_sizes(etag, size)))


def verify_file(path: Path, size: int, etag: str) -> bool:
    """Check `path` against an object's size and ETag. Returns True when the ETag was checked,
    False when only the size could be; raises VerificationError on a mismatch."""
    actual = path.stat().st_size
    if actual != size:
        raise VerificationError(f"{path.name}: size {actual} != expected {size}")
    etag = normalize(etag)
    k = kind(etag)
    if k == "md5":
        got = digest_file(path).md5
        if got != etag:
            raise VerificationError(f"{path.name}: md5 {got} != ETag {etag}")
        return True
    candidates = part_sizes(etag, size)
    if not candidates:
        return False
    seen = []
    for p in candidates:
        got = digest_file(path, p, md5=False).multipart
        if got == etag:
            return True
        seen.append(got)
    raise VerificationError(f"{path.name}: multipart ETag {etag} matches none of {seen}")
