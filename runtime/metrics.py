"""Metric records: one JSON object per line in metrics.jsonl, appended by the SDK and read by the
runner's reporter, the CLI and `Run.get_metrics()`.

    {"t": 1700000000.1, "kind": "metric", "name": "accuracy", "value": 0.92}
    {"t": ..., "kind": "list", "name": "loss", "values": [0.9, 0.5]}
    {"t": ..., "kind": "row", "name": "table", "row": {"epoch": 1, "loss": 0.5}}
    {"t": ..., "kind": "tag", "key": "team", "value": "vision"}
    {"t": ..., "kind": "file", "name": "outputs/model.pkl", "size": 123, "sha256": "..."}
"""

from __future__ import annotations

import json
import math
import numbers
import os
from pathlib import Path


def _plain(value):
    """numpy scalars and other number-likes as plain JSON values."""
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, numbers.Number):
        return float(value)
    return str(value)


def encode(record: dict) -> str:
    return json.dumps(record, default=_plain, separators=(",", ":")) + "\n"


def append(path: Path, record: dict) -> None:
    """Append one record with a single O_APPEND write, so concurrent writers never interleave."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, encode(record).encode())
    finally:
        os.close(fd)


def parse_lines(text: str) -> list[dict]:
    """Records from complete lines; a malformed line is skipped rather than fatal."""
    records = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            records.append(rec)
    return records


def read(path: Path) -> list[dict]:
    try:
        return parse_lines(Path(path).read_text())
    except FileNotFoundError:
        return []


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def latest_numbers(records: list[dict], into: dict | None = None) -> dict[str, float]:
    """The latest finite numeric value of each metric (the last element of a list), in first-
    logged order: what status.metrics shows."""
    out = {} if into is None else into
    for rec in records:
        kind, name = rec.get("kind"), rec.get("name")
        value = rec.get("value") if kind == "metric" else (rec.get("values") or [None])[-1] if kind == "list" else None
        if isinstance(name, str) and is_number(value):
            out[name] = value
    return out


def aggregate(records: list[dict]) -> dict:
    """Azure ML's `get_metrics()` shape: a metric logged once is its value, more than once a list;
    a list metric is its list; a row metric is {column: [values...]}."""
    out: dict = {}
    counts: dict[str, int] = {}
    for rec in records:
        kind, name = rec.get("kind"), rec.get("name")
        if kind == "metric":
            counts[name] = counts.get(name, 0) + 1
            if counts[name] == 1:
                out[name] = rec.get("value")
            elif counts[name] == 2:
                out[name] = [out[name], rec.get("value")]
            else:
                out[name].append(rec.get("value"))
        elif kind == "list":
            out[name] = list(rec.get("values") or [])
        elif kind == "row":
            table = out.setdefault(name, {})
            for col, value in (rec.get("row") or {}).items():
                table.setdefault(col, []).append(value)
    return out


def tags(records: list[dict]) -> dict:
    return {r["key"]: r.get("value") for r in records if r.get("kind") == "tag" and "key" in r}


def files(records: list[dict]) -> list[dict]:
    return [{k: r.get(k) for k in ("name", "size", "sha256")} for r in records if r.get("kind") == "file"]
