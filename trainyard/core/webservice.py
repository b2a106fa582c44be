"""Webservice (Azure ML: azureml.core.webservice.Webservice): a registered model served by the
trainyard model server — RegisteredModel.spec.deployment, a Deployment and a Service. Requests go
through the API server's service proxy with the user's credentials, so `service.run()` works from
a laptop as well as from inside the cluster."""

from __future__ import annotations

import json
import sys
import time

from trainyard.api.constants import LABEL_MODEL, REGISTERED_MODEL
from trainyard.core.exceptions import WebserviceException
from trainyard.core.model import WEBSERVICE_ANNOTATION, Model

DEPLOY_TIMEOUT = 900.0
SERVICE_PORT = 80
# RegisteredModel phase -> Azure's Webservice.state
STATES = {
    "Ready": "Healthy",
    "Failed": "Failed",
    "Deploying": "Transitioning",
    "Registered": "Transitioning",
    "Registering": "Transitioning",
}


def service_of(endpoint: str | None) -> tuple[str, str, str] | None:
    """('service', 'namespace', 'path') of an in-cluster endpoint http://svc.ns.svc/score (pure)."""
    if not endpoint or not endpoint.startswith("http://"):
        return None
    host, _, path = endpoint.removeprefix("http://").partition("/")
    parts = host.split(".")
    return (parts[0], parts[1], path) if len(parts) >= 2 else None


class AciWebservice:
    """Azure's `AciWebservice.deploy_configuration(cpu_cores, memory_gb)`: the serving replica's
    resources, the only part of a deployment configuration trainyard uses."""

    def __init__(self, cpu_cores=None, memory_gb=None):
        self.cpu_cores, self.memory_gb = cpu_cores, memory_gb

    @staticmethod
    def deploy_configuration(cpu_cores=None, memory_gb=None, **kwargs) -> AciWebservice:
        return AciWebservice(cpu_cores, memory_gb)


