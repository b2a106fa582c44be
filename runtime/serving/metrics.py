"""Prometheus metrics in the text exposition format (version 0.0.4), written by hand.

Why not `prometheus_client`: every metric here is updated from the event loop's one thread,
so plain integers suffice, where the client library takes a lock per observation and builds
label children through dict lookups on each call; the format for three families is ~100
lines; and the serving image stays lean. A unit test parses our output line by line.
"""

from __future__ import annotations

from bisect import bisect_left

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)


class Histogram:
    """Cumulative buckets on exposition; one non-cumulative counter per bucket on observe."""

    __slots__ = ("bounds", "counts", "sum", "count")

    def __init__(self, bounds: tuple[float, ...]):
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        sep = "," if labels else ""
        out, running = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=False):
            running += n
            le = "+Inf" if bound == float("inf") else _num(bound)
            out.append(f'{name}_bucket{{{labels}{sep}le="{le}"}} {running}')
        lbl = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{lbl} {_num(self.sum)}")
        out.append(f"{name}_count{lbl} {self.count}")
        return out


class ServerMetrics:
    """The families the model server exports (names prefixed `trainyard_serving_`)."""

    def __init__(self, model_name: str):
        self.model = _escape(model_name)
        self.requests: dict[tuple[str, int | str], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.batch_rows = Histogram(BATCH_BUCKETS)
        self.batch_requests = Histogram(BATCH_BUCKETS)
        self.predict_seconds = Histogram(LATENCY_BUCKETS)
        self.ready = False

    def request(self, protocol: str, status: int | str, seconds: float) -> None:
        """`status`: the HTTP status, or the gRPC status code's name."""
        key = (protocol, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(protocol)
        if hist is None:
            hist = self.latency[protocol] = Histogram(LATENCY_BUCKETS)
        hist.observe(seconds)

    def batch(self, requests: int, rows: int, seconds: float) -> None:
        """One predict call covering `requests` requests and `rows` rows (the batcher's
        observer)."""
        self.batch_rows.observe(rows)
        self.batch_requests.observe(requests)
        self.predict_seconds.observe(seconds)

    def render(self) -> bytes:
        m = f'model="{self.model}"'
        p = "trainyard_serving_"
        out = [
            f"# HELP {p}requests_total Requests answered, by protocol and status (HTTP code; gRPC code name).",
            f"# TYPE {p}requests_total counter",
        ]
        for (protocol, status), n in sorted(self.requests.items()):
            out.append(f'{p}requests_total{{{m},protocol="{protocol}",code="{status}"}} {n}')
        out += [
            f"# HELP {p}request_duration_seconds Time from request start to response sent.",
            f"# TYPE {p}request_duration_seconds histogram",
        ]
        for protocol, hist in sorted(self.latency.items()):
            out += hist.lines(f"{p}request_duration_seconds", f'{m},protocol="{protocol}"')
        for name, hist, help_ in (
            ("batch_rows", self.batch_rows, "Rows in one call into the model (micro-batch size)."),
            ("batch_requests", self.batch_requests, "Requests merged into one call into the model."),
            ("predict_duration_seconds", self.predict_seconds, "Time of one call into the model."),
        ):
            out += [f"# HELP {p}{name} {help_}", f"# TYPE {p}{name} histogram"]
            out += hist.lines(f"{p}{name}", m)
        out += [
            f"# HELP {p}model_ready 1 when the model is loaded and serving.",
            f"# TYPE {p}model_ready gauge",
            f"{p}model_ready{{{m}}} {int(self.ready)}",
        ]
        return ("\n".join(out) + "\n").encode()


def _num(value: float) -> str:
    return repr(float(value)) if value != int(value) else f"{value:.1f}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
