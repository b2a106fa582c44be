"""The hand-written Prometheus text format: well-formed, cumulative buckets, escaped labels."""

from __future__ import annotations

import re

from trainyard.runtime.serving.metrics import ServerMetrics

SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
    r"[-+]?(\d+(\.\d*)?([eE][-+]?\d+)?|\+Inf|NaN)$"
)


def parse(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("# "):
            assert re.match(r"^# (HELP|TYPE) \w+ .+$", line), line
            continue
        assert SAMPLE.match(line), f"not a valid sample line: {line!r}"
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


def test_requests_latency_and_batches_are_exported():
    m = ServerMetrics('my"model')
    m.request("v2", 200, 0.0007)
    m.request("v2", 200, 0.02)
    m.request("v2", 400, 0.0001)
    m.request("score", 413, 0.0001)
    m.batch(requests=3, rows=96, seconds=0.001)
    m.ready = True
    text = m.render().decode()
    assert text.endswith("\n")
    s = parse(text)
    lbl = 'model="my\\"model"'
    assert s[f'trainyard_serving_requests_total{{{lbl},protocol="v2",code="200"}}'] == 2
    assert s[f'trainyard_serving_requests_total{{{lbl},protocol="v2",code="400"}}'] == 1
    assert s[f'trainyard_serving_requests_total{{{lbl},protocol="score",code="413"}}'] == 1
    h = "trainyard_serving_request_duration_seconds"
    assert s[f'{h}_bucket{{{lbl},protocol="v2",le="0.0005"}}'] == 1
    assert s[f'{h}_bucket{{{lbl},protocol="v2",le="0.001"}}'] == 2
    assert s[f'{h}_bucket{{{lbl},protocol="v2",le="+Inf"}}'] == 3
    assert s[f'{h}_count{{{lbl},protocol="v2"}}'] == 3
    assert abs(s[f'{h}_sum{{{lbl},protocol="v2"}}'] - 0.0208) < 1e-9
    assert s[f'trainyard_serving_batch_rows_bucket{{{lbl},le="64.0"}}'] == 0
    assert s[f'trainyard_serving_batch_rows_bucket{{{lbl},le="128.0"}}'] == 1
    assert s[f"trainyard_serving_batch_requests_sum{{{lbl}}}"] == 3
    assert s[f"trainyard_serving_model_ready{{{lbl}}}"] == 1


def test_every_family_has_help_and_type_once():
    text = ServerMetrics("m").render().decode()
    types = re.findall(r"^# TYPE (\w+) (\w+)$", text, re.M)
    names = [n for n, _ in types]
    assert len(names) == len(set(names)) == 6
    assert dict(types)["trainyard_serving_requests_total"] == "counter"
    assert dict(types)["trainyard_serving_batch_rows"] == "histogram"
