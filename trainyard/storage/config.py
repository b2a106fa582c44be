"""Where the object store is, read from the environment into a dataclass, and a client for it.

TRAINYARD_S3_ENDPOINT     http://host:port or https://host:port (required)
TRAINYARD_S3_ACCESS_KEY   access key (required)
TRAINYARD_S3_SECRET_KEY   secret key (required)
TRAINYARD_S3_BUCKET       bucket, default `trainyard`
TRAINYARD_S3_SESSION_TOKEN  optional STS session token (the operator's run-scoped credentials)
TRAINYARD_S3_REGION       optional region
TRAINYARD_S3_SECURE       optional true/false, overrides the endpoint's scheme for TLS
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

DEFAULT_BUCKET = "trainyard"


class StoreError(RuntimeError):
    """The object store is not configured, unreachable, or refused a request; one-line message."""


def _flag(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise StoreError(f"TRAINYARD_S3_SECURE must be true or false, got {value!r}")


@dataclasses.dataclass(frozen=True)
class StoreConfig:
    endpoint: str  # host:port, no scheme
    access_key: str = dataclasses.field(repr=False)
    secret_key: str = dataclasses.field(repr=False)
    bucket: str = DEFAULT_BUCKET
    secure: bool = False
    region: str | None = None
    session_token: str | None = dataclasses.field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StoreConfig:
        env = os.environ if env is None else env
        missing = [
            k for k in ("TRAINYARD_S3_ENDPOINT", "TRAINYARD_S3_ACCESS_KEY", "TRAINYARD_S3_SECRET_KEY") if not env.get(k)
        ]
        if missing:
            raise StoreError(f"object store not configured: set {', '.join(missing)}")
        raw = env["TRAINYARD_S3_ENDPOINT"]
        parts = urlsplit(raw if "://" in raw else f"http://{raw}")
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise StoreError(f"TRAINYARD_S3_ENDPOINT must look like http://host:port, got {raw!r}")
        secure = _flag(env.get("TRAINYARD_S3_SECURE"))
        return cls(
            endpoint=parts.netloc,
            access_key=env["TRAINYARD_S3_ACCESS_KEY"],
            secret_key=env["TRAINYARD_S3_SECRET_KEY"],
            bucket=env.get("TRAINYARD_S3_BUCKET") or DEFAULT_BUCKET,
            secure=parts.scheme == "https" if secure is None else secure,
            region=env.get("TRAINYARD_S3_REGION") or None,
            session_token=env.get("TRAINYARD_S3_SESSION_TOKEN") or None,
        )

    def client(self, *, max_connections: int = 16, connect_timeout: float = 5.0, read_timeout: float = 60.0):
        """A `minio.Minio` with a connection pool sized for parallel transfers. Retries of
        transient errors happen in `trainyard.storage.retry`, not hidden inside urllib3."""
        import urllib3
        from minio import Minio

        http = urllib3.PoolManager(
            maxsize=max_connections,
            block=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(total=1, connect=1, read=0, status=0, redirect=2, backoff_factor=0.1),
            cert_reqs="CERT_REQUIRED" if self.secure else "CERT_NONE",
            ca_certs=os.environ.get("SSL_CERT_FILE") or None,
        )
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            session_token=self.session_token,
            secure=self.secure,
            region=self.region,
            http_client=http,
        )

    def check(self, client=None) -> None:
        """Raise StoreError with one line if the store cannot be reached or the bucket is missing."""
        client = client or self.client(connect_timeout=3.0, read_timeout=10.0)
        try:
            exists = client.bucket_exists(self.bucket)
        except Exception as exc:  # urllib3/minio raise a zoo of types; the caller wants one line
            raise StoreError(f"object store unreachable at {self.url}: {describe(exc)}") from exc
        if not exists:
            raise StoreError(f"bucket {self.bucket!r} does not exist at {self.url}")


def describe(exc: BaseException) -> str:
    """A one-line reason for a transport or S3 error (urllib3 nests the useful part)."""
    code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    if code and message:
        return f"{code}: {message}"
    reason = getattr(exc, "reason", None)
    text = str(reason or exc) or type(exc).__name__
    if "Connection refused" in text:
        return "connection refused"
    return text.splitlines()[0][:300]
