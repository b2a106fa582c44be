"""RunDetails' view of a run (pure): phase times, metrics table, charts of series, log tail, children."""

from trainyard.core.run import details
from trainyard.widgets import _view

RUN = {
    "metadata": {"name": "r1", "creationTimestamp": "2026-01-01T00:00:00Z"},
    "spec": {"experiment": "sklearn-mnist", "compute": "cpu", "entryScript": "train.py"},
    "status": {
        "phase": "Running",
        "metrics": {"accuracy": 0.9},
        "conditions": [
            {"type": "Queued", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
            {"type": "Preparing", "status": "True", "lastTransitionTime": "2026-01-01T00:00:03Z"},
            {"type": "Running", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"},
        ],
    },
}
RECORDS = [
    {"kind": "metric", "name": "regularization rate", "value": 0.8},
    {"kind": "metric", "name": "loss", "value": 1.0},
    {"kind": "metric", "name": "loss", "value": 0.5},
    {"kind": "metric", "name": "accuracy", "value": 0.92},
]
T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def test_phase_times_from_conditions():
    phases = _view.phase_times(RUN, now=T0 + 9)
    assert [(p["phase"], p["seconds"]) for p in phases] == [("Queued", 3.0), ("Preparing", 2.0), ("Running", 4.0)]


def test_view_has_latest_metrics_charts_only_for_series_and_the_log_tail():
    v = _view.view(RUN, RECORDS, [f"line {i}" for i in range(30)], now=T0 + 9)
    assert {m["name"]: (m["value"], m["count"]) for m in v["metrics"]} == {
        "accuracy": (0.92, 1),
        "regularization rate": (0.8, 1),
        "loss": (0.5, 2),
    }
    assert v["charts"] == {"loss": [1.0, 0.5]}
    assert v["log"] == [f"line {i}" for i in range(10, 30)] and not v["done"]
    html = _view.to_html(v)
    assert html.count("<svg") == 1 and "<polyline" in html and "Running" in html
    text = _view.to_text(v)
    assert "r1 (sklearn-mnist on cpu): Running" in text and "loss: 0.5 (logged 2 times)" in text


def test_a_sweeps_children_are_listed():
    child = {"metadata": {"name": "r1-t0"}, "status": {"phase": "Completed", "primaryMetric": "accuracy=0.9"}}
    v = _view.view(RUN, [], [], now=T0, children=[child])
    assert v["children"] == [{"run": "r1-t0", "status": "Completed", "metric": "accuracy=0.9"}]
    assert "r1-t0" in _view.to_html(v)


def test_details_shape_and_the_reason_of_a_failure():
    failed = {
        **RUN,
        "status": {
            "phase": "Failed",
            "message": "exited with code 4",
            "conditions": [
                {"type": "Failed", "status": "True", "reason": "ScriptFailed", "message": "exited with code 4"}
            ],
        },
    }
    d = details(failed)
    assert d["runId"] == "r1" and d["status"] == "Failed" and d["target"] == "cpu"
    assert d["error"] == {"code": "ScriptFailed", "message": "exited with code 4"}
    assert d["runDefinition"]["script"] == "train.py"
