"""Run (Azure ML: azureml.core.Run), seen from the notebook: one TrainingRun — its status and
phase times, its live output, its metrics and files in the object store, its model.

Inside a training script `Run.get_context()` (and the 2018 `Run.get_submitted_run()`) return the
SDK's run context (trainyard.runtime.sdk), so `from trainyard.core import Run` works on both sides.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trainyard.api.constants import TRAINING_RUN
from trainyard.core import _submit
from trainyard.core._kube import NotFound
from trainyard.core._logs import TERMINAL, LogStreamer
from trainyard.core.exceptions import ActivityFailedException, UserErrorException

HIDDEN_FILES = ("metrics.jsonl", "manifest.json")


class Run:
    def __init__(self, experiment, run_id: str, outputs=None, _obj: dict | None = None, **kwargs):
        self.experiment, self.id = experiment, run_id
        self._obj = _obj

    # -- inside a training script ----------------------------------------------------------------

    @classmethod
    def get_context(cls, allow_offline: bool = True, used_for_context_manager: bool = False, **kwargs):
        from trainyard.runtime.sdk import Run as SdkRun

        return SdkRun.get_context()

    @classmethod
    def get_submitted_run(cls, **kwargs):
        return cls.get_context()

    # -- identity --------------------------------------------------------------------------------

    @property
    def _ws(self):
        return self.experiment.workspace

    @property
    def name(self) -> str:
        return self.id

    display_name = name

    @property
    def number(self) -> int | None:
        return None

    def __repr__(self) -> str:
        return (
            f"Run(Experiment: {self.experiment.name},\nId: {self.id},\nType: trainyard.TrainingRun,\n"
            f"Status: {self.get_status()})"
        )

    def _repr_html_(self) -> str:
        rows = (
            ("Experiment", self.experiment.name),
            ("Id", self.id),
            ("Type", "TrainingRun"),
            ("Status", self.get_status()),
        )
        head = "".join(f"<th>{k}</th>" for k, _ in rows)
        cells = "".join(f"<td>{v}</td>" for _, v in rows)
        return f"<table style='width:100%'><tr>{head}</tr><tr>{cells}</tr></table>"

    def get_portal_url(self) -> str:
        return f"kubectl -n {self._ws.namespace} get trainingrun {self.id}"

    # -- the resource ----------------------------------------------------------------------------

    def _refresh(self) -> dict:
        ws = self._ws
        try:
            self._obj = ws._kube.get(TRAINING_RUN, ws.namespace, self.id)
        except NotFound:
            raise UserErrorException(f"run {self.id!r} no longer exists in namespace {ws.namespace!r}") from None
        return self._obj

    def get_status(self) -> str:
        """Queued, Scaling, Preparing, Running, Finalizing, Completed, Failed or Canceled (Azure's names)."""
        return (self._refresh().get("status") or {}).get("phase") or "Queued"

    @property
    def status(self) -> str:
        return self.get_status()

    def get_details(self) -> dict:
        obj = self._refresh()
        return details(obj)

    def get_details_with_logs(self) -> dict:
        d = self.get_details()
        d["logFiles"] = {"logs/std_log.txt": self._store_text("logs/std_log.txt") or ""}
        return d

    def wait_for_completion(self, show_output: bool = False, wait_post_processing: bool = False, raise_on_error=True):
        """Block until the run ends; with show_output the script's output is printed as it is
        written. Returns get_details(); a Failed or Canceled run raises ActivityFailedException
        (with raise_on_error) whose message is the run's reason."""
        out = sys.stdout
        if show_output:
            out.write(f"RunId: {self.id}\nWeb View: {self.get_portal_url()}\n\nStreaming logs/std_log.txt\n")
            out.write("=" * 26 + "\n\n")
            out.flush()
            obj = LogStreamer(self, out).stream()
        else:
            from trainyard.core._wait import poll_until

            obj = poll_until(self._refresh, lambda o: (o.get("status") or {}).get("phase") in TERMINAL)
        info = details(obj)
        if show_output:
            out.write(f"\nExecution Summary\n=================\nRunId: {self.id}\nStatus: {info['status']}\n")
            if info.get("error"):
                out.write(f"Error: {info['error']['message']}\n")
            out.write("\n")
            out.flush()
        if raise_on_error and info["status"] != "Completed":
            message = ((info.get("error") or {}).get("message") or "").strip().splitlines()
            raise ActivityFailedException(
                f"run {self.id} ended {info['status']}" + (f": {message[0]}" if message else ""), run=self
            )
        return info

    def cancel(self) -> None:
        """Stop the run (spec.suspend: true); it ends Canceled."""
        ws = self._ws
        self._obj = ws._kube.patch(TRAINING_RUN, ws.namespace, self.id, {"spec": {"suspend": True}})

    def fail(self, *args, **kwargs) -> None:
        self.cancel()

    # -- tags ------------------------------------------------------------------------------------

    def tag(self, key: str, value=None) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: dict) -> None:
        ws = self._ws
        merged = {**_submit.decode_tags(self._refresh()), **{k: "" if v is None else str(v) for k, v in tags.items()}}
        patch = {"metadata": {"annotations": {_submit.TAGS_ANNOTATION: _submit.encode_tags(merged)}}}
        self._obj = ws._kube.patch(TRAINING_RUN, ws.namespace, self.id, patch)

    def remove_tags(self, tags) -> None:
        ws = self._ws
        left = {k: v for k, v in _submit.decode_tags(self._refresh()).items() if k not in set(tags)}
        patch = {"metadata": {"annotations": {_submit.TAGS_ANNOTATION: _submit.encode_tags(left)}}}
        self._obj = ws._kube.patch(TRAINING_RUN, ws.namespace, self.id, patch)

    def get_tags(self) -> dict:
        """Tags given at submit or with tag(), plus those the script set with run.tag()."""
        from trainyard.runtime import metrics

        from_script = metrics.tags(self._metric_records())
        return {**from_script, **_submit.decode_tags(self._refresh())}

    @property
    def tags(self) -> dict:
        return self.get_tags()

    # -- children (a sweep's trials) -------------------------------------------------------------

    def get_children(self, recursive: bool = False, tags=None, properties=None, type=None, status=None, **kw):
        """Runs labelled trainyard.dev/parent-run=<this run>, and the trials a sweep lists in
        status.trials; empty for a run that is not a sweep."""
        ws = self._ws
        items = ws._kube.list(TRAINING_RUN, ws.namespace, f"{_submit.PARENT_LABEL}={self.id}")
        known = {r["metadata"]["name"] for r in items}
        for trial in (self._refresh().get("status") or {}).get("trials") or []:
            if trial.get("name") and trial["name"] not in known:
                try:
                    items.append(ws._kube.get(TRAINING_RUN, ws.namespace, trial["name"]))
                except NotFound:
                    continue
        items.sort(key=lambda r: r["metadata"].get("creationTimestamp") or "")
        for obj in items:
            child = Run(self.experiment, obj["metadata"]["name"], _obj=obj)
            if status and (obj.get("status") or {}).get("phase") != status:
                continue
            yield child
            if recursive:
                yield from child.get_children(recursive=True, status=status)

    # -- metrics and files in the object store ----------------------------------------------------

    def _store_text(self, rel: str) -> str | None:
        from trainyard.storage import layout

        cfg, client = self._ws._store()
        try:
            resp = client.get_object(cfg.bucket, layout.run_prefix_of(self._refresh()) + rel)
        except Exception:
            return None
        try:
            return resp.read().decode(errors="replace")
        finally:
            resp.close()
            resp.release_conn()

    def _metric_records(self) -> list[dict]:
        from trainyard.runtime import metrics

        text = self._store_text("metrics.jsonl")
        return metrics.parse_lines(text) if text else []

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type=None, populate=False) -> dict:
        """Azure's shapes: a metric logged once is its value, several times the list of values
        (the full history, from runs/<ns>/<run>/metrics.jsonl); before the history reaches the
        store, the latest values in status."""
        from trainyard.runtime import metrics

        records = self._metric_records()
        values = (
            metrics.aggregate(records) if records else dict((self._refresh().get("status") or {}).get("metrics") or {})
        )
        if name is not None:
            return {name: values[name]} if name in values else {}
        return values

    def _file_objects(self) -> list:
        from trainyard.storage import layout

        cfg, client = self._ws._store()
        prefix = layout.run_prefix_of(self._refresh())
        return [
            o
            for o in client.list_objects(cfg.bucket, prefix=prefix, recursive=True)
            if o.object_name[len(prefix) :] not in HIDDEN_FILES
        ]

    def get_file_names(self) -> list[str]:
        """Every file the run stored: outputs/..., logs/std_log.txt, and files the script uploaded."""
        from trainyard.storage import layout

        prefix = layout.run_prefix_of(self._refresh())
        return sorted(o.object_name[len(prefix) :] for o in self._file_objects())

    def download_file(self, name: str, output_file_path: str | None = None, _validate_checksum: bool = False) -> None:
        from trainyard.storage import layout

        names = self.get_file_names()
        if name not in names:
            raise UserErrorException(
                f"run {self.id} has no file {name!r}; it has: {', '.join(names) or 'no files yet'}"
            )
        target = Path(output_file_path) if output_file_path else Path(Path(name).name)
        if target.is_dir():
            target = target / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        cfg, client = self._ws._store()
        client.fget_object(cfg.bucket, layout.run_prefix_of(self._refresh()) + name, str(target))

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | None = None,
        output_paths=None,
        batch_size=100,
        append_prefix: bool = True,
        timeout_seconds=None,
    ) -> list[str]:
        """Download every file under `prefix` into `output_directory` (default: the current
        directory), keeping their paths (without the prefix when append_prefix=False)."""
        from trainyard.storage import layout

        cfg, client = self._ws._store()
        root = layout.run_prefix_of(self._refresh())
        prefix = (prefix or "").lstrip("/")
        written = []
        for obj in self._file_objects():
            rel = obj.object_name[len(root) :]
            if not rel.startswith(prefix):
                continue
            dest = Path(output_directory or ".") / (rel if append_prefix else rel[len(prefix) :].lstrip("/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            client.fget_object(cfg.bucket, obj.object_name, str(dest))
            written.append(str(dest))
        if not written:
            raise UserErrorException(f"run {self.id} has no files under {prefix or '/'!r}")
        return written

    # -- models ----------------------------------------------------------------------------------

    def register_model(
        self,
        model_name: str,
        model_path: str | None = None,
        tags: dict | None = None,
        properties: dict | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        datasets=None,
        sample_input_dataset=None,
        sample_output_dataset=None,
        resource_configuration=None,
        **kwargs,
    ):
        """Register `model_path` (a file in this run's outputs) as a new version of `model_name`;
        waits until the operator has recorded the version and returns the Model."""
        from trainyard.core.model import Model

        if not model_path:
            raise UserErrorException("register_model: give model_path, e.g. 'outputs/model.pkl'")
        return Model._register_from_run(
            self,
            model_name,
            model_path.removeprefix("./"),
            framework=model_framework,
            framework_version=model_framework_version,
            resources=resource_configuration,
            description=description,
            tags=tags,
        )


def details(obj: dict) -> dict:
    """Azure's get_details() shape from a TrainingRun (pure)."""
    from trainyard.api import conditions as cond

    st = obj.get("status") or {}
    spec = obj.get("spec") or {}
    phase = st.get("phase") or "Queued"
    out = {
        "runId": obj["metadata"]["name"],
        "target": spec.get("compute"),
        "status": phase,
        "startTimeUtc": st.get("startTime"),
        "endTimeUtc": st.get("completionTime"),
        "properties": {
            "experiment": spec.get("experiment"),
            "attempts": st.get("attempts"),
            "artifactsUri": st.get("artifactsUri"),
        },
        "inputDatasets": [dict(i) for i in spec.get("inputs") or []],
        "runDefinition": {
            "script": spec.get("entryScript"),
            "arguments": list(spec.get("args") or []),
            "environment": dict(spec.get("environment") or {}),
            "source": dict(spec.get("source") or {}),
        },
        "conditions": [
            {k: c.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime")}
            for c in st.get("conditions") or []
        ],
        "logFiles": {},
    }
    if phase in ("Failed", "Canceled"):
        reason = next((c for c in (cond.find(st.get("conditions"), t) for t in ("Failed", "Canceled")) if c), None)
        out["error"] = {
            "code": (reason or {}).get("reason", phase),
            "message": st.get("message") or (reason or {}).get("message") or phase,
        }
    return out


def json_dumps(d: dict) -> str:
    return json.dumps(d, indent=2, default=str)
