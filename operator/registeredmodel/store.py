"""The registry's object-store steps: read a source once (hashing it and keeping it for framework
detection), copy it server-side into the version's prefix — on the condition that it is still the
very object that was hashed — verify the copy, and write the version's manifest.

Ordering is what makes a version all-or-nothing: copy, verify, manifest, and only then does the
reconcile record the version in status. A version exists once its manifest does, and a prefix that
holds a manifest is never written again (`manifest_exists` before the copy; `stored_versions` makes
numbering continue past every manifest, those of a deleted and re-created model included).
A crash before the manifest leaves a half version nobody can see: the retry computes the same
number and writes the same bytes over it. A crash after the manifest but before the status write
leaves a whole version the status lacks: the retry finds it by its sourceKey in `stored_versions`
and records it as it is, writing nothing. So no duplicate version, no half version and no
rewritten version is ever visible.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tempfile
from pathlib import Path

from trainyard.operator.core.artifacts import open_object
from trainyard.storage import layout

CHUNK = 1 << 20
SINGLE_COPY_LIMIT = 5 << 30  # S3 CopyObject's limit; larger objects are copied as a multipart compose


class StoreMismatch(Exception):
    """The copy is not the object that was read (changed meanwhile, or corrupted)."""


class VersionTaken(Exception):
    """The version's prefix already holds a manifest (another writer got there first); the
    reconcile fails and its retry numbers past it."""


@dataclasses.dataclass(frozen=True)
class Fetched:
    path: Path
    size: int
    sha256: str
    etag: str


def fetch(client, bucket: str, key: str, dest_dir: Path) -> Fetched | None:
    """Download `key` into `dest_dir`, hashing as it arrives. None when the object does not exist."""
    resp = open_object(client, bucket, key)
    if resp is None:
        return None
    digest, size = hashlib.sha256(), 0
    fd, name = tempfile.mkstemp(dir=dest_dir, prefix="artifact-")
    try:
        with open(fd, "wb") as out:
            for chunk in resp.stream(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        etag = (resp.headers.get("ETag") or "").strip('"')
    finally:
        resp.close()
        resp.release_conn()
    return Fetched(Path(name), size, digest.hexdigest(), etag)


def copy_verified(client, src_bucket: str, src_key: str, fetched: Fetched, dst_bucket: str, dst_key: str) -> None:
    """Server-side copy of exactly the bytes that were hashed (If-Match on their ETag), then
    check the copy's size, and its ETag where S3 makes it comparable (single-part MD5)."""
    from minio.commonconfig import ComposeSource, CopySource
    from minio.error import S3Error

    meta = {"x-amz-meta-sha256": fetched.sha256}
    try:
        if fetched.size <= SINGLE_COPY_LIMIT:
            client.copy_object(
                dst_bucket,
                dst_key,
                CopySource(src_bucket, src_key, match_etag=fetched.etag or None),
                metadata=meta,
                metadata_directive="REPLACE",
            )
        else:
            client.compose_object(
                dst_bucket,
                dst_key,
                [ComposeSource(src_bucket, src_key, match_etag=fetched.etag or None)],
                metadata=meta,
            )
    except S3Error as exc:
        if exc.code == "PreconditionFailed":
            raise StoreMismatch(f"s3://{src_bucket}/{src_key} changed while it was being registered") from exc
        raise
    copied = client.stat_object(dst_bucket, dst_key)
    if copied.size != fetched.size:
        raise StoreMismatch(f"copy of s3://{src_bucket}/{src_key} has {copied.size} bytes, expected {fetched.size}")
    single_part = fetched.etag and "-" not in fetched.etag and "-" not in (copied.etag or "")
    if single_part and copied.etag.strip('"') != fetched.etag:
        raise StoreMismatch(f"copy of s3://{src_bucket}/{src_key} differs from the source (ETag)")


def manifest_key(namespace: str, model: str, version: int) -> str:
    return layout.model_prefix(namespace, model, version) + "manifest.json"


def write_manifest(client, bucket: str, namespace: str, model: str, entry: dict) -> None:
    """The version's record next to its files, in the runs' manifest shape plus its lineage."""
    doc = {
        "files": [{"path": entry["uri"].rsplit("/", 1)[1], "size": entry["size"], "sha256": entry["sha256"]}],
        "version": entry,
    }
    raw = json.dumps(doc, indent=2, sort_keys=True).encode()
    client.put_object(
        bucket,
        manifest_key(namespace, model, entry["version"]),
        io.BytesIO(raw),
        len(raw),
        content_type="application/json",
    )


def manifest_exists(client, bucket: str, namespace: str, model: str, version: int) -> bool:
    from minio.error import S3Error

    try:
        client.stat_object(bucket, manifest_key(namespace, model, version))
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
            return False
        raise
    return True


def stored_versions(client, bucket: str, namespace: str, model: str) -> list[dict]:
    """The version entry of every manifest under models/<ns>/<model>/. A manifest that cannot be
    parsed still holds its number: {"version": n} without a sourceKey."""
    found = []
    for obj in client.list_objects(bucket, prefix=layout.model_root(namespace, model), recursive=True):
        number = layout.model_version_of(namespace, model, obj.object_name)
        if number is None:
            continue
        resp = open_object(client, bucket, obj.object_name)
        if resp is None:
            continue
        try:
            raw = resp.read()
        finally:
            resp.close()
            resp.release_conn()
        try:
            entry = json.loads(raw).get("version")
        except (ValueError, AttributeError):
            entry = None
        if not isinstance(entry, dict) or entry.get("version") != number:
            entry = {"version": number}
        found.append(entry)
    return sorted(found, key=lambda e: e["version"])
