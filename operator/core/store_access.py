"""What a pod is handed to reach the object store, as pure data: the Secret's keys (the env
contract of runtime/config.py) and the annotation that says when its credentials expire. Shared by
a run's pods (operator/trainingrun/access.py) and a model's servers (operator/registeredmodel/serving.py)."""

from __future__ import annotations

import base64

from trainyard.operator.core.config import OperatorConfig


def store_secret_data(cfg: OperatorConfig, access_key: str, secret_key: str, session_token: str = "") -> dict:
    """The object-store settings a pod reads from its Secret (the env contract of
    runtime/config.py), as base64 Secret data: for a run's pods and a model server's alike."""
    data = {
        "TRAINYARD_S3_ENDPOINT": cfg.s3_endpoint_for_pods or cfg.s3_endpoint,
        "TRAINYARD_S3_BUCKET": cfg.s3_bucket,
        "TRAINYARD_S3_ACCESS_KEY": access_key,
        "TRAINYARD_S3_SECRET_KEY": secret_key,
    }
    if session_token:
        data["TRAINYARD_S3_SESSION_TOKEN"] = session_token
    return {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}


CREDENTIALS_EXPIRE = "trainyard.dev/credentials-expire"  # annotation: when the Secret's keys stop working


def store_secret(
    meta: dict,
    cfg: OperatorConfig,
    access_key: str,
    secret_key: str,
    session_token: str = "",
    expires: str | None = None,
) -> dict:
    """The Secret a pod reads its store settings from, under `meta` (name, labels, owner), with the
    expiry annotation when the credentials expire."""
    if expires:
        meta = {**meta, "annotations": {**(meta.get("annotations") or {}), CREDENTIALS_EXPIRE: expires}}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": meta,
        "data": store_secret_data(cfg, access_key, secret_key, session_token),
    }
