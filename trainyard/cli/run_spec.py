"""Pure helpers of `trainyard submit`: run names, `--input` parsing, and the TrainingRun manifest."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from trainyard.api.constants import API_VERSION, LABEL_EXPERIMENT, TRAINING_RUN

_NAME_UNSAFE = re.compile(r"[^a-z0-9-]+")
_INPUT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(ValueError):
    """A command-line value that cannot become a valid TrainingRun."""


def run_name(experiment: str, now: dt.datetime | None = None, suffix: str | None = None) -> str:
    """`<experiment>-<yymmdd-hhmmss>-<4 hex>`, DNS-safe, at most 53 characters (like Azure ML's
    `<experiment>_<timestamp>_<id>` run ids)."""
    now = now or dt.datetime.now(dt.UTC)
    suffix = suffix or secrets.token_hex(2)
    stamp = now.strftime("%y%m%d-%H%M%S")
    base = _NAME_UNSAFE.sub("-", experiment.lower()).strip("-")[: 53 - len(stamp) - len(suffix) - 2].rstrip("-")
    return "-".join(p for p in (base or "run", stamp, suffix))


def parse_inputs(values: list[str] | None) -> list[dict]:
    """`name=s3://bucket/prefix[:mount]` -> [{"name", "uri", "mode"}]."""
    inputs, seen = [], set()
    for raw in values or []:
        name, sep, uri = raw.partition("=")
        if not sep or not uri:
            raise SpecError(f"--input {raw!r}: expected NAME=s3://bucket/prefix")
        if not _INPUT_NAME.match(name):
            raise SpecError(
                f"--input {raw!r}: the name must be lower-case letters, digits and '_', "
                "starting with a letter (it becomes TRAINYARD_INPUT_<NAME>)"
            )
        mode = "download"
        for m in ("download", "mount"):
            if uri.endswith(":" + m):
                uri, mode = uri[: -len(m) - 1], m
        if not uri.startswith("s3://"):
            raise SpecError(f"--input {raw!r}: the URI must start with s3://")
        if name in seen:
            raise SpecError(f"--input {name!r} is given twice")
        seen.add(name)
        inputs.append({"name": name, "uri": uri, "mode": mode})
    return inputs


def training_run(
    *,
    name: str,
    namespace: str,
    experiment: str,
    compute: str,
    source: dict,
    entry_script: str,
    args: list[str],
    inputs: list[dict],
    pip: list[str] | None = None,
    image: str | None = None,
    cpu: str | None = None,
    memory: str | None = None,
    max_retries: int | None = None,
    timeout: int | None = None,
    primary_metric: str | None = None,
) -> dict:
    spec: dict = {"experiment": experiment, "compute": compute, "source": source, "entryScript": entry_script}
    if args:
        spec["args"] = list(args)
    if inputs:
        spec["inputs"] = inputs
    env = {k: v for k, v in (("image", image), ("pip", list(pip or []) or None)) if v}
    if env:
        spec["environment"] = env
    res = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if res:
        spec["resources"] = res
    if max_retries is not None:
        spec["maxRetries"] = max_retries
    if timeout is not None:
        spec["timeoutSeconds"] = timeout
    if primary_metric:
        spec["primaryMetric"] = primary_metric
    return {
        "apiVersion": API_VERSION,
        "kind": TRAINING_RUN,
        "metadata": {"name": name, "namespace": namespace, "labels": {LABEL_EXPERIMENT: experiment}},
        "spec": spec,
    }


def exit_code_for(phase: str | None) -> int:
    """`trainyard wait`'s exit status: 0 Completed, 1 Failed, 2 Canceled."""
    return {"Completed": 0, "Failed": 1, "Canceled": 2}.get(phase or "", 1)


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def framework_mismatch(run: str, environment: dict | None, local: dict[str, str | None]) -> str | None:
    """One line when the scikit-learn the run used (its manifest's `environment`, written by
    runtime/runner.py) differs from this Python's; None when they match or either is unknown."""
    theirs = ((environment or {}).get("packages") or {}).get("scikit-learn")
    ours = local.get("scikit-learn")
    if not theirs or not ours or theirs == ours:
        return None
    return (
        f"run {run} used scikit-learn {theirs}, this Python has {ours}: its pickled models may warn "
        f"InconsistentVersionWarning or misbehave here; match it with `pip install scikit-learn=={theirs}`"
    )
