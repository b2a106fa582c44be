"""A MinIO server on 127.0.0.1 from the pinned, cached binary: the local object store."""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path

from trainyard.local.build import binary_path
from trainyard.local.processes import free_port, http_ok, spawn, stop, wait_until

BUCKET = "trainyard"


@dataclasses.dataclass
class ObjectStore:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    pid: int
    data_dir: Path

    def env(self) -> dict[str, str]:
        """The variables every trainyard component reads its object store from."""
        return {
            "TRAINYARD_S3_ENDPOINT": self.endpoint,
            "TRAINYARD_S3_ACCESS_KEY": self.access_key,
            "TRAINYARD_S3_SECRET_KEY": self.secret_key,
            "TRAINYARD_S3_BUCKET": self.bucket,
        }

    def client(self):
        from minio import Minio

        return Minio(
            self.endpoint.split("://", 1)[1],
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=self.endpoint.startswith("https://"),
        )

    def stop(self) -> None:
        stop(self.pid, expect_in_cmdline="minio")


def minio_argv(binary: str, data_dir: Path, port: int, console_port: int) -> list[str]:
    return [
        binary,
        "server",
        str(data_dir),
        "--quiet",
        f"--address=127.0.0.1:{port}",
        f"--console-address=127.0.0.1:{console_port}",
    ]


def minio_env(access_key: str, secret_key: str) -> dict[str, str]:
    return {
        "MINIO_ROOT_USER": access_key,
        "MINIO_ROOT_PASSWORD": secret_key,
        "MINIO_BROWSER": "off",
        "MINIO_UPDATE": "off",
    }


def start(
    data_dir: Path,
    *,
    port: int | None = None,
    console_port: int | None = None,
    bucket: str = BUCKET,
    timeout: float = 60.0,
    log: Path | None = None,
) -> ObjectStore:
    """Start MinIO, wait until it is ready, and create `bucket`."""
    port, console_port = port or free_port(), console_port or free_port()
    access, secret = "trainyard", secrets.token_urlsafe(18)
    log = log or data_dir.parent / f"{data_dir.name}.log"
    pid = spawn(minio_argv(str(binary_path("minio")), data_dir, port, console_port), log, env=minio_env(access, secret))
    store = ObjectStore(f"http://127.0.0.1:{port}", access, secret, bucket, pid, data_dir)
    try:
        wait_until(
            lambda: http_ok(f"{store.endpoint}/minio/health/ready"), what="minio", pid=pid, log=log, timeout=timeout
        )
        client = store.client()
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    except BaseException:
        store.stop()
        raise
    return store
