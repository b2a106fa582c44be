"""One reconcile of a RegisteredModel: make the current source a version (or say why not), serve
what `spec.deployment` asks for, compute status, write it once.

Versions are recorded only after their bytes are copied and verified (operator/registeredmodel/store.py),
with a resourceVersion precondition on the status write, so two reconciles racing — or one
resumed after a crash — can never record a version twice or skip a number.

When a source is read: whenever the spec's generation has not been dealt with yet, or while the
model waits on its run. A `uri` object overwritten in place after that is not noticed until the
spec changes; write new artifacts to new keys.

Deleting a RegisteredModel removes its serving objects (owner references; the garbage collector)
but keeps its files under models/<namespace>/<model>/: a version is a record that lineage, audits
and other deployments may point at, and the registry never deletes or rewrites a recorded one.
Remove them with the object store's own tools when that is really meant.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from trainyard.api import conditions as cond
from trainyard.api import registeredmodel as rm
from trainyard.api.constants import GROUP, PLURALS, REGISTERED_MODEL, TRAINING_RUN, VERSION
from trainyard.operator.core import kube
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.registeredmodel import registry, serving
from trainyard.operator.registeredmodel import rollout as serving_apply
from trainyard.operator.registeredmodel import store as model_store
from trainyard.runtime.serving.artifact import ArtifactError, detect_framework

log = logging.getLogger("trainyard.model")

EventSink = Callable[[dict, str, str, str], None]  # (body, type, reason, message)
WAIT_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: dict
    requeue_after: float | None = None  # waiting on something no event will announce


def register(
    model: dict, versions: list[dict], cfg: OperatorConfig, store, *, now: str, workdir: Path | None = None
) -> tuple[dict, bool]:
    """(version entry of the current source, whether it is new). Raises SourceProblem."""
    spec, ns, name = model["spec"], model["metadata"]["namespace"], model["metadata"]["name"]
    run = kube.get_custom(TRAINING_RUN, ns, registry.run_name(model)) if registry.run_name(model) else None
    source = registry.resolve(model, run)
    if source.expected_sha256:
        hit = registry.find_version(versions, registry.source_key(source.source_id, source.expected_sha256))
        if hit:
            return hit, False
    if store is None:
        raise registry.SourceProblem(
            rm.REASON_STORE_NOT_CONFIGURED,
            "the operator has no object store (TRAINYARD_S3_ENDPOINT); models cannot be copied",
        )
    where = f"s3://{source.bucket}/{source.key}"
    with tempfile.TemporaryDirectory(dir=workdir, prefix="trainyard-register-") as tmp:
        try:
            fetched = model_store.fetch(store, source.bucket, source.key, Path(tmp))
        except Exception as exc:
            from trainyard.storage.config import describe

            raise registry.SourceProblem(
                rm.REASON_STORE_UNAVAILABLE, f"cannot read {where}: {describe(exc)}; retrying"
            ) from exc
        if fetched is None:
            raise registry.SourceProblem(
                rm.REASON_ARTIFACT_NOT_FOUND, f"{where} does not exist; upload it or fix spec.source"
            )
        if source.expected_sha256 and fetched.sha256 != source.expected_sha256:
            raise registry.SourceProblem(
                rm.REASON_CHECKSUM_MISMATCH,
                f"{where} has SHA-256 {fetched.sha256}, but the run's manifest says "
                f"{source.expected_sha256}: the file changed after the run; re-run it",
            )
        hit = registry.find_version(versions, registry.source_key(source.source_id, fetched.sha256))
        if hit:
            return hit, False
        try:
            detected, detected_version = detect_framework(fetched.path)
        except ArtifactError as exc:
            raise registry.SourceProblem(
                rm.REASON_ARTIFACT_UNREADABLE,
                f"{where} is not a model file trainyard can read: {exc}; save the "
                "estimator with joblib.dump or pickle.dump",
            ) from exc
        framework, framework_version = registry.check_framework(spec, detected, detected_version)
        number = registry.next_version(versions)
        entry = registry.version_entry(
            model,
            number,
            source,
            bucket=cfg.s3_bucket,
            sha256=fetched.sha256,
            size=fetched.size,
            framework=framework,
            framework_version=framework_version,
            now=now,
        )
        model_store.copy_verified(
            store,
            source.bucket,
            source.key,
            fetched,
            cfg.s3_bucket,
            registry.model_key(ns, name, number, source.filename),
        )
        model_store.write_manifest(store, cfg.s3_bucket, ns, name, entry)
    return entry, True


def _settled(model: dict, old: dict) -> bool:
    """The current generation's source was already dealt with for good (recorded, or refused for a
    reason only a spec change fixes)."""
    reg = cond.find(old.get("conditions"), rm.REGISTERED)
    return bool(
        reg
        and reg.get("observedGeneration") == model["metadata"].get("generation")
        and not rm.is_waiting(old.get("conditions"))
    )


def reconcile(
    namespace: str,
    name: str,
    cfg: OperatorConfig,
    store,
    post_event: EventSink,
    *,
    now: Callable[[], str] = cond.now_rfc3339,
) -> Outcome | None:
    with kube.lock_for(namespace, f"{REGISTERED_MODEL}/{name}"):
        model = kube.get_custom(REGISTERED_MODEL, namespace, name)
        if model is None or model["metadata"].get("deletionTimestamp"):
            return None
        old = dict(model.get("status") or {})
        gen = model["metadata"].get("generation")
        versions = [dict(v) for v in old.get("versions") or ()]
        current = old.get("version")
        conditions = list(old.get("conditions") or ())
        stamp = now()
        if not _settled(model, old):
            try:
                entry, created = register(model, versions, cfg, store, now=stamp)
                if created:
                    versions.append(entry)
                current = entry["version"]
                reg = (
                    cond.TRUE,
                    rm.REASON_REGISTERED if created else rm.REASON_SOURCE_UNCHANGED,
                    f"version {current} ({entry['uri']}, sha256 {entry['sha256'][:12]})",
                )
            except registry.SourceProblem as p:
                reg = (cond.FALSE, p.reason, p.message)
            conditions = cond.set_condition(conditions, cond.condition(rm.REGISTERED, *reg, generation=gen, now=stamp))
        new = {k: v for k, v in old.items() if k not in ("traffic", "endpoint")}
        new.update(versions=versions, observedGeneration=gen)
        if current is not None:
            new["version"] = current
            new["uri"] = next(v["uri"] for v in versions if v["version"] == current)
        deployment = "deployment" in model["spec"]
        if deployment:
            ready, in_place = serving_apply.deploy(model, versions, current, cfg)
            conditions = cond.set_condition(conditions, cond.condition(rm.READY, *ready, generation=gen, now=stamp))
            if any(t["replicas"] for t in in_place):
                new["endpoint"] = serving.endpoint(model)
            new["traffic"] = in_place
        else:
            if cond.find(conditions, rm.READY) or old.get("endpoint"):
                serving_apply.remove_all(namespace, name)
            conditions = [c for c in conditions if c["type"] != rm.READY]
        new["conditions"] = conditions
        new["phase"] = rm.phase_of(conditions, deployment=deployment)
        new["message"] = _message(conditions)
        patch = kube.merge_patch(old, new)
        if patch:
            write_status(namespace, name, model["metadata"]["resourceVersion"], patch)
            _announce(model, old, new, post_event)
        waiting = rm.is_waiting(conditions)
        return Outcome(new, WAIT_SECONDS if waiting else None)


def write_status(namespace: str, name: str, resource_version: str, patch: dict) -> dict:
    """Merge-patch the status, failing with 409 if the model changed since it was read."""
    return kube.custom().patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        PLURALS[REGISTERED_MODEL],
        name,
        {"metadata": {"resourceVersion": resource_version}, "status": patch},
    )


def _message(conditions: list[dict]) -> str:
    """The one line a human wants: the first condition that is not True, else the last one."""
    bad = [c for c in conditions if c["status"] != cond.TRUE]
    pick = bad[0] if bad else (conditions[-1] if conditions else None)
    return f"{pick['reason']}: {pick['message']}"[:1000] if pick else ""


def _announce(model: dict, old: dict, new: dict, post_event: EventSink) -> None:
    """One Event per transition: a new version, and each change of a condition's reason."""
    if len(new.get("versions") or ()) > len(old.get("versions") or ()):
        v = new["versions"][-1]
        post_event(
            model,
            "Normal",
            "VersionRegistered",
            f"version {v['version']} from {v.get('run') or v.get('sourceUri')}: {v['uri']}",
        )
    for c in new["conditions"]:
        before = cond.find(old.get("conditions"), c["type"])
        if before and (before["status"], before["reason"]) == (c["status"], c["reason"]):
            continue
        if c["reason"] == rm.REASON_REGISTERED:
            continue  # announced as VersionRegistered
        warning = c["status"] == cond.FALSE and c["reason"] not in (rm.REASON_ROLLING_OUT,)
        post_event(model, "Warning" if warning else "Normal", c["reason"], c["message"][:1000])
