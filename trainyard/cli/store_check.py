"""`trainyard submit` uploads a snapshot only to the object store the operator reads.

The chart publishes that store in the ConfigMap kube-public/trainyard-store (endpoint, bucket,
store id; charts/trainyard/templates/store-info.yaml) and writes the id into the bucket
(trainyard/storage/identity.py). A store whose id differs is refused with a line saying which
store the operator uses and how to reach it. Without the ConfigMap (an operator not installed by
the chart, or a user who may not read it) the CLI cannot tell: it warns and goes on.
"""

from __future__ import annotations

import sys

from trainyard.cli import kube
from trainyard.cli.kube import CliError
from trainyard.storage import identity


def published() -> tuple[dict | None, str]:
    """(the ConfigMap's data, "") or (None, why it could not be read)."""
    from kubernetes.client.rest import ApiException

    where = f"ConfigMap {identity.PUBLISHED_NAMESPACE}/{identity.PUBLISHED_NAME}"
    try:
        cm = kube.core().read_namespaced_config_map(identity.PUBLISHED_NAME, identity.PUBLISHED_NAMESPACE)
    except ApiException as exc:
        if exc.status == 404:
            return None, f"there is no {where} (the Helm chart publishes it)"
        return None, f"reading {where}: {kube.api_message(exc)}"
    return dict(cm.data or {}), ""


def how_to_reach(pub: dict) -> str:
    ns, secret = pub.get("namespace", "?"), pub.get("credentialsSecret", "?")
    keys = f"the accessKey/secretKey of Secret {ns}/{secret}"
    if pub.get("service"):
        port = pub.get("port", "9000")
        return (
            f"reach it with `kubectl -n {ns} port-forward svc/{pub['service']} {port}:{port}` and "
            f"TRAINYARD_S3_ENDPOINT=http://127.0.0.1:{port}, TRAINYARD_S3_BUCKET={pub.get('bucket')}, {keys}"
        )
    return f"set TRAINYARD_S3_ENDPOINT={pub.get('endpoint')}, TRAINYARD_S3_BUCKET={pub.get('bucket')} and {keys}"


def mismatch(our_url: str, our_bucket: str, our_id: str | None, pub: dict) -> str | None:
    """The refusal, or None when our store is the operator's (pure)."""
    if our_bucket == pub.get("bucket") and our_id and our_id == pub.get("storeId"):
        return None
    return (
        f"the object store at {our_url} (bucket {our_bucket}) is not the one the operator reads, "
        f"{pub.get('endpoint')} (bucket {pub.get('bucket')}, published in ConfigMap "
        f"{identity.PUBLISHED_NAMESPACE}/{identity.PUBLISHED_NAME}): the run would not find its snapshot; "
        + how_to_reach(pub)
    )


def check(cfg, client) -> None:
    """Raise CliError if `cfg`'s store is not the operator's; warn on stderr if that is unknown."""
    from trainyard.storage.config import describe

    pub, why = published()
    if pub is None:
        print(
            f"trainyard: warning: cannot tell whether the operator reads the object store at {cfg.url}: {why}",
            file=sys.stderr,
        )
        return
    try:
        ours = identity.read(client, cfg.bucket)
    except Exception as exc:  # minio and urllib3 raise many types; the user needs the one line
        raise CliError(f"cannot read s3://{cfg.bucket}/{identity.STORE_ID_KEY} at {cfg.url}: {describe(exc)}") from None
    refusal = mismatch(cfg.url, cfg.bucket, ours, pub)
    if refusal:
        raise CliError(refusal)
