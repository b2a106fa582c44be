"""Live metrics: a background thread in the runner that follows metrics.jsonl as the script
appends to it and, every `interval` seconds while something changed,

  (a) PATCHes the TrainingRun's status with the latest value of each metric and the primary
      metric as "name=value" (what `kubectl get tr` shows), and
  (b) uploads the whole file to runs/<ns>/<run>/metrics.jsonl (the full history).

Why the pod reports rather than the operator polling the store: one PATCH per interval per
running pod, no store polling by the operator for every run, and latency bounded by `interval`.
The pod's identity is a per-run service account allowed only `patch` on
`trainingruns/status` with `resourceNames: [<run>]` (the operator creates it). Failures are
logged and retried on the next tick; they never reach the script.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from trainyard.runtime import metrics

log = logging.getLogger(__name__)


def primary_metric(latest: dict[str, float], preferred: str = "") -> str | None:
    name = preferred or next(iter(latest), None)
    if name is None or name not in latest:
        return None
    return f"{name}={latest[name]:.6g}"


class MetricsReporter:
    def __init__(
        self,
        metrics_file: Path,
        *,
        interval: float = 2.0,
        primary: str = "",
        patch: Callable[[dict], object] | None = None,
        upload: Callable[[bytes], object] | None = None,
        err=sys.stderr,
    ):
        self.file, self.interval, self.primary = Path(metrics_file), interval, primary
        self._patch, self._upload, self._err = patch, upload, err
        self.latest: dict[str, float] = {}
        self._offset = 0
        self._status_dirty = self._store_dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: dict[str, float] = {}
        self.patches = self.uploads = self.failures = 0

    # -- one round ---------------------------------------------------------------------------

    def read_new(self) -> int:
        """Consume complete new lines; returns how many records arrived."""
        try:
            with open(self.file, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return 0
        end = data.rfind(b"\n") + 1  # a half-written last line waits for the next round
        if not end:
            return 0
        self._offset += end
        records = metrics.parse_lines(data[:end].decode(errors="replace"))
        before = dict(self.latest)
        metrics.latest_numbers(records, into=self.latest)
        self._status_dirty |= self.latest != before
        self._store_dirty |= bool(records)
        return len(records)

    def status(self) -> dict:
        status = {"metrics": dict(self.latest)}
        primary = primary_metric(self.latest, self.primary)
        if primary:
            status["primaryMetric"] = primary
        return status

    def tick(self) -> None:
        self.read_new()
        if self._status_dirty and self._patch:
            if self._attempt("status", lambda: self._patch(self.status())):
                self._status_dirty = False
                self.patches += 1
        if self._store_dirty and self._upload:
            if self._attempt("store", lambda: self._upload(self.file.read_bytes())):
                self._store_dirty = False
                self.uploads += 1

    def _attempt(self, what: str, fn) -> bool:
        try:
            fn()
            self._last_error.pop(what, None)
            return True
        except Exception as exc:  # reporting must never take the run down
            self.failures += 1
            now = time.monotonic()
            if now - self._last_error.get(what, -1e9) > 30:  # one line per 30 s per target
                print(f"trainyard: metrics report to {what} failed (will retry): {exc}", file=self._err, flush=True)
                self._last_error[what] = now
            return False

    # -- the thread ------------------------------------------------------------------------------

    def start(self) -> MetricsReporter:
        self._thread = threading.Thread(target=self._loop, name="trainyard-metrics", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def stop(self, *, attempts: int = 3) -> None:
        """Stop the thread and report whatever is left, retrying a little."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)
        for i in range(attempts):
            self.tick()
            if not (self._status_dirty and self._patch) and not (self._store_dirty and self._upload):
                return
            time.sleep(0.2 * 2**i)
