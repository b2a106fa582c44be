"""Object-store credentials scoped to one run.

The operator asks the store's STS (AssumeRole, as AWS and MinIO implement it) for temporary
credentials restricted by a session policy: read the run's code snapshot and its inputs, write only
under the run's own prefix, `runs/<namespace>/<run>/<uid>/` (trainyard/storage/layout.py), so a run
re-created under the same name cannot write over its predecessor's files. When AssumeRole fails
— a store without STS, or any other error of the call — `mint` returns the operator's own
credentials marked `scoped=False`; its caller (operator/core/store_secrets.py) logs a warning and
puts them in the pod's Secret. Nothing in the run's status says so yet.
"""

from __future__ import annotations

import dataclasses
import json

from trainyard.storage import layout
from trainyard.storage.uri import parse_s3

MAX_DURATION = 30 * 24 * 3600
DEFAULT_DURATION = 24 * 3600


@dataclasses.dataclass(frozen=True)
class RunCredentials:
    access_key: str
    secret_key: str
    session_token: str
    scoped: bool


def _arn(bucket: str, key: str = "") -> str:
    return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key else "")


def run_policy(run: dict, bucket: str) -> dict:
    """The session policy of a run's pod (pure)."""
    ns, name = run["metadata"]["namespace"], run["metadata"]["name"]
    spec = run["spec"]
    own = layout.run_prefix(ns, name, run["metadata"]["uid"])
    read_objects = [_arn(bucket, own + "*")]
    list_prefixes: dict[str, list[str]] = {bucket: [own + "*"]}
    snapshot = spec["source"].get("snapshot")
    if snapshot:
        u = parse_s3(snapshot)
        read_objects.append(_arn(u.bucket, u.key))
        list_prefixes.setdefault(u.bucket, []).append(u.key)
    for inp in spec.get("inputs") or []:
        u = parse_s3(inp["uri"])
        prefix = u.key
        read_objects.append(_arn(u.bucket, prefix + "*"))
        list_prefixes.setdefault(u.bucket, []).append(prefix + "*")
        list_prefixes[u.bucket].append(prefix)
    statements = [
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": [_arn(b) for b in sorted(list_prefixes)]},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": sorted(set(read_objects))},
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
            "Resource": [_arn(bucket, own + "*")],
        },
    ]
    for b, prefixes in sorted(list_prefixes.items()):
        statements.append(
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [_arn(b)],
                "Condition": {"StringLike": {"s3:prefix": sorted(set(prefixes))}},
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def duration_for(run: dict) -> int:
    timeout = run["spec"].get("timeoutSeconds")
    return min(MAX_DURATION, max(3600, timeout + 3600)) if timeout else DEFAULT_DURATION


def mint(endpoint: str, access_key: str, secret_key: str, policy: dict, duration: int) -> RunCredentials:
    """Temporary credentials under `policy`, or the given ones unscoped when AssumeRole fails."""
    from minio.credentials.providers import AssumeRoleProvider

    try:
        creds = AssumeRoleProvider(
            sts_endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            duration_seconds=duration,
            policy=json.dumps(policy),
        ).retrieve()
    except Exception:  # no STS on this store (or the call failed): fall back to unscoped keys
        return RunCredentials(access_key, secret_key, "", scoped=False)
    return RunCredentials(creds.access_key, creds.secret_key, creds.session_token or "", scoped=True)
