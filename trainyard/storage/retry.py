"""Retry with exponential backoff and full jitter, for transient object-store errors only."""

from __future__ import annotations

import http.client
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)

# S3 error codes that mean "try again later", not "you asked for something wrong".
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "SlowDownRead",
        "SlowDownWrite",
        "InternalError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "XMinioServerNotInitialized",
        "XMinioStorageFull",
        "OperationTimedOut",
    }
)


class TransientError(Exception):
    """Raised by our own code for a failure worth retrying (e.g. a short read)."""


def is_transient(exc: BaseException) -> bool:
    """Connection problems, 5xx and throttling are transient; 4xx and our bugs are not."""
    import urllib3.exceptions as u3
    from minio.error import S3Error, ServerError

    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, S3Error):
        return exc.code in TRANSIENT_CODES
    if isinstance(exc, ServerError):
        return getattr(exc, "status_code", 500) >= 500 or getattr(exc, "status_code", 0) == 429
    if isinstance(exc, (u3.HTTPError, http.client.HTTPException, ConnectionError, TimeoutError)):
        return True
    return False


def backoff_delays(attempts: int, base: float = 0.2, cap: float = 8.0, rng: random.Random | None = None):
    """The sleep before each retry: full jitter over base * 2**n, capped (AWS's recommendation)."""
    uniform = rng.uniform if rng else random.uniform
    for n in range(attempts - 1):
        yield uniform(0, min(cap, base * 2**n))


def with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    attempts: int = 6,
    base: float = 0.2,
    cap: float = 8.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException], None] | None = None,
    transient: Callable[[BaseException], bool] = is_transient,
) -> T:
    """Call `fn` until it succeeds, retrying transient errors; the last error propagates."""
    delays = backoff_delays(attempts, base, cap)
    while True:
        try:
            return fn()
        except Exception as exc:
            if not transient(exc):
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            log.info("retrying %s in %.2fs after %s: %s", what, delay, type(exc).__name__, exc)
            if on_retry:
                on_retry(exc)
            sleep(delay)
