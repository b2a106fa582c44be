"""The API server itself rejects bad trainyard objects, naming the field, before any code of ours
runs: server-side dry-run of a table of bad manifests against the real kube-apiserver."""

from __future__ import annotations

import copy

import pytest

API = "trainyard.dev/v1alpha1"


def training_run(name="mnist-1", **spec) -> dict:
    base = {
        "experiment": "mnist",
        "compute": "cpu-cluster",
        "source": {"snapshot": "s3://trainyard/snapshots/ab12cd.tar.gz"},
        "entryScript": "train.py",
        "args": ["--data-folder", "$(TRAINYARD_INPUT_MNIST)", "--regularization", "0.5"],
        "inputs": [{"name": "mnist", "uri": "s3://trainyard/datasets/mnist/"}],
        "resources": {"cpu": "500m", "memory": "1Gi"},
    }
    base.update(spec)
    return {"apiVersion": API, "kind": "TrainingRun", "metadata": {"name": name}, "spec": base}


def compute_cluster(name="cpu-cluster", **spec) -> dict:
    base = {
        "instanceType": "Standard_D2_v2",
        "minNodes": 0,
        "maxNodes": 4,
        "provider": {"type": "kwok"},
        "nodeResources": {"cpu": 2, "memory": "7Gi"},
    }
    base.update(spec)
    return {"apiVersion": API, "kind": "ComputeCluster", "metadata": {"name": name}, "spec": base}


def registered_model(name="sklearn-mnist", **spec) -> dict:
    base = {
        "source": {"trainingRun": {"name": "mnist-1", "path": "outputs/sklearn_mnist_model.pkl"}},
        "framework": "ScikitLearn",
        "frameworkVersion": "1.5.2",
        "resources": {"cpu": 1, "memory": "512Mi"},
        "deployment": {"replicas": 1},
    }
    base.update(spec)
    return {"apiVersion": API, "kind": "RegisteredModel", "metadata": {"name": name}, "spec": base}


def without(obj: dict, dotted: str) -> dict:
    obj = copy.deepcopy(obj)
    *path, last = dotted.split(".")
    cur = obj
    for p in path:
        cur = cur[p]
    del cur[last]
    return obj


GOOD = [
    pytest.param(training_run(), id="trainingrun"),
    pytest.param(compute_cluster(), id="computecluster"),
    pytest.param(registered_model(), id="registeredmodel"),
    pytest.param(
        registered_model(deployment={"autoscaling": {"minReplicas": 1, "maxReplicas": 3}}),
        id="registeredmodel-autoscaling",
    ),
]

