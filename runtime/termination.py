"""The termination message the operator reads from the pod status
(`status.containerStatuses[].state.terminated.message`): one JSON object, at most 4096 bytes.

Staging failure:  {"reason": "DataStagingFailed", "input": "mnist", "message": "..."}
                  (a code source problem names "source" instead of "input")
Script finished:  {"reason": "Completed" | "ScriptFailed" | "OutputUploadFailed", "exitCode": 1,
                   "lastLogLines": [...], "artifactsUri": "s3://...", "manifest": "s3://.../manifest.json",
                   "outputCount": 3, "outputBytes": 1234, "outputs": [{"path", "size", "sha256"}, ...]}
Entries are dropped (outputs first, then the oldest log lines) until the message fits; a dropped
`outputs` list is marked `"outputsTruncated": true` and the full list stays in the manifest.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LIMIT = 4096  # the kubelet truncates longer messages, which would break the JSON
MAX_LINE = 240

DATA_STAGING_FAILED = "DataStagingFailed"
SCRIPT_FAILED = "ScriptFailed"
COMPLETED = "Completed"
OUTPUT_UPLOAD_FAILED = "OutputUploadFailed"
INVALID_CONFIG = "InvalidRunConfig"


def _size(msg: dict) -> int:
    return len(json.dumps(msg, separators=(",", ":")).encode())


def fit(msg: dict, limit: int = LIMIT) -> dict:
    """A copy of `msg` that encodes to at most `limit` bytes, keeping the most useful parts."""
    msg = dict(msg)
    if "lastLogLines" in msg:
        msg["lastLogLines"] = [line if len(line) <= MAX_LINE else line[:MAX_LINE] + "…" for line in msg["lastLogLines"]]
    if "message" in msg and len(msg["message"]) > 1024:
        msg["message"] = msg["message"][:1024] + "…"
    while _size(msg) > limit and msg.get("outputs"):
        msg["outputs"] = msg["outputs"][:-1]
        msg["outputsTruncated"] = True
    while _size(msg) > limit and msg.get("lastLogLines"):
        msg["lastLogLines"] = msg["lastLogLines"][1:]
    if _size(msg) > limit and "message" in msg:
        msg["message"] = msg["message"][: max(0, len(msg["message"]) - (_size(msg) - limit) - 8)] + "…"
    return msg


def encode(msg: dict, limit: int = LIMIT) -> str:
    return json.dumps(fit(msg, limit), separators=(",", ":"))


def write(path: Path, msg: dict) -> None:
    """Write the message; a missing or read-only path (outside a pod) only warns."""
    try:
        Path(path).write_text(encode(msg))
    except OSError as exc:
        print(f"trainyard: could not write termination message to {path}: {exc}", file=sys.stderr)
