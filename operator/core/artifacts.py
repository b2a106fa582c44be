"""What the operator reads back from the object store about a run: its outputs manifest and its
final metrics. The runner writes both before its container exits."""

from __future__ import annotations

import json
import math

from trainyard.storage import layout


def open_object(client, bucket: str, key: str):
    """The object's streaming response, or None when it (or its bucket) does not exist.
    The caller closes and releases the response."""
    from minio.error import S3Error

    try:
        return client.get_object(bucket, key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchBucket"):
            return None
        raise


def _get(client, bucket: str, key: str) -> bytes | None:
    resp = open_object(client, bucket, key)
    if resp is None:
        return None
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()


def parse_manifest(raw: bytes) -> list[dict]:
    """The manifest is {"files": [{"path", "size", "sha256"}, ...]} (or a bare list)."""
    data = json.loads(raw)
    files = data.get("files", []) if isinstance(data, dict) else data
    return [{"path": f["path"], "size": int(f["size"]), "sha256": f["sha256"]} for f in files]


def latest_metrics(raw: bytes) -> dict[str, float]:
    """Latest numeric value of each metric in a metrics.jsonl (one JSON record per line)."""
    latest: dict[str, float] = {}
    for line in raw.decode(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        name, value = rec.get("name"), rec.get("value")
        if (
            isinstance(name, str)
            and isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
        ):
            latest[name] = value
    return latest


def read_outputs(client, bucket: str, run: dict) -> list[dict] | None:
    raw = _get(client, bucket, layout.run_prefix_of(run) + "manifest.json")
    return None if raw is None else parse_manifest(raw)


def read_metrics(client, bucket: str, run: dict) -> dict[str, float]:
    raw = _get(client, bucket, layout.run_prefix_of(run) + "metrics.jsonl")
    return {} if raw is None else latest_metrics(raw)


def artifacts_uri(bucket: str, run: dict) -> str:
    """The one pointer every reader follows (status.artifactsUri): the run's uid prefix."""
    return f"s3://{bucket}/{layout.run_prefix_of(run)}"
