"""Experiment (Azure ML: azureml.core.Experiment): a name grouping runs (spec.experiment and the
label trainyard.dev/experiment); `submit` snapshots the code and creates a TrainingRun."""

from __future__ import annotations

import re

from trainyard.api.constants import COMPUTE_CLUSTER, LABEL_EXPERIMENT, TRAINING_RUN
from trainyard.core import _submit
from trainyard.core._kube import NotFound
from trainyard.core.exceptions import ComputeTargetException, UserErrorException

_EXPERIMENT = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


class Experiment:
    def __init__(self, workspace, name: str, _skip_name_validation: bool = False, **kwargs):
        if not _EXPERIMENT.match(name or "") or len(name) > 63:
            raise UserErrorException(
                f"experiment name {name!r} is not valid: use letters, digits, '-', '_' and '.', "
                "starting and ending with a letter or digit, at most 63 characters"
            )
        self.workspace, self.name = workspace, name

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name}, Workspace: {self.workspace.name})"

    def _compute_name(self, target) -> str:
        ws = self.workspace
        if target is not None and not isinstance(target, str):
            target = getattr(target, "name", None)
        if target in (None, "", "local"):
            target = ws._cfg.compute.get("default")
            if not target:
                clusters = ws._kube.list(COMPUTE_CLUSTER, ws.namespace)
                if len(clusters) != 1:
                    raise ComputeTargetException(
                        f"no compute target given and namespace {ws.namespace!r} has {len(clusters)} ComputeClusters: "
                        "pass compute_target=... (or set compute.default in the workspace config)"
                    )
                target = clusters[0]["metadata"]["name"]
        try:
            ws._kube.get(COMPUTE_CLUSTER, ws.namespace, target, exc=ComputeTargetException)
        except NotFound:
            raise ComputeTargetException(
                f"unknown compute target {target!r} in namespace {ws.namespace!r}: create it with "
                "ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(...)) or pick one of "
                f"{sorted(ws.compute_targets) or 'none yet'}"
            ) from None
        return target

    def submit(self, config, tags: dict | None = None, **kwargs):
        """Create a TrainingRun from a ScriptRunConfig or an Estimator; returns its Run at once."""
        from trainyard.cli import run_spec
        from trainyard.core.run import Run

        if not hasattr(config, "_submission"):
            raise UserErrorException(f"submit() takes a ScriptRunConfig or an Estimator, not a {type(config).__name__}")
        sub = config._submission()
        script = _submit.check_script(sub.source_directory, sub.script)
        args, inputs = _submit.arguments(sub.arguments)
        environment = sub.environment._spec() if sub.environment is not None else {}
        ws = self.workspace
        compute = self._compute_name(sub.target)
        snapshot = self._snapshot(sub.source_directory)
        body = _submit.body(
            name=run_spec.run_name(self.name),
            namespace=ws.namespace,
            experiment=self.name,
            compute=compute,
            snapshot=snapshot,
            script=script,
            args=args,
            inputs=inputs,
            environment=environment,
            tags={**(tags or {}), **(kwargs.get("run_tags") or {})} or None,
            timeout=sub.timeout,
        )
        created = ws._kube.create(body, what=f"namespace {ws.namespace!r}")
        return Run(self, created["metadata"]["name"], _obj=created)

    def _snapshot(self, source_directory: str) -> str:
        """Upload the directory's content-addressed snapshot (honouring .trainyardignore); an
        identical snapshot already in the store is reused."""
        from pathlib import Path

        from trainyard.storage import snapshot
        from trainyard.storage.snapshot import SnapshotError

        cfg, client = self.workspace._store()
        try:
            uri, _ = snapshot.upload(client, cfg.bucket, Path(source_directory))
        except SnapshotError as exc:
            raise UserErrorException(str(exc)) from None
        return str(uri)

    def get_runs(self, type=None, tags=None, properties=None, include_children: bool = False):
        """This experiment's runs, newest first (Azure ML's order)."""
        from trainyard.core.run import Run

        ws = self.workspace
        items = ws._kube.list(TRAINING_RUN, ws.namespace, f"{LABEL_EXPERIMENT}={self.name}")
        items.sort(key=lambda r: r["metadata"].get("creationTimestamp") or "", reverse=True)
        for obj in items:
            if not include_children and (obj["metadata"].get("labels") or {}).get(_submit.PARENT_LABEL):
                continue
            run = Run(self, obj["metadata"]["name"], _obj=obj)
            if tags and not all(
                run.get_tags().get(k) == v for k, v in (tags.items() if isinstance(tags, dict) else [])
            ):
                continue
            yield run

    @staticmethod
    def list(workspace, experiment_name: str | None = None, **kwargs) -> list:
        exps = workspace.experiments
        return [e for n, e in exps.items() if experiment_name in (None, n)]