class Webservice:
    def __init__(self, workspace, name: str, _obj: dict | None = None):
        self.workspace, self.name = workspace, name
        self._obj = _obj or self._find()

    def _find(self) -> dict:
        ws = self.workspace
        for obj in ws._kube.list(REGISTERED_MODEL, ws.namespace):
            if (obj["metadata"].get("annotations") or {}).get(WEBSERVICE_ANNOTATION) == self.name:
                return obj
        raise WebserviceException(
            f"no web service {self.name!r} in namespace {ws.namespace!r}: "
            "deploy one with Model.deploy(ws, name, [model])"
        )

    @staticmethod
    def list(workspace, compute_type=None, image_name=None, model_name=None, **kw) -> list:
        out = []
        for obj in workspace._kube.list(REGISTERED_MODEL, workspace.namespace):
            svc = (obj["metadata"].get("annotations") or {}).get(WEBSERVICE_ANNOTATION)
            if svc and (obj.get("spec") or {}).get("deployment") is not None:
                out.append(Webservice(workspace, svc, _obj=obj))
        return out

    @classmethod
    def _deploy(cls, workspace, name, models, inference_config, deployment_config, overwrite, show_output):
        models = list(models or [])
        if len(models) != 1 or not isinstance(models[0], Model):
            raise WebserviceException(f"Model.deploy needs exactly one Model, got {len(models)}")
        model = models[0]
        if inference_config is not None:
            raise WebserviceException(
                "an inference_config (a custom scoring script) is not supported yet: trainyard deploys "
                "scikit-learn models with no code; call Model.deploy(ws, name, [model])"
            )
        if model.model_framework != Model.Framework.SCIKITLEARN:
            raise WebserviceException(
                f"model {model.name!r} is registered as {model.model_framework}, not scikit-learn: no-code deployment "
                "serves scikit-learn models only (register it with model_framework=Model.Framework.SCIKITLEARN)"
            )
        taken = [s for s in cls.list(workspace) if s.name == name and s._obj["metadata"]["name"] != model._resource]
        if taken and not overwrite:
            raise WebserviceException(
                f"web service {name!r} already serves model {taken[0]._obj['metadata']['name']!r}"
            )
        spec: dict = {"deployment": {"replicas": 1}}
        if deployment_config is not None and getattr(deployment_config, "cpu_cores", None) is not None:
            from trainyard.core.resource_configuration import ResourceConfiguration

            res = ResourceConfiguration(deployment_config.cpu_cores, getattr(deployment_config, "memory_gb", None))
            spec["resources"] = res._resources()
        patch = {"metadata": {"annotations": {WEBSERVICE_ANNOTATION: name}}, "spec": spec}
        obj = workspace._kube.patch(
            REGISTERED_MODEL, workspace.namespace, model._resource, patch, exc=WebserviceException
        )
        svc = cls(workspace, name, _obj=obj)
        if show_output:
            svc.wait_for_deployment(show_output=True)
        return svc

    # -- state -----------------------------------------------------------------------------------

    def _refresh(self) -> dict:
        ws = self.workspace
        self._obj = ws._kube.get(
            REGISTERED_MODEL,
            ws.namespace,
            self._obj["metadata"]["name"],
            exc=WebserviceException,
            what=f"web service {self.name!r} (its RegisteredModel {self._obj['metadata']['name']!r})",
        )
        return self._obj

    @property
    def state(self) -> str:
        return STATES.get((self._refresh().get("status") or {}).get("phase"), "Transitioning")

    @property
    def scoring_uri(self) -> str | None:
        """The in-cluster endpoint (http://<service>.<namespace>.svc/score); `run()` reaches it from
        anywhere through the API server."""
        return (self._obj.get("status") or {}).get("endpoint") or (self._refresh().get("status") or {}).get("endpoint")

    @property
    def models(self) -> list:
        return [Model(self.workspace, self._obj["metadata"]["name"], _obj=self._obj)]

    def __repr__(self) -> str:
        phase = (self._obj.get("status") or {}).get("phase")
        return (
            f"Webservice(workspace={self.workspace.name}, name={self.name}, state={STATES.get(phase, 'Transitioning')})"
        )

    def wait_for_deployment(self, show_output: bool = False, timeout_sec: float | None = None) -> None:
        deadline = time.monotonic() + (timeout_sec or DEPLOY_TIMEOUT)
        last = None
        while True:
            st = self._refresh().get("status") or {}
            phase = st.get("phase")
            if show_output and phase != last:
                sys.stdout.write(f"{phase or 'Pending'}{': ' + st['message'] if st.get('message') else ''}\n")
                sys.stdout.flush()
            last = phase
            if phase == "Ready":
                if show_output:
                    print(f'Deployment of {self.name!r} finished, operation "Succeeded" ({st.get("endpoint")})')
                return
            if phase == "Failed":
                raise WebserviceException(f"web service {self.name!r} failed to deploy: {self._reason()}")
            if time.monotonic() > deadline:
                raise WebserviceException(
                    f"web service {self.name!r} not ready after {timeout_sec or DEPLOY_TIMEOUT:.0f}s: {self._reason()}"
                )
            time.sleep(1.0)

    def _reason(self) -> str:
        st = self._obj.get("status") or {}
        bad = [c for c in st.get("conditions") or [] if c.get("status") != "True"]
        return "; ".join(f"{c['reason']}: {c['message']}" for c in bad) or st.get("message") or st.get("phase") or "?"

    # -- using it --------------------------------------------------------------------------------

    def run(self, input_data):
        """POST `input_data` (a JSON string such as '{"data": [[...]]}', as in Azure) to the
        service's /score; returns the decoded JSON answer (the predictions)."""
        if isinstance(input_data, (str, bytes)):
            try:
                body = json.loads(input_data)
            except ValueError as exc:
                raise WebserviceException(
                    f"input_data is not valid JSON ({exc}): pass a JSON string such as '{{\"data\": [[...]]}}'"
                ) from None
        else:
            body = input_data
        where = service_of(self.scoring_uri)
        if where is None:
            raise WebserviceException(
                f"web service {self.name!r} has no endpoint yet (state {self.state}): wait_for_deployment() first"
            )
        svc, ns, path = where
        status, data = self.workspace._kube.service_proxy(ns, svc, SERVICE_PORT, path or "score", body)
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        if status != 200:
            raise WebserviceException(f"web service {self.name!r} answered {status}: {text.strip()[:300]}")
        try:
            return json.loads(text)
        except ValueError:
            return text

    def get_logs(self, num_lines: int = 5000, init=False) -> str:
        ws = self.workspace
        pods = ws._kube.pods(ws.namespace, f"{LABEL_MODEL}={self._obj['metadata']['name']}")
        chunks = []
        for pod in pods:
            try:
                text = ws._kube.pod_log(ws.namespace, pod["metadata"]["name"], tail=num_lines)
            except Exception as exc:
                text = f"(log not available: {type(exc).__name__})"
            chunks.append(f"==> {pod['metadata']['name']} <==\n{text}")
        return "\n".join(chunks) or "(no server pods)"

    def delete(self) -> None:
        """Stop serving (the model and its versions stay registered)."""
        ws = self.workspace
        patch = {"metadata": {"annotations": {WEBSERVICE_ANNOTATION: None}}, "spec": {"deployment": None}}
        ws._kube.patch(REGISTERED_MODEL, ws.namespace, self._obj["metadata"]["name"], patch, exc=WebserviceException)

    def update(self, *args, **kwargs) -> None:
        raise WebserviceException("Webservice.update is not supported yet: register a new model version instead")
