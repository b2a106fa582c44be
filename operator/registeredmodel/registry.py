"""The registry's rules, as pure functions: where a model's source is, what identifies it, which
version it is, what lineage a version records, and which runtime image can serve it.

Identity of a source (`sourceKey`): what it is plus the SHA-256 of its content —
    run:<run uid>/<path>@sha256:<hex>      a file in a TrainingRun's outputs
    uri:<s3 uri>@sha256:<hex>              an object in the store
A run deleted and re-created under the same name is another run (another uid), so another
source; the same bytes at another path are another source too. The same key as a recorded
version makes no new version: `status.version` points back at that version (a GitOps revert of
the source returns to the version it had, without copying anything).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import PurePosixPath

from trainyard.api import registeredmodel as rm
from trainyard.api import trainingrun as tr
from trainyard.operator.registeredmodel.status import Problem
from trainyard.runtime.serving.artifact import CUSTOM, SCIKIT_LEARN
from trainyard.storage import layout
from trainyard.storage.uri import parse_s3


@dataclasses.dataclass(frozen=True)
class Source:
    """Where the artifact is and what the registry knows about it before reading it."""

    bucket: str
    key: str
    filename: str
    source_id: str  # identity without the content hash
    expected_sha256: str | None = None  # from the run's outputs manifest
    lineage: dict = dataclasses.field(default_factory=dict)


def source_key(source_id: str, sha256: str) -> str:
    return f"{source_id}@sha256:{sha256}"


def run_name(model: dict) -> str | None:
    return ((model["spec"].get("source") or {}).get("trainingRun") or {}).get("name")


def numeric_metrics(metrics: dict | None) -> dict[str, float]:
    """The run's metrics that the schema can hold (numbers; lists and strings stay with the run)."""
    return {
        k: v
        for k, v in (metrics or {}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


def resolve(model: dict, run: dict | None) -> Source:
    """The artifact `spec.source` points at. `run` is the named TrainingRun (None if absent)."""
    src = model["spec"]["source"]
    ns = model["metadata"]["namespace"]
    if "uri" in src:
        uri = parse_s3(src["uri"])
        if uri.is_prefix:
            raise Problem(
                rm.REASON_ARTIFACT_NOT_FOUND, f"source.uri {src['uri']} is a prefix; name the model file itself"
            )
        return Source(uri.bucket, uri.key, uri.name, f"uri:{src['uri']}", lineage={"sourceUri": src["uri"]})
    name, path = src["trainingRun"]["name"], src["trainingRun"]["path"]
    if run is None:
        raise Problem(
            rm.REASON_RUN_NOT_FOUND,
            f"TrainingRun {name!r} does not exist in namespace {ns!r}; waiting for it — create it "
            "or fix spec.source.trainingRun.name",
        )
    status = run.get("status") or {}
    conditions: list[dict] = status.get("conditions") or []
    phase = tr.phase_of(conditions)
    if tr.is_terminal(conditions) and phase != tr.PHASE_COMPLETED:
        why = next((c for c in conditions if c.get("type") in (tr.FAILED, tr.CANCELED)), {})
        raise Problem(
            rm.REASON_RUN_FAILED,
            f"TrainingRun {name!r} ended {phase} ({why.get('reason', '')}): only a Completed run's "
            "outputs can be registered; point spec.source at a completed run",
        )
    outputs = status.get("outputs")
    if phase != tr.PHASE_COMPLETED or outputs is None or not status.get("artifactsUri"):
        raise Problem(
            rm.REASON_RUN_NOT_COMPLETED, f"TrainingRun {name!r} is {phase}; the model is registered when it completes"
        )
    entry = next((o for o in outputs if o.get("path") == path), None)
    if entry is None:
        have = sorted(o["path"] for o in outputs if o["path"].startswith("outputs/")) or sorted(
            o["path"] for o in outputs
        )
        listed = ", ".join(have[:10]) + (", ..." if len(have) > 10 else "") if have else "none"
        raise Problem(
            rm.REASON_PATH_NOT_IN_OUTPUTS,
            f"{path!r} is not among the outputs of TrainingRun {name!r} ({listed}); fix spec.source.trainingRun.path",
        )
    base = parse_s3(status["artifactsUri"]).as_prefix()
    lineage = {
        "run": name,
        "runUid": run["metadata"]["uid"],
        "experiment": run["spec"].get("experiment", "default"),
        "path": path,
        "metrics": numeric_metrics(status.get("metrics")),
    }
    return Source(
        base.bucket,
        base.key + path,
        PurePosixPath(path).name,
        f"run:{run['metadata']['uid']}/{path}",
        expected_sha256=entry.get("sha256"),
        lineage=lineage,
    )


def find_version(versions: list[dict] | None, key: str) -> dict | None:
    return next((v for v in versions or () if v.get("sourceKey") == key), None)


def next_version(versions: list[dict] | None, stored: list[dict] | None = None) -> int:
    """One past the highest version recorded in status or found in the store (a manifest under
    models/<ns>/<model>/<n>/): a model deleted and re-created keeps its predecessor's versions and
    never takes their numbers again."""
    return max((v["version"] for v in [*(versions or ()), *(stored or ())]), default=0) + 1


def check_framework(spec: dict, detected: str, detected_version: str | None) -> tuple[str, str | None]:
    """(framework, framework version) to record, or a Problem when the artifact and the spec
    disagree. `spec.frameworkVersion` fills in a version the artifact does not carry."""
    wanted = spec.get("framework", SCIKIT_LEARN)
    declared = spec.get("frameworkVersion")
    if wanted == CUSTOM:
        return CUSTOM, declared or detected_version
    if detected != SCIKIT_LEARN:
        raise Problem(
            rm.REASON_NOT_SCIKIT_LEARN,
            "the artifact is a pickle but not of a scikit-learn estimator; save the fitted "
            "estimator with joblib.dump, or set framework: Custom (which cannot be deployed)",
        )
    if declared and detected_version and not _same_release(declared, detected_version):
        raise Problem(
            rm.REASON_FRAMEWORK_VERSION_MISMATCH,
            f"spec.frameworkVersion is {declared} but the artifact was saved by scikit-learn "
            f"{detected_version}; remove frameworkVersion (it is detected) or correct it",
        )
    return SCIKIT_LEARN, detected_version or declared


def _same_release(declared: str, detected: str) -> bool:
    """1.5 matches 1.5.2; 1.5.1 matches only 1.5.1."""
    d, a = declared.split("."), detected.split(".")
    return a[: len(d)] == d


def serving_image(images: dict[str, str], framework_version: str | None) -> str | None:
    """The curated runtime image for the model's scikit-learn major.minor, or None."""
    if not framework_version:
        return None
    major_minor = ".".join(framework_version.split(".")[:2])
    return images.get(major_minor)


def version_entry(
    model: dict,
    version: int,
    source: Source,
    *,
    bucket: str,
    sha256: str,
    size: int,
    framework: str,
    framework_version: str | None,
    now: str,
) -> dict:
    ns, name = model["metadata"]["namespace"], model["metadata"]["name"]
    entry = {
        "version": version,
        "uri": model_uri(bucket, ns, name, version, source.filename),
        "sourceKey": source_key(source.source_id, sha256),
        "sha256": sha256,
        "size": size,
        "framework": framework,
        "registeredAt": now,
        **source.lineage,
    }
    if framework_version:
        entry["frameworkVersion"] = framework_version
    return entry


def model_key(namespace: str, model: str, version: int, filename: str) -> str:
    return layout.model_prefix(namespace, model, version) + filename


def model_uri(bucket: str, namespace: str, model: str, version: int, filename: str) -> str:
    return f"s3://{bucket}/{model_key(namespace, model, version, filename)}"
