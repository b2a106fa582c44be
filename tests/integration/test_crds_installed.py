"""Every CRD installs and is served; `kubectl get trainyard` shows the printer columns."""

from __future__ import annotations

from tests.integration.test_crd_validation import compute_cluster, registered_model, training_run


def test_every_crd_is_established_with_short_names(kubectl, crds):
    assert sorted(crds) == [
        "computeclusters.trainyard.dev",
        "registeredmodels.trainyard.dev",
        "trainingruns.trainyard.dev",
    ]
    resources = kubectl.run("api-resources", "--api-group=trainyard.dev", "-o", "wide").stdout
    for plural, short, kind in [
        ("trainingruns", "tr", "TrainingRun"),
        ("computeclusters", "cc", "ComputeCluster"),
        ("registeredmodels", "rm", "RegisteredModel"),
    ]:
        line = next(ln for ln in resources.splitlines() if ln.startswith(plural + " "))
        assert f" {short} " in line and kind in line and "trainyard" in line.split()[-1], line


def test_kubectl_get_trainyard_shows_printer_columns(kubectl, namespace):
    kubectl.apply([training_run(), compute_cluster(), registered_model()], namespace)
    out = kubectl.run("get", "trainyard", "-n", namespace).stdout
    headers = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("NAME")}
    assert headers, out
    lines = [line.split() for line in out.splitlines() if line.startswith("NAME")]
    assert ["NAME", "EXPERIMENT", "COMPUTE", "PHASE", "METRIC", "AGE"] in lines, out
    assert ["NAME", "PROVIDER", "MIN", "MAX", "NODES", "BUSY", "QUEUED", "RUNNING", "AGE"] in lines, out
    assert ["NAME", "FRAMEWORK", "VERSION", "PHASE", "ENDPOINT", "AGE"] in lines, out
    run_row = next(ln for ln in out.splitlines() if "trainingrun.trainyard.dev/mnist-1" in ln).split()
    assert run_row[1:3] == ["mnist", "cpu-cluster"], run_row
