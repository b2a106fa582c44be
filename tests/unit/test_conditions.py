import pytest

from trainyard.api import conditions as c


def test_set_condition_appends_and_replaces():
    a = c.condition("Ready", c.FALSE, "Waiting", "no nodes", generation=1, now="2026-01-01T00:00:00Z")
    conds = c.set_condition(None, a)
    assert conds == [a]
    b = c.condition("Ready", c.TRUE, "Ready", "ok", generation=2, now="2026-01-02T00:00:00Z")
    conds2 = c.set_condition(conds, b)
    assert conds2 == [b]
    assert conds == [a], "the input list is not mutated"


def test_transition_time_moves_only_when_status_changes():
    first = c.condition("Ready", c.FALSE, "Waiting", "a", now="2026-01-01T00:00:00Z")
    again = c.condition("Ready", c.FALSE, "StillWaiting", "b", now="2026-01-05T00:00:00Z")
    out = c.set_condition([first], again)
    assert out[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert out[0]["reason"] == "StillWaiting" and out[0]["message"] == "b"


def test_other_conditions_are_kept_in_order():
    x = c.condition("X", c.TRUE, "R")
    y = c.condition("Y", c.FALSE, "R")
    out = c.set_condition([x, y], c.condition("X", c.FALSE, "Gone"))
    assert [d["type"] for d in out] == ["X", "Y"] and out[1] == y


def test_find_and_is_true():
    conds = [c.condition("A", c.TRUE, "R"), c.condition("B", c.UNKNOWN, "R")]
    assert c.is_true(conds, "A") and not c.is_true(conds, "B") and not c.is_true(conds, "C")
    assert c.find(conds, "B")["status"] == c.UNKNOWN and c.find(None, "A") is None


def test_bad_status_is_refused():
    with pytest.raises(ValueError):
        c.condition("A", "yes", "R")


def test_same_ignoring_time():
    a = [c.condition("A", c.TRUE, "R", now="2026-01-01T00:00:00Z")]
    b = [c.condition("A", c.TRUE, "R", now="2026-02-01T00:00:00Z")]
    assert c.same_ignoring_time(a, b)
    assert not c.same_ignoring_time(a, [c.condition("A", c.FALSE, "R")])
    assert c.now_rfc3339().endswith("Z")
