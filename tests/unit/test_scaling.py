"""The scaling policy as a pure function, table-driven: (spec, nodes, unmet demand, clock) -> decision."""

from __future__ import annotations

import pytest

from trainyard.operator.computecluster.queue import Res
from trainyard.operator.computecluster.scaling import DOWN, UP, NodeState, PoolSpec, decide, next_check_in, track_idle

NODE = Res(2000, 4 << 30, 110)
RUN = Res(1000, 1 << 30, 1)
SPEC = PoolSpec(min_nodes=0, max_nodes=5, idle_seconds=60, cooldown_seconds=30, max_step=10, node_capacity=NODE)


def spec(**kw) -> PoolSpec:
    return PoolSpec(**{**SPEC.__dict__, **kw})


def busy(name):
    return NodeState(name, busy=True)


def idle(name, since):
    return NodeState(name, busy=False, idle_since=since)


T = 1000.0
CASES = [
    # id, spec, nodes, unmet, last_scale_up, pending, unbound -> (desired, remove, direction, reason)
    ("scale-from-zero", SPEC, [], [RUN] * 3, None, 0, 0, (2, (), UP, "QueuedDemand")),
    ("scale-from-zero-capped-by-max", SPEC, [], [RUN] * 30, None, 0, 0, (5, (), UP, "QueuedDemand")),
    ("max-step", spec(max_step=2), [], [RUN] * 30, None, 0, 0, (2, (), UP, "QueuedDemand")),
    ("scale-up-ignores-cooldown", SPEC, [busy("a")], [RUN] * 2, T - 1, 0, 0, (2, (), UP, "QueuedDemand")),
    ("pending-nodes-count-as-current", SPEC, [], [RUN] * 2, None, 1, 0, (2, (), UP, "QueuedDemand")),
    ("at-max-waits", SPEC, [busy(n) for n in "abcde"], [RUN], None, 0, 0, (5, (), None, "MaxNodesReached")),
    ("min-nodes-from-zero", spec(min_nodes=2), [], [], None, 0, 0, (2, (), UP, "BelowMinNodes")),
    (
        "min-nodes-kept",
        spec(min_nodes=1),
        [idle("a", T - 600), idle("b", T - 600)],
        [],
        None,
        0,
        0,
        (1, ("a",), DOWN, "IdleNodes"),
    ),
    ("idle-long-enough", SPEC, [idle("a", T - 61), busy("b")], [], None, 0, 0, (1, ("a",), DOWN, "IdleNodes")),
    ("idle-not-long-enough", SPEC, [idle("a", T - 59)], [], None, 0, 0, (1, (), None, "Steady")),
    (
        "cooldown-after-scale-up-blocks-scale-down",
        SPEC,
        [idle("a", T - 600)],
        [],
        T - 10,
        0,
        0,
        (1, (), None, "Cooldown"),
    ),
    ("cooldown-over", SPEC, [idle("a", T - 600)], [], T - 31, 0, 0, (0, ("a",), DOWN, "IdleNodes")),
    (
        "scale-down-step-cap",
        spec(max_step=2),
        [idle(n, T - 600) for n in "abcd"],
        [],
        None,
        0,
        0,
        (2, ("a", "b"), DOWN, "IdleNodes"),
    ),
    (
        "oldest-idle-first",
        SPEC,
        [idle("a", T - 100), idle("b", T - 900)],
        [],
        None,
        0,
        0,
        (0, ("b", "a"), DOWN, "IdleNodes"),
    ),
    ("busy-node-never-removed", SPEC, [busy("a"), busy("b")], [], None, 0, 0, (2, (), None, "Steady")),
    (
        "foreign-node-never-removed",
        SPEC,
        [NodeState("x", False, T - 900, removable=False)],
        [],
        None,
        0,
        0,
        (1, (), None, "Steady"),
    ),
    ("no-scale-down-while-a-pod-is-unbound", SPEC, [idle("a", T - 900)], [], None, 0, 1, (1, (), None, "Settling")),
    (
        "demand-blocks-scale-down",
        SPEC,
        [idle(n, T - 900) for n in "abcde"],
        [RUN],
        None,
        0,
        0,
        (5, (), None, "MaxNodesReached"),
    ),
    (
        "max-lowered-sheds-idle-now",
        spec(max_nodes=1),
        [idle("a", T - 1), idle("b", T - 2), busy("c")],
        [],
        None,
        0,
        0,
        (1, ("b", "a"), DOWN, "AboveMaxNodes"),
    ),
    ("static-never-scales", spec(can_scale=False), [busy("a")], [RUN] * 4, None, 0, 0, (1, (), None, "FixedPool")),
]


