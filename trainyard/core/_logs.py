"""Streaming a run's script output as it is written (`wait_for_completion(show_output=True)`):
the pod's log through the API server with follow, and after the pod is gone — or where no kubelet
answers log requests — the copy the runner uploaded to the object store (logs/std_log.txt)."""

from __future__ import annotations

import sys
import time

from trainyard.api.constants import LABEL_RUN
from trainyard.api.trainingrun import PHASE_CANCELED, PHASE_COMPLETED, PHASE_FAILED

TERMINAL = (PHASE_COMPLETED, PHASE_FAILED, PHASE_CANCELED)
RUN_CONTAINER = "run"
POLL_SECONDS = 0.3
FOLLOW_ATTEMPTS = 3


def container_started(pod: dict, name: str = RUN_CONTAINER) -> bool:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == name:
            state = cs.get("state") or {}
            return "running" in state or "terminated" in state
    return False


def chunks(resp):
    """What arrives on a streaming response, as soon as it arrives: each HTTP chunk of a chunked
    response (the API server's usual answer to follow=true), else whatever bytes are there."""
    if getattr(resp, "chunked", False):
        yield from resp.stream(amt=None, decode_content=True)
        return
    while data := resp.read1(65536):
        yield data


class LogStreamer:
    """Follows one run's output; `printed` counts the lines already shown so the store's copy
    only adds what the pod stream did not show."""

    def __init__(self, run, out=None):
        self.run, self.out = run, out or sys.stdout
        self.printed = 0
        self.pod_logs_ok = True
        self.streamed_pods: set[str] = set()
        self._partial = ""
        self._failures = 0

    def _write(self, text: str) -> None:
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self.out.write(line + "\n")
            self.printed += 1
        self.out.flush()

    def _flush_partial(self) -> None:
        if self._partial:
            self.out.write(self._partial + "\n")
            self.printed += 1
            self._partial = ""
            self.out.flush()

    def _follow(self, pod: str) -> bool:
        """Stream `pod`'s run container until it ends; False if the API cannot serve its log."""
        ws = self.run._ws
        try:
            resp = ws._kube.pod_log(ws.namespace, pod, container=RUN_CONTAINER, follow=True)
        except Exception:
            return False
        try:
            for chunk in chunks(resp):
                self._write(chunk.decode(errors="replace"))
        except Exception:
            pass  # the connection dropped (pod deleted, API restart): the store has the rest
        finally:
            resp.release_conn()
        self._flush_partial()
        return True

    def stream(self, on_phase=None) -> dict:
        """Until the run ends: follow each pod of the run as its script starts; then print what
        the store's copy has beyond what was shown. Returns the run's final object."""
        ws = self.run._ws
        last_phase = None
        while True:
            obj = self.run._refresh()
            phase = (obj.get("status") or {}).get("phase") or "Queued"
            if phase != last_phase and on_phase:
                on_phase(phase, obj)
            last_phase = phase
            if phase in TERMINAL:
                break
            if self.pod_logs_ok:
                pods = ws._kube.pods(ws.namespace, f"{LABEL_RUN}={self.run.id}")
                fresh = [p for p in pods if p["metadata"]["name"] not in self.streamed_pods and container_started(p)]
                if fresh:
                    pod = fresh[-1]["metadata"]["name"]
                    self.streamed_pods.add(pod)
                    if self.printed:
                        self.out.write(f"--- {pod} (a new attempt) ---\n")
                        self.printed = 0  # the store's copy is of the last attempt
                    if self._follow(pod):
                        continue
                    # A refused log request: the container may be just starting (retry), or no
                    # kubelet answers log requests here (give up, the store's copy comes at the end).
                    self._failures += 1
                    self.streamed_pods.discard(pod)
                    if self._failures >= FOLLOW_ATTEMPTS:
                        self.pod_logs_ok = False
            time.sleep(POLL_SECONDS)
        self._from_store()
        return obj

    def _from_store(self) -> None:
        text = self.run._store_text("logs/std_log.txt")
        if text is None:
            return
        lines = text.splitlines()
        for line in lines[self.printed :]:
            self.out.write(line + "\n")
        self.printed = max(self.printed, len(lines))
        self.out.flush()
