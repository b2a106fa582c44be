"""Model (Azure ML: azureml.core.Model): one version of a RegisteredModel — registered from a
run's outputs or a local file, listed, downloaded, and deployed with no code (`Model.deploy`).

Azure model names may hold '_' and capitals ('sklearn_mnist'); a RegisteredModel name is a DNS
label, so the resource is named 'sklearn-mnist' and the name as given is kept in an annotation."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

from trainyard.api.constants import REGISTERED_MODEL
from trainyard.core import _kube
from trainyard.core._kube import NotFound
from trainyard.core.exceptions import ModelNotFoundException, UserErrorException
from trainyard.core.resource_configuration import ResourceConfiguration

NAME_ANNOTATION = "trainyard.dev/model-name"
WEBSERVICE_ANNOTATION = "trainyard.dev/webservice"
REGISTER_TIMEOUT = 300.0
_UNSAFE = re.compile(r"[^a-z0-9-]+")


def resource_name(model_name: str) -> str:
    """The RegisteredModel's name for an Azure model name (pure)."""
    name = _UNSAFE.sub("-", model_name.lower()).strip("-")
    if not name or len(name) > 52:
        raise UserErrorException(
            f"model name {model_name!r} cannot be a RegisteredModel name: use at most 52 letters, digits, '-' or '_'"
        )
    return name


def framework_name(value) -> str:
    if value is None:
        return "ScikitLearn"
    text = str(getattr(value, "value", value))
    return "ScikitLearn" if text.replace("-", "").replace("_", "").lower() == "scikitlearn" else "Custom"


def resources_from_spec(res: dict | None) -> ResourceConfiguration | None:
    if not res:
        return None
    cpu = res.get("cpu")
    cpu_v = float(str(cpu)[:-1]) / 1000 if str(cpu).endswith("m") else (float(cpu) if cpu is not None else None)
    mem = str(res.get("memory") or "")
    units = {"Mi": 1 / 1024, "Gi": 1.0, "M": 1e6 / 2**30, "G": 1e9 / 2**30}
    mem_v = next((float(mem[: -len(u)]) * f for u, f in units.items() if mem.endswith(u) and mem[: -len(u)]), None)
    return ResourceConfiguration(cpu=cpu_v, memory_in_gb=mem_v)


