"""Bounded polling for the client's waits (runs, clusters, models, services)."""

from __future__ import annotations

import time


def poll_until(fetch, done, *, interval: float = 1.0, timeout: float | None = None, on_change=None, key=None):
    """Call `fetch()` until `done(obj)`; `on_change(obj)` whenever `key(obj)` changes. Returns the
    last object, or raises TimeoutError when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout if timeout else None
    last = object()
    while True:
        obj = fetch()
        k = key(obj) if key else None
        if on_change and k != last:
            on_change(obj)
            last = k
        if done(obj):
            return obj
        if deadline and time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(interval)
