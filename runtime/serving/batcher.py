"""Adaptive micro-batching on the event loop: requests that arrive while the model is busy are
stacked into one predict call, and the result is split back per request.

There is no timer and no batch-size target, so a lone request waits for nothing. A request
enqueues its rows and schedules a flush with `loop.call_soon`; every request the loop reads
before that callback runs — those whose bytes arrived while the previous predict call held
the loop — joins the same batch. Under load, batches grow by themselves to the number of
requests in flight; idle, each batch is one request.

Predict runs on the loop's own thread. On the one core a server process gets, a worker thread
would only add hand-off latency and GIL switching; scale out with replicas or processes.

Rows are grouped by (method, dtype, row shape) so a batch is exactly the array the requests
would have given one by one, stacked. If a batched call raises, each request of the batch is
retried alone, so one bad request cannot fail its neighbours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np


class BatchObserver(Protocol):
    def batch(self, requests: int, rows: int, seconds: float) -> None: ...


class MicroBatcher:
    def __init__(
        self,
        resolve: Callable[[str], Callable[[np.ndarray], np.ndarray]],
        *,
        max_rows: int = 1024,
        observer: BatchObserver | None = None,
    ):
        """`resolve(method)` gives the callable for a method name (e.g. the model's
        `predict`). `max_rows` caps one call; a larger backlog is split into several calls."""
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self._resolve = resolve
        self._max_rows = max_rows
        self._observer = observer
        self._pending: list[tuple[tuple, np.ndarray, asyncio.Future]] = []
        self._scheduled = False

    async def submit(self, method: str, x: np.ndarray) -> np.ndarray:
        """The output of `method` on the rows of `x` (a 2-D array), computed in a batch."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending.append(((method, x.dtype.str, x.shape[1:]), x, fut))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await fut

    def _flush(self) -> None:
        pending, self._pending, self._scheduled = self._pending, [], False
        groups: dict[tuple, list[tuple[np.ndarray, asyncio.Future]]] = {}
        for key, x, fut in pending:
            if not fut.cancelled():  # the client went away before its turn
                groups.setdefault(key, []).append((x, fut))
        for (method, _dtype, _shape), items in groups.items():
            fn = self._resolve(method)
            for chunk in _chunks(items, self._max_rows):
                self._run(fn, chunk)

    def _run(self, fn: Callable[[np.ndarray], np.ndarray], chunk: list[tuple[np.ndarray, asyncio.Future]]) -> None:
        started = time.perf_counter()
        if len(chunk) == 1:
            x, fut = chunk[0]
            _settle(fut, fn, x)
            rows = len(x)
        else:
            xs = [x for x, _ in chunk]
            stacked = np.concatenate(xs)
            rows = len(stacked)
            try:
                out = np.asarray(fn(stacked))
                if len(out) != rows:
                    raise ValueError(f"model returned {len(out)} results for {rows} rows")
            except Exception:
                for x, fut in chunk:  # find the culprit: each request on its own
                    _settle(fut, fn, x)
            else:
                start = 0
                for x, fut in chunk:
                    end = start + len(x)
                    if not fut.done():
                        fut.set_result(out[start:end])
                    start = end
        if self._observer is not None:
            self._observer.batch(len(chunk), rows, time.perf_counter() - started)


def _settle(fut: asyncio.Future, fn, x: np.ndarray) -> None:
    try:
        result = np.asarray(fn(x))
    except Exception as exc:
        if not fut.done():
            fut.set_exception(exc)
        return
    if not fut.done():
        fut.set_result(result)


def _chunks(items: list, max_rows: int):
    """Consecutive runs of items whose total rows stay within max_rows (a single request
    larger than max_rows is its own chunk)."""
    chunk: list = []
    rows = 0
    for item in items:
        n = len(item[0])
        if chunk and rows + n > max_rows:
            yield chunk
            chunk, rows = [], 0
        chunk.append(item)
        rows += n
    if chunk:
        yield chunk
