"""A work queue of object keys, as controller-runtime's: events only *add* a key; a few workers
reconcile keys one at a time.

- a key added many times while it waits is reconciled once (a burst of pod and Job events of one
  run makes one reconcile, more so the busier the operator is — it never falls further behind);
- a key is never reconciled by two workers at once; added while being reconciled, it is
  reconciled again right after;
- a failing key is retried with exponential backoff (and the failure logged), other keys go on.

kopf's own executor is then never blocked by API calls: the event handlers that feed this queue
are `async` and return at once. A key is reconciled inside a copy of the context it was last added
from, so kopf's context variables (posting Events, its settings) work in the workers as they do in
a handler — also after the operator was restarted in the same process.
"""

from __future__ import annotations

import collections
import contextvars
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable

log = logging.getLogger("trainyard.workqueue")


class WorkQueue:
    def __init__(
        self,
        fn: Callable[[Hashable], None],
        *,
        workers: int = 8,
        name: str = "work",
        backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fn, self._workers, self._name, self._backoff, self._clock = fn, workers, name, backoff, clock
        self._cv = threading.Condition()
        self._ready: collections.deque = collections.deque()
        self._waiting: set = set()  # in _ready
        self._running: set = set()  # being reconciled by a worker
        self._again: set = set()  # added while running: reconcile once more afterwards
        self._later: list = []  # heap of (due, seq, key)
        self._seq = itertools.count()
        self._failures: dict = {}
        self._contexts: dict = {}  # key -> the context it was last added from
        self._threads: list[threading.Thread] = []
        self.processed = 0  # reconciles done (for tests and logs)

    def add(self, key: Hashable, *, delay: float = 0.0) -> None:
        context = contextvars.copy_context()
        with self._cv:
            self._start()
            self._contexts[key] = context
            if delay > 0:
                heapq.heappush(self._later, (self._clock() + delay, next(self._seq), key))
            elif key in self._running:
                self._again.add(key)
            elif key not in self._waiting:
                self._waiting.add(key)
                self._ready.append(key)
            self._cv.notify()

    def pending(self) -> int:
        with self._cv:
            return len(self._waiting) + len(self._running) + len(self._later)

    def _start(self) -> None:
        if not self._threads:
            for i in range(self._workers):
                t = threading.Thread(target=self._work, name=f"trainyard-{self._name}-{i}", daemon=True)
                t.start()
                self._threads.append(t)

    def _promote_due(self) -> float | None:
        """Move delayed keys that are due to the ready queue; the seconds until the next one."""
        now = self._clock()
        while self._later and self._later[0][0] <= now:
            _, _, key = heapq.heappop(self._later)
            if key in self._running:
                self._again.add(key)
            elif key not in self._waiting:
                self._waiting.add(key)
                self._ready.append(key)
        return self._later[0][0] - now if self._later else None

    def _next(self) -> tuple[Hashable, contextvars.Context]:
        with self._cv:
            while True:
                wait = self._promote_due()
                if self._ready:
                    key = self._ready.popleft()
                    self._waiting.discard(key)
                    self._running.add(key)
                    return key, self._contexts[key]
                self._cv.wait(wait)

    def _work(self) -> None:
        while True:
            key, context = self._next()
            retry = None
            try:
                context.run(self._fn, key)
                self._failures.pop(key, None)
            except Exception:
                n = self._failures[key] = self._failures.get(key, 0) + 1
                retry = self._backoff[min(n, len(self._backoff)) - 1]
                log.exception("%s %s failed (attempt %d); retrying in %.1fs", self._name, key, n, retry)
            with self._cv:
                self.processed += 1
                self._running.discard(key)
                if key in self._again:
                    self._again.discard(key)
                    if retry is None:
                        self._waiting.add(key)
                        self._ready.append(key)
                if retry is not None:
                    heapq.heappush(self._later, (self._clock() + retry, next(self._seq), key))
                elif key not in self._waiting and all(k != key for _, _, k in self._later):
                    self._contexts.pop(key, None)  # done with it for now
                self._cv.notify()
