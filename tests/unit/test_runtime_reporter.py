"""The live-metrics reporter, with its two targets replaced by recorders."""

import io

import numpy as np

from trainyard.runtime import metrics
from trainyard.runtime.reporter import MetricsReporter, primary_metric


def test_primary_metric():
    assert primary_metric({}) is None
    assert primary_metric({"loss": 0.5, "accuracy": 0.91234567}) == "loss=0.5"
    assert primary_metric({"loss": 0.5, "accuracy": 0.91234567}, "accuracy") == "accuracy=0.912346"
    assert primary_metric({"loss": 0.5}, "accuracy") is None


def test_reports_latest_numbers_only_when_changed(tmp_path):
    f = tmp_path / "metrics.jsonl"
    patches, uploads = [], []
    rep = MetricsReporter(f, patch=patches.append, upload=uploads.append)
    rep.tick()
    assert patches == [] and uploads == []
    metrics.append(f, {"kind": "metric", "name": "regularization rate", "value": 0.8})
    metrics.append(f, {"kind": "metric", "name": "note", "value": "text is not a status metric"})
    metrics.append(f, {"kind": "list", "name": "loss", "values": [0.9, 0.4]})
    metrics.append(f, {"kind": "metric", "name": "nan", "value": float("nan")})
    rep.tick()
    assert patches == [
        {"metrics": {"regularization rate": 0.8, "loss": 0.4}, "primaryMetric": "regularization rate=0.8"}
    ]
    assert uploads == [f.read_bytes()]
    rep.tick()  # nothing new: nothing sent
    assert len(patches) == 1 and len(uploads) == 1
    metrics.append(f, {"kind": "tag", "key": "k", "value": "v"})
    rep.tick()  # new history, same numbers: store only
    assert len(patches) == 1 and len(uploads) == 2


def test_half_written_line_waits(tmp_path):
    f = tmp_path / "metrics.jsonl"
    patches = []
    rep = MetricsReporter(f, patch=patches.append, primary="accuracy")
    with open(f, "w") as fh:
        fh.write('{"kind":"metric","name":"accuracy","value":0.5}\n{"kind":"metric","name":"accu')
    rep.tick()
    assert patches[-1] == {"metrics": {"accuracy": 0.5}, "primaryMetric": "accuracy=0.5"}
    with open(f, "a") as fh:
        fh.write('racy","value":0.75}\n')
    rep.tick()
    assert patches[-1]["metrics"] == {"accuracy": 0.75}


def test_failures_are_retried_and_never_raised(tmp_path):
    f = tmp_path / "metrics.jsonl"
    err = io.StringIO()
    calls = []

    def flaky(status):
        calls.append(status)
        if len(calls) < 3:
            raise OSError("api server down")

    rep = MetricsReporter(f, patch=flaky, err=err)
    metrics.append(f, {"kind": "metric", "name": "a", "value": 1})
    rep.tick()
    rep.tick()
    rep.tick()
    rep.tick()
    assert len(calls) == 3 and rep.failures == 2 and rep.patches == 1
    assert err.getvalue().count("metrics report to status failed (will retry): api server down") == 1


def test_stop_flushes_what_is_left(tmp_path):
    f = tmp_path / "metrics.jsonl"
    patches = []
    rep = MetricsReporter(f, interval=3600, patch=patches.append).start()
    metrics.append(f, {"kind": "metric", "name": "accuracy", "value": np.float32(0.25)})
    rep.stop()
    assert patches == [{"metrics": {"accuracy": 0.25}, "primaryMetric": "accuracy=0.25"}]
