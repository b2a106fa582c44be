"""Which object store is the operator's: a store id the chart publishes, also written into the bucket.

Endpoints cannot be compared: the operator reads `http://trainyard-minio.trainyard.svc:9000`
while a user reaches the same MinIO through a port-forward on 127.0.0.1, and another MinIO on
127.0.0.1 (the local cluster's own) looks just the same. So the chart derives an id for its store
and publishes it with the endpoint and bucket in the ConfigMap `kube-public/trainyard-store`
(readable by every authenticated user, like kubeadm's `cluster-info`), and the operator pod's
`bucket` init container writes the same id to `.trainyard/store-id` in the bucket:

    python -m trainyard.storage.identity      # TRAINYARD_S3_*, TRAINYARD_STORE_ID, TRAINYARD_CREATE_BUCKET

`trainyard submit` reads both and refuses to upload a snapshot to a store whose id differs.
"""

from __future__ import annotations

import io
import os
import sys
import time

STORE_ID_KEY = ".trainyard/store-id"
PUBLISHED_NAMESPACE = "kube-public"
PUBLISHED_NAME = "trainyard-store"


def read(client, bucket: str) -> str | None:
    """The id written in the bucket, or None if there is none. Other errors propagate."""
    from minio.error import S3Error

    try:
        resp = client.get_object(bucket, STORE_ID_KEY)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchObject"):
            return None
        raise
    try:
        return resp.read().decode(errors="replace").strip()
    finally:
        resp.close()
        resp.release_conn()


def write(client, bucket: str, store_id: str) -> None:
    data = store_id.encode()
    client.put_object(bucket, STORE_ID_KEY, io.BytesIO(data), len(data), content_type="text/plain")


def ensure(cfg, store_id: str, *, create_bucket: bool, timeout: float = 300.0, out=sys.stdout) -> None:
    """Wait (bounded) for the store, create the bucket if asked and missing, write the id."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            client = cfg.client(connect_timeout=3.0, read_timeout=10.0)
            if create_bucket and not client.bucket_exists(cfg.bucket):
                client.make_bucket(cfg.bucket)
            cfg.check(client)
            if store_id:
                write(client, cfg.bucket, store_id)
            print(f"bucket {cfg.bucket} ready at {cfg.url}, store id {store_id or '(none)'}", file=out, flush=True)
            return
        except Exception as exc:  # the store is starting: any failure is retried until the deadline
            if time.monotonic() > deadline:
                raise SystemExit(f"object store not ready after {timeout:.0f}s: {exc}") from None
            time.sleep(2)


def main() -> int:
    from trainyard.storage.config import StoreConfig

    create = os.environ.get("TRAINYARD_CREATE_BUCKET", "true").lower() in ("1", "true", "yes")
    ensure(StoreConfig.from_env(), os.environ.get("TRAINYARD_STORE_ID", ""), create_bucket=create)
    return 0


if __name__ == "__main__":
    sys.exit(main())
