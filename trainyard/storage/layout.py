"""The bucket layout, as pure functions returning object keys (one bucket for everything).

snapshots/<sha256>.tar.gz                 code snapshots, content-addressed
runs/<namespace>/<run>/<uid>/outputs/...        the script's ./outputs
runs/<namespace>/<run>/<uid>/logs/...           the script's ./logs (std_log.txt, ...)
runs/<namespace>/<run>/<uid>/metrics.jsonl      every metric record, in order
runs/<namespace>/<run>/<uid>/manifest.json      path, size, sha256 of each uploaded file
models/<namespace>/<model>/<version>/           registered model versions (immutable)

A run's prefix holds its uid: a TrainingRun deleted and re-created under the same name is another
run, and must never write over the first one's files (a registered version's lineage points at
them). The uid is a segment of its own, not a suffix of the name, so no run name can produce
another run's prefix. Runs created before the uid was added wrote runs/<namespace>/<run>/ directly;
their status.artifactsUri says so, and `run_prefix_of` (what every reader uses) follows it.
"""

from __future__ import annotations

import re

from trainyard.storage.uri import parse_s3

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


def run_prefix(namespace: str, run: str, uid: str) -> str:
    """The run's own prefix. An empty uid gives the layout of runs made before uids were in it."""
    base = f"runs/{_segment(namespace, 'namespace')}/{_segment(run, 'run name')}/"
    return base + f"{_segment(uid, 'run uid')}/" if uid else base


def run_outputs_prefix(namespace: str, run: str, uid: str) -> str:
    return run_prefix(namespace, run, uid) + "outputs/"


def run_logs_prefix(namespace: str, run: str, uid: str) -> str:
    return run_prefix(namespace, run, uid) + "logs/"


def run_metrics_key(namespace: str, run: str, uid: str) -> str:
    return run_prefix(namespace, run, uid) + "metrics.jsonl"


def run_manifest_key(namespace: str, run: str, uid: str) -> str:
    return run_prefix(namespace, run, uid) + "manifest.json"


def run_prefix_of(run: dict) -> str:
    """Where a TrainingRun object's files are: the key of its status.artifactsUri once the
    operator recorded one (so runs from before the uid layout still read back), else its
    namespace, name and uid."""
    recorded = (run.get("status") or {}).get("artifactsUri")
    if recorded:
        return parse_s3(recorded).as_prefix().key
    meta = run["metadata"]
    return run_prefix(meta.get("namespace") or "default", meta["name"], meta.get("uid") or "")


def model_root(namespace: str, model: str) -> str:
    """Every version of a model, the versions of a deleted and re-created one included."""
    return f"models/{_segment(namespace, 'namespace')}/{_segment(model, 'model name')}/"


def model_prefix(namespace: str, model: str, version: int) -> str:
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"model version must be a positive integer, got {version!r}")
    return model_root(namespace, model) + f"{version}/"


def model_version_of(namespace: str, model: str, key: str) -> int | None:
    """The version whose manifest `key` is (models/<ns>/<model>/<n>/manifest.json), else None."""
    m = re.fullmatch(re.escape(model_root(namespace, model)) + r"([1-9][0-9]*)/manifest\.json", key)
    return int(m.group(1)) if m else None
