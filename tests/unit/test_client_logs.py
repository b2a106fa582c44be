"""wait_for_completion(show_output=True)'s streaming against a fake API: the pod's lines as they
come, a new attempt announced, and the store's copy adding only what the pod stream missed."""

import io

from trainyard.core import _logs


class FakeResp:
    chunked = True

    def __init__(self, chunks, fail_after=None):
        self._chunks, self.fail_after = chunks, fail_after

    def stream(self, amt=None, decode_content=True):
        for i, c in enumerate(self._chunks):
            if self.fail_after is not None and i == self.fail_after:
                raise ConnectionError("dropped")
            yield c

    def release_conn(self):
        pass


class FakeKube:
    def __init__(self, phases, pods, logs):
        self.phases, self.pods_seq, self.logs = list(phases), pods, logs
        self.follows = []

    def pods(self, ns, selector):
        return self.pods_seq

    def pod_log(self, ns, pod, container=None, follow=False):
        self.follows.append(pod)
        value = self.logs[pod]
        if isinstance(value, Exception):
            raise value
        return value


class FakeRun:
    id = "r1"

    def __init__(self, kube, store_text):
        self.kube, self.store = kube, store_text
        self._ws = type("Ws", (), {"_kube": kube, "namespace": "ns"})()

    def _refresh(self):
        phase = self.kube.phases.pop(0) if len(self.kube.phases) > 1 else self.kube.phases[0]
        return {"status": {"phase": phase}}

    def _store_text(self, rel):
        return self.store


def started(name):
    return {"metadata": {"name": name}, "status": {"containerStatuses": [{"name": "run", "state": {"running": {}}}]}}


def test_pod_lines_stream_and_the_store_adds_nothing_twice(monkeypatch):
    monkeypatch.setattr(_logs, "POLL_SECONDS", 0)
    kube = FakeKube(["Running", "Running", "Completed"], [started("p1")], {"p1": FakeResp([b"a\nb", b"c\n"])})
    out = io.StringIO()
    _logs.LogStreamer(FakeRun(kube, "a\nbc\n"), out).stream()
    assert out.getvalue() == "a\nbc\n" and kube.follows == ["p1"]


def test_a_dropped_stream_is_completed_from_the_store(monkeypatch):
    monkeypatch.setattr(_logs, "POLL_SECONDS", 0)
    kube = FakeKube(
        ["Running", "Running", "Completed"],
        [started("p1")],
        {"p1": FakeResp([b"one\n", b"two\n", b"three\n"], fail_after=2)},
    )
    out = io.StringIO()
    _logs.LogStreamer(FakeRun(kube, "one\ntwo\nthree\nfour\n"), out).stream()
    assert out.getvalue() == "one\ntwo\nthree\nfour\n" and kube.follows == ["p1"]


def test_no_kubelet_answers_so_the_store_copy_is_printed_at_the_end(monkeypatch):
    monkeypatch.setattr(_logs, "POLL_SECONDS", 0)
    kube = FakeKube(["Running"] * 6 + ["Completed"], [started("p1")], {"p1": RuntimeError("no kubelet")})
    out = io.StringIO()
    streamer = _logs.LogStreamer(FakeRun(kube, "x\ny\n"), out)
    streamer.stream()
    assert out.getvalue() == "x\ny\n" and not streamer.pod_logs_ok
    assert kube.follows == ["p1"] * _logs.FOLLOW_ATTEMPTS


def test_a_pod_whose_script_has_not_started_is_not_followed(monkeypatch):
    monkeypatch.setattr(_logs, "POLL_SECONDS", 0)
    waiting = {"metadata": {"name": "p1"}, "status": {"containerStatuses": [{"name": "run", "state": {"waiting": {}}}]}}
    kube = FakeKube(["Preparing", "Preparing", "Failed"], [waiting], {})
    out = io.StringIO()
    _logs.LogStreamer(FakeRun(kube, None), out).stream()
    assert kube.follows == [] and out.getvalue() == ""
