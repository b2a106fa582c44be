"""The bucket layout, as pure functions returning object keys (one bucket for everything).

snapshots/<sha256>.tar.gz                 code snapshots, content-addressed
runs/<namespace>/<run>/outputs/...        the script's ./outputs
runs/<namespace>/<run>/logs/...           the script's ./logs (std_log.txt, ...)
runs/<namespace>/<run>/metrics.jsonl      every metric record, in order
runs/<namespace>/<run>/manifest.json      path, size, sha256 of each uploaded file
models/<namespace>/<model>/<version>/     registered model versions (immutable)
"""

from __future__ import annotations

import re

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value or "") or value in (".", ".."):
        raise ValueError(f"invalid {what} {value!r} for an object key")
    return value


def snapshot_key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"snapshots/{sha256}.tar.gz"


def snapshot_sha256(key: str) -> str | None:
    """The digest a snapshot key promises, or None if the key is not content-addressed."""
    m = re.search(r"(?:^|/)([0-9a-f]{64})\.tar\.gz$", key)
    return m.group(1) if m else None


def run_prefix(namespace: str, run: str) -> str:
    return f"runs/{_segment(namespace, 'namespace')}/{_segment(run, 'run name')}/"


def run_outputs_prefix(namespace: str, run: str) -> str:
    return run_prefix(namespace, run) + "outputs/"


def run_logs_prefix(namespace: str, run: str) -> str:
    return run_prefix(namespace, run) + "logs/"


def run_metrics_key(namespace: str, run: str) -> str:
    return run_prefix(namespace, run) + "metrics.jsonl"


def run_manifest_key(namespace: str, run: str) -> str:
    return run_prefix(namespace, run) + "manifest.json"


def model_prefix(namespace: str, model: str, version: int) -> str:
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"model version must be a positive integer, got {version!r}")
    return f"models/{_segment(namespace, 'namespace')}/{_segment(model, 'model name')}/{version}/"
