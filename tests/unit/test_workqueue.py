"""The run work queue: coalescing, one worker per key, re-run when added while running, retry."""

import threading
import time

from trainyard.operator.core.workqueue import WorkQueue


def _until(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_keys_added_while_waiting_are_reconciled_once():
    gate = threading.Event()
    seen = []

    def fn(key):
        if key == "block":
            gate.wait(5)
        seen.append(key)

    q = WorkQueue(fn, workers=1)
    q.add("block")  # occupies the only worker
    _until(lambda: q.pending() == 1 and not q._ready)
    for _ in range(50):
        q.add("a")
    q.add("b")
    gate.set()
    _until(lambda: q.pending() == 0)
    assert seen == ["block", "a", "b"]


def test_a_key_is_never_reconciled_twice_at_once_and_runs_again_if_added_meanwhile():
    running, overlap, calls = [0], [False], []
    started, release = threading.Event(), threading.Event()

    def fn(key):
        running[0] += 1
        overlap[0] |= running[0] > 1
        calls.append(key)
        if len(calls) == 1:
            started.set()
            release.wait(5)
        running[0] -= 1

    q = WorkQueue(fn, workers=4)
    q.add("k")
    assert started.wait(5)
    q.add("k")
    q.add("k")  # both while running: one more reconcile afterwards
    release.set()
    _until(lambda: q.pending() == 0 and q.processed == 2)
    time.sleep(0.05)
    assert calls == ["k", "k"] and not overlap[0]


def test_a_failing_key_is_retried_with_backoff_while_others_proceed():
    attempts, done = [], []

    def fn(key):
        if key == "bad":
            attempts.append(time.monotonic())
            if len(attempts) < 3:
                raise RuntimeError("API hiccup")
        done.append(key)

    q = WorkQueue(fn, workers=1, backoff=(0.05, 0.1))
    q.add("bad")
    q.add("good")
    _until(lambda: done.count("bad") == 1)
    assert done[0] == "good"  # not held up by the failing key
    assert len(attempts) == 3
    assert attempts[1] - attempts[0] >= 0.05 and attempts[2] - attempts[1] >= 0.1


def test_delayed_add():
    done = []
    q = WorkQueue(lambda k: done.append((k, time.monotonic())), workers=1)
    t0 = time.monotonic()
    q.add("later", delay=0.1)
    _until(lambda: done)
    assert done[0][1] - t0 >= 0.1


def test_keys_run_in_the_context_they_were_added_from():
    import contextvars

    var = contextvars.ContextVar("var")
    seen = []
    q = WorkQueue(lambda k: seen.append((k, var.get("unset"))), workers=2)
    var.set("first")
    q.add("a")
    _until(lambda: len(seen) == 1)
    var.set("second")  # e.g. the operator restarted in the same process
    q.add("a")
    _until(lambda: len(seen) == 2)
    assert seen == [("a", "first"), ("a", "second")]
