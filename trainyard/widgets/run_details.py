"""RunDetails(run).show(): in Jupyter (JupyterLab or the classic notebook) an ipywidgets HTML widget
refreshed every ~2 s by a background thread until the run ends; elsewhere a text summary."""

from __future__ import annotations

import sys
import threading
import time

from trainyard.widgets import _view

REFRESH_SECONDS = 2.0


def in_jupyter() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


class RunDetails:
    def __init__(self, run_instance, *, refresh_seconds: float = REFRESH_SECONDS):
        self.run = run_instance
        self.refresh_seconds = refresh_seconds
        self._widget = None
        self._thread: threading.Thread | None = None
        self.updates = 0

    def get_widget_data(self) -> dict:
        """The current view (status, phase times, metrics, charts, log tail, children)."""
        run = self.run
        obj = run._refresh()
        try:
            records = run._metric_records()
        except Exception:
            records = []
        children = [c._obj for c in run.get_children()]
        return _view.view(obj, records, self._log_tail(obj), now=time.time(), children=children)

    def _log_tail(self, obj: dict) -> list[str]:
        from trainyard.api.constants import LABEL_RUN

        ws = self.run._ws
        phase = (obj.get("status") or {}).get("phase")
        if phase not in _view.TERMINAL:
            try:
                pods = ws._kube.pods(ws.namespace, f"{LABEL_RUN}={self.run.id}")
                if pods:
                    text = ws._kube.pod_log(
                        ws.namespace, pods[-1]["metadata"]["name"], container="run", tail=_view.LOG_LINES
                    )
                    return text.splitlines()
            except Exception:
                pass  # no kubelet answers, or the container has not started: the store's copy
        try:
            text = self.run._store_text("logs/std_log.txt")
        except Exception:
            text = None
        return (text or "").splitlines()[-_view.LOG_LINES :]

    def show(self):
        if not in_jupyter():
            print(_view.to_text(self.get_widget_data()))
            return None
        import ipywidgets
        from IPython.display import display

        data = self.get_widget_data()
        self._widget = ipywidgets.HTML(value=_view.to_html(data))
        display(self._widget)
        if not data["done"]:
            self._thread = threading.Thread(target=self._refresh_loop, name=f"RunDetails-{self.run.id}", daemon=True)
            self._thread.start()
        return None

    def _refresh_loop(self) -> None:
        while True:
            time.sleep(self.refresh_seconds)
            try:
                data = self.get_widget_data()
            except Exception as exc:  # keep the last view, say why it stopped updating
                self._widget.value += f"<p><i>RunDetails stopped updating: {type(exc).__name__}: {exc}</i></p>"
                return
            self._widget.value = _view.to_html(data)
            self.updates += 1
            if data["done"]:
                return
