"""`trainyard register` / `trainyard models` and `Run.register_model` as data: the resource they
create, what --wait reads from status, and how a model is shown."""

import pytest

from trainyard.cli import models_cmd
from trainyard.cli.kube import CliError
from trainyard.runtime import registry_client, sdk


def test_register_builds_a_model_pointing_at_the_run():
    body = models_cmd.model_body(
        "mnist",
        "team-a",
        "run-1",
        "outputs/model.pkl",
        framework_version="1.9",
        cpu="1",
        memory="512Mi",
        tags=models_cmd.parse_tags(["area=mnist"]),
    )
    assert body == {
        "apiVersion": "trainyard.dev/v1alpha1",
        "kind": "RegisteredModel",
        "metadata": {"name": "mnist", "namespace": "team-a"},
        "spec": {
            "source": {"trainingRun": {"name": "run-1", "path": "outputs/model.pkl"}},
            "framework": "ScikitLearn",
            "frameworkVersion": "1.9",
            "resources": {"cpu": "1", "memory": "512Mi"},
            "tags": {"area": "mnist"},
        },
    }
    with pytest.raises(CliError, match="KEY=VALUE"):
        models_cmd.parse_tags(["novalue"])


def model(reg_status, reason, generation=2, observed=2):
    return {
        "metadata": {"name": "mnist", "generation": generation},
        "status": {
            "version": 1,
            "phase": "Registered",
            "conditions": [
                {
                    "type": "Registered",
                    "status": reg_status,
                    "reason": reason,
                    "message": "why",
                    "observedGeneration": observed,
                }
            ],
            "versions": [
                {
                    "version": 1,
                    "uri": "s3://t/models/a/mnist/1/m.pkl",
                    "sha256": "f" * 64,
                    "framework": "ScikitLearn",
                    "frameworkVersion": "1.9.1",
                    "run": "run-1",
                    "experiment": "mnist",
                    "size": 10,
                    "registeredAt": "2026-01-01T00:00:00Z",
                    "metrics": {"accuracy": 0.92},
                }
            ],
        },
    }


def test_wait_reads_the_current_generations_outcome():
    assert models_cmd.register_outcome(model("True", "Registered"))[0] == "ok"
    assert models_cmd.register_outcome(model("True", "Registered", observed=1)) is None
    assert models_cmd.register_outcome(model("False", "SourceRunNotCompleted")) is None
    assert models_cmd.register_outcome(model("False", "PathNotInOutputs")) == ("failed", "PathNotInOutputs: why")


def test_describe_lists_versions_with_lineage():
    text = models_cmd.describe(model("True", "Registered"))
    assert text.splitlines()[0] == "mnist: Registered, version 1"
    assert "*1" in text and "run-1" in text and "accuracy=0.92" in text and "ScikitLearn 1.9.1" in text
    assert "Registered=True Registered: why" in text


def test_sdk_accepts_the_azure_ml_arguments():
    class ResourceConfiguration:
        cpu, memory_in_gb = 1, 0.5

    assert sdk._framework_name("SCIKITLEARN") == "ScikitLearn" and sdk._framework_name("onnx") == "Custom"
    body = registry_client.model_body(
        "mnist",
        "team-a",
        "run-1",
        "outputs/m.pkl",
        framework=sdk._framework_name("ScikitLearn"),
        resources=sdk._resources(ResourceConfiguration()),
    )
    assert body["spec"] == {
        "source": {"trainingRun": {"name": "run-1", "path": "outputs/m.pkl"}},
        "framework": "ScikitLearn",
        "resources": {"cpu": "1", "memory": "512Mi"},
    }
    assert registry_client.ModelRef("mnist", "team-a").id == "team-a/mnist"