@pytest.mark.parametrize(
    "pool,nodes,unmet,last,pending,unbound,want", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(pool, nodes, unmet, last, pending, unbound, want):
    d = decide(pool, nodes, unmet, now=T, last_scale_up=last, pending=pending, unbound=unbound)
    assert (d.desired, d.remove, d.direction, d.reason) == want, d.message


def test_at_max_is_reported_when_demand_exceeds_max():
    assert decide(SPEC, [], [RUN] * 30, now=T, last_scale_up=None).at_max
    assert not decide(SPEC, [], [RUN] * 2, now=T, last_scale_up=None).at_max


def test_idle_timer_is_reset_by_new_work():
    idle_since = track_idle({}, busy=[], names=["a"], now=100)
    assert idle_since == {"a": 100}
    assert track_idle(idle_since, busy=[], names=["a"], now=150) == {"a": 100}  # still idle: kept
    worked = track_idle(idle_since, busy=["a"], names=["a"], now=155)
    assert worked == {"a": None}
    again = track_idle(worked, busy=[], names=["a"], now=170)
    assert again == {"a": 170}
    # 60 s after first idle but only 10 s after the new work ended: not removed.
    d = decide(SPEC, [idle("a", again["a"])], [], now=180, last_scale_up=None)
    assert d.remove == () and d.reason == "Steady"


def test_flapping_demand_does_not_flap_the_pool():
    """Demand that comes and goes every few seconds: the pool grows once and stays while the
    idle timer (60 s) has not run out; no node is removed and re-added."""
    nodes, history, last = [], [], None
    for t in range(0, 120, 5):
        now = T + t
        demand = [RUN] * 4 if (t // 5) % 2 == 0 else []
        states = [NodeState(n, busy=bool(demand), idle_since=None if demand else now - 5) for n in nodes]
        d = decide(SPEC, states, demand if not nodes else [], now=now, last_scale_up=last)
        if d.direction == UP:
            nodes = nodes + [f"n{len(nodes) + i}" for i in range(d.desired - len(nodes))]
            last = now
        elif d.direction == DOWN:
            nodes = [n for n in nodes if n not in d.remove]
        history.append(len(nodes))
    assert history[0] == 2 and set(history) == {2}, history


def test_spot_pool_replaces_a_reclaimed_node():
    """A spot node vanished under a run: its pod is pending again (unmet demand) and minNodes=2 is
    short by one; the policy adds a node back."""
    pool = spec(min_nodes=2)
    d = decide(pool, [busy("a")], [RUN], now=T, last_scale_up=T - 1)
    assert (d.desired, d.direction) == (2, UP)
    d = decide(pool, [busy("a")], [], now=T, last_scale_up=T - 1)
    assert (d.desired, d.direction, d.reason) == (2, UP, "BelowMinNodes")


def test_next_check_is_the_earliest_timer():
    nodes = [idle("a", T - 50), busy("b")]
    assert next_check_in(SPEC, nodes, now=T, last_scale_up=None, default=30) == 10
    assert next_check_in(SPEC, nodes, now=T, last_scale_up=T - 25, default=30) == 5
    assert next_check_in(SPEC, [busy("b")], now=T, last_scale_up=None, default=30) == 30
