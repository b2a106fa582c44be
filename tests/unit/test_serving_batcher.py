"""The micro-batcher stacks concurrent requests into one call and splits the result back."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from trainyard.runtime.serving.batcher import MicroBatcher
from trainyard.runtime.serving.metrics import ServerMetrics


class Recorder:
    def __init__(self):
        self.calls: list[np.ndarray] = []

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(x)
        if (x < 0).any():
            raise ValueError("negative input")
        return x.sum(axis=1)

    def proba(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(x)
        return np.repeat(x[:, :1], 2, axis=1)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


def make(rec: Recorder, **kw) -> MicroBatcher:
    return MicroBatcher(lambda m: {"predict": rec.predict, "predict_proba": rec.proba}[m], **kw)


def test_concurrent_requests_share_one_call_and_get_their_own_rows():
    rec = Recorder()
    batcher = make(rec)
    xs = [np.full((n, 3), float(i)) for i, n in enumerate([1, 2, 3])]

    async def main():
        return await asyncio.gather(*(batcher.submit("predict", x) for x in xs))

    results = run(main())
    assert len(rec.calls) == 1 and rec.calls[0].shape == (6, 3)
    for x, r in zip(xs, results, strict=False):
        np.testing.assert_array_equal(r, x.sum(axis=1))


def test_a_lone_request_waits_for_nothing():
    rec = Recorder()
    out = run(make(rec).submit("predict", np.ones((1, 3))))
    assert out.tolist() == [3.0] and len(rec.calls) == 1


def test_requests_arriving_while_busy_form_the_next_batch():
    rec = Recorder()
    batcher = make(rec)

    async def main():
        first = asyncio.ensure_future(batcher.submit("predict", np.ones((1, 3))))
        await asyncio.sleep(0)  # the flush of the first batch is now scheduled
        await first
        rest = [batcher.submit("predict", np.ones((1, 3))) for _ in range(4)]
        return await asyncio.gather(*rest)

    run(main())
    assert [len(c) for c in rec.calls] == [1, 4]


def test_methods_and_dtypes_are_batched_separately():
    rec = Recorder()
    batcher = make(rec)

    async def main():
        return await asyncio.gather(
            batcher.submit("predict", np.ones((1, 3))),
            batcher.submit("predict_proba", np.ones((1, 3))),
            batcher.submit("predict", np.ones((2, 3), dtype=np.float32)),
            batcher.submit("predict", np.ones((1, 3))),
        )

    a, b, c, d = run(main())
    # predict/float64 (1 + 1 rows), predict_proba/float64 (1 row), predict/float32 (2 rows)
    assert sorted((len(x), str(x.dtype)) for x in rec.calls) == [(1, "float64"), (2, "float32"), (2, "float64")]
    assert b.shape == (1, 2) and c.tolist() == [3.0, 3.0] and a.tolist() == d.tolist() == [3.0]


def test_max_rows_splits_a_backlog():
    rec = Recorder()
    batcher = make(rec, max_rows=4)

    async def main():
        return await asyncio.gather(*(batcher.submit("predict", np.ones((3, 2))) for _ in range(3)))

    run(main())
    assert [len(c) for c in rec.calls] == [3, 3, 3]
    rec.calls.clear()

    async def small():
        return await asyncio.gather(*(batcher.submit("predict", np.ones((2, 2))) for _ in range(4)))

    run(small())
    assert [len(c) for c in rec.calls] == [4, 4]


def test_one_failing_request_does_not_fail_its_neighbours():
    rec = Recorder()
    batcher = make(rec)

    async def main():
        return await asyncio.gather(
            batcher.submit("predict", np.ones((1, 2))),
            batcher.submit("predict", -np.ones((1, 2))),
            batcher.submit("predict", np.ones((2, 2))),
            return_exceptions=True,
        )

    good, bad, good2 = run(main())
    assert good.tolist() == [2.0] and good2.tolist() == [2.0, 2.0]
    assert isinstance(bad, ValueError)


def test_batches_are_reported_to_the_metrics():
    rec = Recorder()
    metrics = ServerMetrics("m")
    batcher = make(rec, observer=metrics)

    async def main():
        return await asyncio.gather(*(batcher.submit("predict", np.ones((2, 2))) for _ in range(5)))

    run(main())
    assert metrics.batch_requests.count == 1 and metrics.batch_requests.sum == 5
    assert metrics.batch_rows.sum == 10


def test_max_rows_must_be_positive():
    with pytest.raises(ValueError):
        MicroBatcher(lambda m: None, max_rows=0)