# (manifest, text the API server's message must contain: the field it names)
BAD = [
    pytest.param(
        training_run(
            sweep={
                "parameters": {"--regularization": {"choice": ["0.5", "0.8"]}},
                "primaryMetric": "accuracy",
                "goal": "maximize",
            }
        ),
        "sweeps are not implemented yet",
        id="run-sweep-not-implemented",
    ),
    pytest.param(without(training_run(), "spec.compute"), "spec.compute: Required value", id="run-missing-compute"),
    pytest.param(
        without(training_run(), "spec.entryScript"), "spec.entryScript: Required value", id="run-missing-entry-script"
    ),
    pytest.param(
        training_run(
            source={"snapshot": "s3://trainyard/snapshots/a.tar.gz", "git": {"url": "https://example.com/repo.git"}}
        ),
        "exactly one of source.snapshot, source.git, source.configMap",
        id="run-two-code-sources",
    ),
    pytest.param(
        training_run(source={}), "exactly one of source.snapshot, source.git, source.configMap", id="run-no-code-source"
    ),
    pytest.param(
        training_run(entryScript=42), 'spec.entryScript: Invalid value: "integer"', id="run-script-wrong-type"
    ),
    pytest.param(
        training_run(args="--regularization 0.5"), 'spec.args: Invalid value: "string"', id="run-args-not-a-list"
    ),
    pytest.param(training_run(maxRetries=-1), "spec.maxRetries", id="run-negative-retries"),
    pytest.param(
        training_run(inputs=[{"name": "mnist", "uri": "s3://trainyard/d/", "mode": "stream"}]),
        'spec.inputs[0].mode: Unsupported value: "stream"',
        id="run-bad-input-mode",
    ),
    pytest.param(
        training_run(inputs=[{"name": "mnist", "uri": "https://example.com/mnist"}]),
        "spec.inputs[0].uri",
        id="run-input-not-s3",
    ),
    pytest.param(
        training_run(inputs=[{"name": "a", "uri": "s3://trainyard/a/"}, {"name": "a", "uri": "s3://trainyard/b/"}]),
        "spec.inputs[1]: Duplicate value",
        id="run-duplicate-input-names",
    ),
    pytest.param(training_run(resources={"cpu": "lots"}), "spec.resources.cpu", id="run-bad-quantity"),
    pytest.param(training_run(resources={"memory": "0"}), "spec.resources.memory", id="run-zero-memory"),
    pytest.param(training_run(entryScript="../../etc/passwd"), "spec.entryScript", id="run-script-escapes"),
    pytest.param(training_run(name="Bad_Name"), "metadata.name", id="run-bad-name"),
    pytest.param(training_run(experiment="has spaces"), "spec.experiment", id="run-bad-experiment"),
    pytest.param(compute_cluster(minNodes=5, maxNodes=2), "spec.minNodes: Invalid value", id="cluster-min-above-max"),
    pytest.param(
        compute_cluster(provider={"type": "gce"}),
        'spec.provider.type: Unsupported value: "gce"',
        id="cluster-unknown-provider",
    ),
    pytest.param(
        compute_cluster(provider={"type": "clusterAPI"}),
        "spec.provider: Invalid value",
        id="cluster-capi-without-machinedeployment",
    ),
    pytest.param(
        compute_cluster(priority="cheap"), 'spec.priority: Unsupported value: "cheap"', id="cluster-bad-priority"
    ),
    pytest.param(
        without(compute_cluster(), "spec.maxNodes"), "spec.maxNodes: Required value", id="cluster-missing-max"
    ),
    pytest.param(
        registered_model(
            source={"trainingRun": {"name": "r", "path": "outputs/m.pkl"}, "uri": "s3://trainyard/models/m.pkl"}
        ),
        "exactly one of source.trainingRun, source.uri",
        id="model-two-sources",
    ),
    pytest.param(
        registered_model(framework="TensorFlow"), "spec.framework: Unsupported value", id="model-bad-framework"
    ),
    pytest.param(
        registered_model(deployment={"traffic": [{"version": 1, "percent": 70}, {"version": 2, "percent": 20}]}),
        "traffic percentages must add up to 100",
        id="model-traffic-not-100",
    ),
    pytest.param(
        registered_model(deployment={"autoscaling": {"minReplicas": 3, "maxReplicas": 1}}),
        "autoscaling.minReplicas must be <= autoscaling.maxReplicas",
        id="model-autoscaling-min-above-max",
    ),
]


@pytest.mark.parametrize("manifest", GOOD)
def test_good_manifest_is_accepted(kubectl, namespace, manifest):
    proc = kubectl.apply(manifest, namespace, "--dry-run=server", check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("manifest, field_message", BAD)
def test_bad_manifest_is_rejected_naming_the_field(kubectl, namespace, manifest, field_message):
    proc = kubectl.apply(manifest, namespace, "--dry-run=server", check=False)
    assert proc.returncode != 0, f"the API server accepted a bad {manifest['kind']}"
    assert field_message in proc.stderr, proc.stderr


def test_bad_table_is_big_enough():
    assert len(BAD) >= 15 and len(GOOD) >= 3


def test_changing_an_immutable_field_of_a_run_is_rejected(kubectl, namespace):
    kubectl.apply(training_run(), namespace)
    changed = training_run(args=["--regularization", "0.8"])
    proc = kubectl.apply(changed, namespace, "--dry-run=server", check=False)
    assert proc.returncode != 0
    assert "spec.args: Invalid value" in proc.stderr and "immutable" in proc.stderr, proc.stderr
    # Adding an optional field that was absent is a change too.
    proc = kubectl.apply(training_run(timeoutSeconds=60), namespace, "--dry-run=server", check=False)
    assert proc.returncode != 0 and "spec: Invalid value" in proc.stderr and "immutable" in proc.stderr, proc.stderr
    # ...while the fields meant to change still can.
    suspended = training_run(suspend=True, priority=5)
    proc = kubectl.apply(suspended, namespace, "--dry-run=server", check=False)
    assert proc.returncode == 0, proc.stderr


def test_defaults_are_filled_by_the_schema(kubectl, namespace):
    run = training_run()
    del run["spec"]["experiment"]
    kubectl.apply(run, namespace)
    got = kubectl.json("get", "tr", "mnist-1", "-n", namespace)["spec"]
    assert got["experiment"] == "default"
    assert got["maxRetries"] == 0 and got["suspend"] is False and got["priority"] == 0
    assert got["inputs"][0]["mode"] == "download"
    kubectl.apply(compute_cluster(), namespace)
    cc = kubectl.json("get", "cc", "cpu-cluster", "-n", namespace)["spec"]
    assert cc["idleSecondsBeforeScaleDown"] == 1800 and cc["priority"] == "dedicated" and cc["minNodes"] == 0
