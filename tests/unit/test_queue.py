"""The built-in queue as a pure function: who starts now, everyone else's position, unmet demand."""

from __future__ import annotations

from trainyard.operator.computecluster.queue import (
    ADMITTED,
    BOUND,
    QUEUED,
    NodeView,
    Res,
    RunView,
    nodes_needed,
    parse_res,
    plan,
    pod_request,
)

NODE = Res(2000, 4 << 30, 110)
ONE = Res(1000, 1 << 30, 1)


def node(name, used=Res(), ready=True, **kw):
    return NodeView(name, ready, NODE, used, **kw)


def queued(name, created, priority=0, request=ONE):
    return RunView(name, request, QUEUED, created, priority)


def admitted(name, created):
    return RunView(name, ONE, ADMITTED, created)


def test_parse_quantities():
    assert parse_res({"cpu": "500m", "memory": "1Gi"}) == Res(500, 1 << 30, 0)
    assert parse_res({"cpu": 2, "memory": "7Gi", "pods": 110}) == Res(2000, 7 << 30, 110)
    pod = {
        "spec": {
            "containers": [{"resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}],
            "initContainers": [{"resources": {"requests": {"cpu": "1500m"}}}],
        }
    }
    assert pod_request(pod) == Res(1500, 1 << 30, 1)


def test_fifo_within_capacity_and_positions_for_the_rest():
    runs = [queued(f"r{i}", f"2026-01-01T00:00:0{i}Z") for i in range(5)]
    p = plan(runs, [node("a")], node_capacity=NODE)
    assert p.admit == ("r0", "r1")
    assert p.positions == {"r2": 1, "r3": 2, "r4": 3}
    assert p.unmet == (ONE,) * 3 and p.busy == {"a"}


def test_priority_first_then_creation_time():
    runs = [
        queued("old", "2026-01-01T00:00:00Z"),
        queued("urgent", "2026-01-01T00:00:09Z", priority=10),
        queued("new", "2026-01-01T00:00:05Z"),
    ]
    p = plan(runs, [node("a", used=Res(1000, 0, 1))], node_capacity=NODE)
    assert p.admit == ("urgent",) and p.positions == {"old": 1, "new": 2}


def test_strict_fifo_no_overtaking_by_small_runs():
    big = Res(2000, 1 << 30, 1)
    runs = [queued("big", "1", request=big), queued("small", "2")]
    p = plan(runs, [node("a", used=Res(1000, 0, 1))], node_capacity=NODE)
    assert p.admit == () and p.positions == {"big": 1, "small": 2}


def test_a_run_no_node_can_hold_is_reported_and_does_not_block():
    runs = [queued("huge", "1", request=Res(64000, 0, 1)), queued("ok", "2")]
    p = plan(runs, [node("a")], node_capacity=NODE)
    assert p.too_big == ("huge",) and p.admit == ("ok",) and p.unmet == ()


def test_bound_and_admitted_runs_hold_their_place():
    runs = [RunView("running", ONE, BOUND, "1", node="a"), RunView("starting", ONE, ADMITTED, "2"), queued("next", "3")]
    p = plan(runs, [node("a", used=ONE), node("b")], node_capacity=NODE)
    assert p.admit == ("next",) and p.unbound == 1 and p.busy == {"a", "b"}


def test_runs_that_fit_nodes_being_added_start_now_and_the_rest_is_unmet():
    runs = [queued("r0", "0"), queued("r1", "1"), queued("r2", "2")]
    p = plan(runs, [node("a", ready=False)], node_capacity=NODE, pending_nodes=0)
    assert p.admit == ("r0", "r1") and p.positions == {"r2": 1} and p.unmet == (ONE,)
    p = plan(runs, [], node_capacity=NODE, pending_nodes=2)
    assert p.admit == ("r0", "r1", "r2") and p.unmet == () and p.positions == {}


def test_admitted_runs_hold_their_place_on_a_node_being_added():
    # Next pass: r0 and r1 have Jobs whose pods wait for node a; nothing more is asked for them.
    runs = [admitted("r0", "0"), admitted("r1", "1"), queued("r2", "2")]
    p = plan(runs, [node("a", ready=False)], node_capacity=NODE)
    assert p.admit == () and p.unmet == (ONE,) and p.unbound == 2


def test_behind_a_blocked_run_the_queue_waits_for_nodes_being_added():
    big = RunView("big", Res(3000, 1 << 30, 1), QUEUED, "0")
    p = plan([big, queued("r1", "1")], [node("a", ready=False)], node_capacity=Res(4000, 8 << 30, 110), pending_nodes=0)
    assert p.admit == () and p.positions == {"big": 1, "r1": 2}


def test_cordoned_nodes_take_nothing():
    p = plan([queued("r0", "0")], [node("a", schedulable=False)], node_capacity=NODE)
    assert p.admit == () and p.unmet == (ONE,)


def test_kueue_mode_admits_nothing_but_reports_demand():
    p = plan([queued("r0", "0")], [], node_capacity=NODE, admit=False)
    assert p.admit == () and p.positions == {"r0": 1} and p.unmet == (ONE,)


def test_nodes_needed_packs_first_fit_decreasing():
    assert nodes_needed([ONE] * 5, NODE) == 3
    assert nodes_needed([Res(1500, 0, 1), Res(500, 0, 1), Res(1500, 0, 1), Res(500, 0, 1)], NODE) == 2
    assert nodes_needed([], NODE) == 0
