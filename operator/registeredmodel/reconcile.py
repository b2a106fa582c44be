"""One reconcile of a RegisteredModel: make the current source a version (or say why not), serve
what `spec.deployment` asks for (operator/registeredmodel/rollout.py), derive the status from
what it observed (operator/registeredmodel/status.py), write it once if it changed.

Versions are recorded only after their bytes are copied and verified (operator/registeredmodel/store.py),
with a resourceVersion precondition on the status write, so two reconciles racing — or one
resumed after a crash — can never record a version twice or skip a number.

When a source is read: whenever the spec's generation has not been dealt with yet, or while the
model waits on its run. A `uri` object overwritten in place after that is not noticed until the
spec changes; write new artifacts to new keys.

Deleting a RegisteredModel removes its serving objects (owner references; the garbage collector)
but keeps its files under models/<namespace>/<model>/: a version is a record that lineage, audits
and other deployments may point at, and the registry never deletes or rewrites a written one. A
model re-created under the same name continues numbering after the versions the store holds.
Remove them with the object store's own tools when that is really meant.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from trainyard.api import conditions as cond
from trainyard.api import registeredmodel as rm
from trainyard.api.constants import GROUP, PLURALS, REGISTERED_MODEL, TRAINING_RUN, VERSION
from trainyard.operator.core import kube
from trainyard.operator.core.config import OperatorConfig
from trainyard.operator.registeredmodel import registry
from trainyard.operator.registeredmodel import rollout as serving_apply
from trainyard.operator.registeredmodel import status as model_status
from trainyard.operator.registeredmodel import store as model_store
from trainyard.runtime.serving.artifact import ArtifactError, detect_framework

EventSink = Callable[[dict, str, str, str], None]  # (body, type, reason, message)
WAIT_SECONDS = 30.0


def register(
    model: dict, versions: list[dict], cfg: OperatorConfig, store, *, now: str, workdir: Path | None = None
) -> tuple[dict, bool]:
    """(version entry of the current source, whether it is new). Raises Problem."""
    spec, ns, name = model["spec"], model["metadata"]["namespace"], model["metadata"]["name"]
    run = kube.get_custom(TRAINING_RUN, ns, registry.run_name(model)) if registry.run_name(model) else None
    source = registry.resolve(model, run)
    if source.expected_sha256:
        hit = registry.find_version(versions, registry.source_key(source.source_id, source.expected_sha256))
        if hit:
            return hit, False
    if store is None:
        raise model_status.Problem(
            rm.REASON_STORE_NOT_CONFIGURED,
            "the operator has no object store (TRAINYARD_S3_ENDPOINT); models cannot be copied",
        )
    where = f"s3://{source.bucket}/{source.key}"
    with tempfile.TemporaryDirectory(dir=workdir, prefix="trainyard-register-") as tmp:
        try:
            fetched = model_store.fetch(store, source.bucket, source.key, Path(tmp))
        except Exception as exc:
            from trainyard.storage.config import describe

            raise model_status.Problem(
                rm.REASON_STORE_UNAVAILABLE, f"cannot read {where}: {describe(exc)}; retrying"
            ) from exc
        if fetched is None:
            raise model_status.Problem(
                rm.REASON_ARTIFACT_NOT_FOUND, f"{where} does not exist; upload it or fix spec.source"
            )
        if source.expected_sha256 and fetched.sha256 != source.expected_sha256:
            raise model_status.Problem(
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
            raise model_status.Problem(
                rm.REASON_ARTIFACT_UNREADABLE,
                f"{where} is not a model file trainyard can read: {exc}; save the "
                "estimator with joblib.dump or pickle.dump",
            ) from exc
        framework, framework_version = registry.check_framework(spec, detected, detected_version)
        try:
            stored = model_store.stored_versions(store, cfg.s3_bucket, ns, name)
        except Exception as exc:
            from trainyard.storage.config import describe

            raise model_status.Problem(
                rm.REASON_STORE_UNAVAILABLE, f"cannot list the stored versions of {name}: {describe(exc)}; retrying"
            ) from exc
        # A whole version of this very source that the status lacks (a crash after its manifest, or
        # the model deleted and re-created): record it as it is.
        written = registry.find_version(stored, registry.source_key(source.source_id, fetched.sha256))
        if written:
            return written, True
        number = registry.next_version(versions, stored)
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
        if model_store.manifest_exists(store, cfg.s3_bucket, ns, name, number):
            raise model_store.VersionTaken(f"version {number} of {ns}/{name} was written meanwhile; renumbering")
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


def reconcile(
    namespace: str,
    name: str,
    cfg: OperatorConfig,
    store,
    post_event: EventSink,
    *,
    now: Callable[[], str] = cond.now_rfc3339,
) -> dict | None:
    """The model's new status, written if it changed (None when the model is gone or being deleted)."""
    with kube.lock_for(namespace, f"{REGISTERED_MODEL}/{name}"):
        model = kube.get_custom(REGISTERED_MODEL, namespace, name)
        if model is None or model["metadata"].get("deletionTimestamp"):
            return None
        old = dict(model.get("status") or {})
        stamp = now()
        registration = None
        if not model_status.settled(model):
            try:
                entry, created = register(model, [dict(v) for v in old.get("versions") or ()], cfg, store, now=stamp)
                registration = model_status.Registration(entry, created)
            except model_status.Problem as p:
                registration = model_status.Registration(problem=p)
        versions, current = model_status.versions_after(old, registration)
        serving_now = None
        if "deployment" in model["spec"]:
            serving_now = serving_apply.deploy(model, versions, current, cfg)
        elif cond.find(old.get("conditions"), rm.READY) or old.get("endpoint"):
            serving_apply.remove_all(namespace, name)
        new = model_status.derive(model, model_status.Observed(registration, serving_now), now=stamp)
        patch = kube.merge_patch(old, new)
        if patch:
            write_status(namespace, name, model["metadata"]["resourceVersion"], patch)
            for type_, reason, message in model_status.events(old, new):
                post_event(model, type_, reason, message)
        return new


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
