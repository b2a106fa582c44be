"""kube.lock_for: one reconcile at a time per object, and no lock kept for objects nobody reconciles."""

import threading
import time

from trainyard.operator.core import kube


def test_a_lock_is_dropped_once_released_and_unheld():
    with kube.lock_for("ns", "a"):
        assert ("ns", "a") in kube._locks
    assert ("ns", "a") not in kube._locks


def test_one_holder_at_a_time_and_the_waiter_keeps_the_lock_alive():
    order = []

    def second():
        with kube.lock_for("ns", "b"):
            order.append("second")

    with kube.lock_for("ns", "b"):
        t = threading.Thread(target=second)
        t.start()
        deadline = time.monotonic() + 5
        while kube._locks[("ns", "b")].users < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert kube._locks[("ns", "b")].users == 2
        order.append("first")
    t.join(5)
    assert order == ["first", "second"] and ("ns", "b") not in kube._locks