class Model:
    class Framework:
        SCIKITLEARN = "ScikitLearn"
        CUSTOM = "Custom"
        ONNX = "Onnx"
        TENSORFLOW = "TensorFlow"
        PYTORCH = "PyTorch"
        MULTI = "Multi"

    def __init__(
        self,
        workspace,
        name: str | None = None,
        id: str | None = None,
        tags=None,
        properties=None,
        version: int | None = None,
        run_id=None,
        model_framework=None,
        expand=True,
        _obj=None,
    ):
        if id and not name:
            name, _, v = id.partition(":")
            version = version or (int(v) if v.isdigit() else None)
        if not name:
            raise UserErrorException("Model(ws, name): give the model's name")
        self.workspace = workspace
        if _obj is None:
            try:
                _obj = workspace._kube.get(REGISTERED_MODEL, workspace.namespace, resource_name(name))
            except NotFound:
                raise ModelNotFoundException(
                    f"no model {name!r} in workspace {workspace.name!r} (namespace {workspace.namespace!r}); "
                    "register it with run.register_model(...) or Model.register(...)"
                ) from None
        self._load(_obj, version)

    def _load(self, obj: dict, version: int | None) -> None:
        self._obj = obj
        st, spec, meta = obj.get("status") or {}, obj.get("spec") or {}, obj["metadata"]
        versions = st.get("versions") or []
        want = version or st.get("version")
        entry = next((v for v in versions if v.get("version") == want), None)
        if entry is None:
            got = ", ".join(str(v.get("version")) for v in versions) or "none yet"
            raise ModelNotFoundException(f"model {meta['name']!r} has no version {want} (versions: {got})")
        self._entry = entry
        self.name = (meta.get("annotations") or {}).get(NAME_ANNOTATION) or meta["name"]
        self.version = int(entry["version"])
        self.id = f"{self.name}:{self.version}"
        self.url = entry.get("uri")
        self.model_framework = entry.get("framework") or spec.get("framework")
        self.model_framework_version = entry.get("frameworkVersion") or spec.get("frameworkVersion")
        self.resource_configuration = resources_from_spec(spec.get("resources"))
        self.description = spec.get("description")
        self.tags = dict(spec.get("tags") or {})
        self.run_id = entry.get("run")
        self.experiment_name = entry.get("experiment")
        self.created_time = entry.get("registeredAt")
        self.sha256 = entry.get("sha256")

    @property
    def _resource(self) -> str:
        return self._obj["metadata"]["name"]

    def __repr__(self) -> str:
        return (
            f"Model(workspace={self.workspace.name}, name={self.name}, id={self.id}, "
            f"version={self.version}, tags={self.tags})"
        )

    def serialize(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "url": self.url,
            "runId": self.run_id,
            "framework": self.model_framework,
            "frameworkVersion": self.model_framework_version,
            "createdTime": self.created_time,
            "tags": self.tags,
            "description": self.description,
        }

    # -- listing ---------------------------------------------------------------------------------

    @staticmethod
    def list(workspace, name: str | None = None, tags=None, properties=None, run_id=None, latest=False, **kw) -> list:
        out = []
        for obj in workspace._kube.list(REGISTERED_MODEL, workspace.namespace):
            st = obj.get("status") or {}
            shown = (obj["metadata"].get("annotations") or {}).get(NAME_ANNOTATION) or obj["metadata"]["name"]
            if name and name not in (shown, obj["metadata"]["name"]):
                continue
            versions = [v["version"] for v in st.get("versions") or []]
            for v in [st["version"]] if latest and st.get("version") else versions:
                m = Model(workspace, shown, version=v, _obj=obj)
                if run_id and m.run_id != run_id:
                    continue
                out.append(m)
        return out

    # -- registering -----------------------------------------------------------------------------

    @staticmethod
    def _body(workspace, model_name: str, source: dict, framework, framework_version, resources, description, tags):
        spec: dict = {"source": source, "framework": framework_name(framework)}
        if framework_version:
            spec["frameworkVersion"] = str(framework_version)
        res = resources._resources() if isinstance(resources, ResourceConfiguration) else resources
        if res:
            spec["resources"] = dict(res)
        if description:
            spec["description"] = description
        if tags:
            spec["tags"] = {str(k): str(v) for k, v in tags.items()}
        return {
            "apiVersion": "trainyard.dev/v1alpha1",
            "kind": REGISTERED_MODEL,
            "metadata": {
                "name": resource_name(model_name),
                "namespace": workspace.namespace,
                "annotations": {NAME_ANNOTATION: model_name},
            },
            "spec": spec,
        }

    @classmethod
    def _apply_and_wait(cls, workspace, body: dict, model_name: str) -> Model:
        from trainyard.cli.models_cmd import register_outcome

        obj = _kube.create_or_patch_spec(workspace._kube, body, annotations=body["metadata"]["annotations"])
        deadline = time.monotonic() + REGISTER_TIMEOUT
        while True:
            outcome = register_outcome(obj)
            if outcome and outcome[0] == "ok":
                return Model(workspace, model_name, _obj=obj)
            if outcome:
                raise UserErrorException(f"model {model_name!r} was not registered: {outcome[1]}")
            if time.monotonic() > deadline:
                msg = (obj.get("status") or {}).get("message") or "the operator has not answered (is it running?)"
                raise UserErrorException(f"model {model_name!r} not registered after {REGISTER_TIMEOUT:.0f}s: {msg}")
            time.sleep(0.5)
            obj = workspace._kube.get(REGISTERED_MODEL, workspace.namespace, body["metadata"]["name"])

    @classmethod
    def _register_from_run(
        cls, run, model_name, model_path, *, framework, framework_version, resources, description, tags
    ):
        phase = run.get_status()
        if phase != "Completed":
            raise UserErrorException(
                f"run {run.id} is {phase}: only a Completed run's outputs can be registered "
                "(call run.wait_for_completion() first)"
            )
        names = run.get_file_names()
        if model_path not in names:
            raise UserErrorException(
                f"run {run.id} has no file {model_path!r}; its files: {', '.join(names) or 'none'}"
            )
        body = cls._body(
            run._ws,
            model_name,
            {"trainingRun": {"name": run.id, "path": model_path}},
            framework,
            framework_version,
            resources,
            description,
            tags,
        )
        return cls._apply_and_wait(run._ws, body, model_name)

    @staticmethod
    def register(
        workspace,
        model_path: str,
        model_name: str,
        tags=None,
        properties=None,
        description=None,
        datasets=None,
        model_framework=None,
        model_framework_version=None,
        child_paths=None,
        sample_input_dataset=None,
        sample_output_dataset=None,
        resource_configuration=None,
        **kw,
    ) -> Model:
        """Register a local model file: uploaded to uploads/<ns>/<model>/<sha256>/<file> in the
        store, then recorded as the model's next version."""
        path = Path(model_path)
        if not path.is_file():
            raise UserErrorException(f"Model.register: {model_path} is not a file (a folder is not supported yet)")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        cfg, client = workspace._store()
        key = f"uploads/{workspace.namespace}/{resource_name(model_name)}/{digest}/{path.name}"
        client.fput_object(cfg.bucket, key, str(path))
        body = Model._body(
            workspace,
            model_name,
            {"uri": f"s3://{cfg.bucket}/{key}"},
            model_framework,
            model_framework_version,
            resource_configuration,
            description,
            tags,
        )
        return Model._apply_and_wait(workspace, body, model_name)

    # -- using it --------------------------------------------------------------------------------

    def download(self, target_dir: str = ".", exist_ok: bool = False, exists_ok=None) -> str:
        """Download this version's file into target_dir; returns its path."""
        from trainyard.storage.uri import parse_s3

        uri = parse_s3(self.url)
        dest = Path(target_dir) / uri.name
        if dest.exists() and not (exist_ok or exists_ok):
            raise UserErrorException(f"{dest} exists: pass exist_ok=True to overwrite it")
        dest.parent.mkdir(parents=True, exist_ok=True)
        _, client = self.workspace._store()
        client.fget_object(uri.bucket, uri.key, str(dest))
        return str(dest)

    def get_sas_urls(self) -> dict:
        return {Path(self.url).name: self.url}

    @staticmethod
    def deploy(
        workspace,
        name: str,
        models: list,
        inference_config=None,
        deployment_config=None,
        deployment_target=None,
        overwrite: bool = False,
        show_output: bool = False,
    ):
        """No-code deployment of one scikit-learn model as a web service (RegisteredModel.spec.deployment)."""
        from trainyard.core.webservice import Webservice

        return Webservice._deploy(workspace, name, models, inference_config, deployment_config, overwrite, show_output)
