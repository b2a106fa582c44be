"""`s3://bucket/key` and `file:///path` URIs: parsing, formatting and scheme dispatch."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

# S3 bucket naming rules (the subset every S3 server accepts).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclasses.dataclass(frozen=True)
class S3Uri:
    """An object key or a key prefix in a bucket. `key` never starts with '/'."""

    bucket: str
    key: str = ""

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    def as_prefix(self) -> S3Uri:
        """The same location as a directory-like prefix (ends with '/', or empty for the bucket)."""
        return self if self.is_prefix else S3Uri(self.bucket, self.key + "/")

    def join(self, *parts: str) -> S3Uri:
        key = self.as_prefix().key + "/".join(p.strip("/") for p in parts if p.strip("/"))
        if parts and parts[-1].endswith("/"):
            key += "/"
        return S3Uri(self.bucket, key)

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name


@dataclasses.dataclass(frozen=True)
class FileUri:
    """A local directory or file, for `file://` sources and tests."""

    path: Path

    def __str__(self) -> str:
        return self.path.resolve().as_uri()


def parse_s3(uri: str) -> S3Uri:
    """Parse `s3://bucket[/key]`; raise ValueError with the offending text otherwise."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(f"invalid bucket name {bucket!r} in {uri!r}")
    if any(part == ".." for part in key.split("/")):
        raise ValueError(f"'..' is not allowed in an object key: {uri!r}")
    return S3Uri(bucket, key.lstrip("/"))


def parse(uri: str) -> S3Uri | FileUri:
    """Dispatch on the scheme: `s3://` or `file://` (a bare absolute path counts as file)."""
    if uri.startswith("s3://"):
        return parse_s3(uri)
    if uri.startswith("file://"):
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"file:// URI with a remote host is not supported: {uri!r}")
        return FileUri(Path(unquote(parts.path)))
    if uri.startswith("/"):
        return FileUri(Path(uri))
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    raise ValueError(f"unsupported URI scheme {scheme!r} in {uri!r} (expected s3:// or file://)")
