"""Providers and queues owned by others, against their real CRDs taken from their Go modules (the
module cache, never a copy in this repository): Cluster API's MachineDeployment is scaled through
spec.replicas; with Kueue's CRDs served, runs of a cluster naming a queue become suspended Jobs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import get_status, wait_for, wait_for_phase
from tests.integration.test_compute_cluster import conditions, node_cleanup, pool_cluster, sim_run  # noqa: F401

CLUSTER_API = ("sigs.k8s.io/cluster-api", "v1.14.2", "core/config/crd/bases/cluster.x-k8s.io_machinedeployments.yaml")
KUEUE = ("sigs.k8s.io/kueue", "v0.15.2", "config/components/crd/bases")


def go_module(path: str, version: str) -> Path:
    """The module's directory in the Go module cache, downloaded once if missing."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{path}@{version}"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"},
    )
    info = json.loads(proc.stdout or "{}")
    assert proc.returncode == 0 and "Dir" in info, f"go mod download {path}@{version}: {proc.stderr or info}"
    return Path(info["Dir"])


@pytest.fixture(scope="session")
def cluster_api_crd(kubectl):
    path, version, crd = CLUSTER_API
    kubectl.run("apply", "--server-side", "-f", str(go_module(path, version) / crd))
    established(kubectl, "machinedeployments.cluster.x-k8s.io")


@pytest.fixture(scope="session")
def kueue_crds(kubectl):
    path, version, folder = KUEUE
    base = go_module(path, version) / folder
    for name in ("workloads", "localqueues", "clusterqueues", "resourceflavors"):
        kubectl.run("apply", "--server-side", "-f", str(base / f"kueue.x-k8s.io_{name}.yaml"))
    established(kubectl, "localqueues.kueue.x-k8s.io")
    from trainyard.operator.computecluster import handlers as computecluster

    computecluster.forget_discovery()


def established(kubectl, crd: str) -> None:
    """`kubectl wait` errors on a CRD that has no conditions yet; poll instead (bounded)."""
    wait_for(
        lambda: any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (kubectl.json("get", "crd", crd).get("status") or {}).get("conditions") or ()
        ),
        what=f"CRD {crd} Established",
        timeout=60,
    )


def machine_deployment(name: str, replicas: int = 0) -> dict:
    labels = {"cluster.x-k8s.io/deployment-name": name}
    return {
        "apiVersion": "cluster.x-k8s.io/v1beta2",
        "kind": "MachineDeployment",
        "metadata": {"name": name},
        "spec": {
            "clusterName": "workload-1",
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "clusterName": "workload-1",
                    "version": "v1.36.3",
                    "bootstrap": {"dataSecretName": f"{name}-bootstrap"},
                    "infrastructureRef": {
                        "apiGroup": "infrastructure.cluster.x-k8s.io",
                        "kind": "DockerMachineTemplate",
                        "name": name,
                    },
                },
            },
        },
    }


def test_cluster_api_provider_patches_replicas_and_reads_ready(kubectl, namespace, cluster_api_crd, operator):
    kubectl.apply(machine_deployment("md-0"), namespace)
    cc = pool_cluster(
        namespace, name="capi", maxNodes=4, provider={"type": "clusterAPI", "clusterAPI": {"machineDeployment": "md-0"}}
    )
    kubectl.apply([cc] + [sim_run(f"c-{i}", compute="capi") for i in range(3)], namespace)
    # 3 runs of 1 CPU on 2-CPU nodes: two machines.
    wait_for(
        lambda: kubectl.json("get", "md", "md-0", "-n", namespace)["spec"]["replicas"] == 2,
        what="MachineDeployment md-0 scaled to 2 replicas",
        timeout=30,
    )
    status = wait_for(
        lambda: (lambda s: s if s.get("desiredNodes") == s.get("currentNodes") == 2 else None)(
            get_status(kubectl, "cc", "capi", namespace)
        ),
        what="cluster status current = desired = 2",
        timeout=20,
    )
    conds = conditions(status)
    assert conds["ScalingUp"]["status"] == "True" and conds["ProviderError"]["status"] == "False"
    assert status["currentNodes"] == 2 and status["readyNodes"] == 0
    # The runs fit the machines being added, so they start at once (as with the cluster
    # autoscaler): each is admitted and has its Job, and its pod waits for a machine; the run
    # says Scaling.
    wait_for(lambda: len(kubectl.json("get", "jobs", "-n", namespace)["items"]) == 3, what="three Jobs", timeout=20)
    run = wait_for(
        lambda: (lambda s: s if s.get("jobName") and s.get("phase") == "Scaling" else None)(
            get_status(kubectl, "tr", "c-0", namespace)
        ),
        what="run c-0 waiting for a machine",
        timeout=30,
    )
    assert conditions(run)["Queued"]["reason"] == "WaitingForScaleUp" and "queuePosition" not in run
    assert conditions(run)["Admitted"]["status"] == "True" and run["admission"]["admitted"] is True
    assert get_status(kubectl, "cc", "capi", namespace)["queuedRuns"] == 0
    # Never more than asked for, however often the cluster is reconciled.
    kubectl.run("annotate", "cc", "capi", "-n", namespace, "poke=1")
    assert kubectl.json("get", "md", "md-0", "-n", namespace)["spec"]["replicas"] == 2


def test_cluster_api_provider_reports_a_missing_machine_deployment(kubectl, namespace, cluster_api_crd, operator):
    cc = pool_cluster(
        namespace, name="capi", provider={"type": "clusterAPI", "clusterAPI": {"machineDeployment": "nope"}}
    )
    kubectl.apply(cc, namespace)
    conds = wait_for(
        lambda: (lambda c: c if c.get("ProviderError", {}).get("status") == "True" else None)(
            conditions(get_status(kubectl, "cc", "capi", namespace))
        ),
        what="ProviderError",
        timeout=20,
    )
    assert f"MachineDeployment {namespace}/nope not found" in conds["ProviderError"]["message"]
    assert conds["Ready"]["status"] == "False" and conds["Ready"]["reason"] == "ProviderFailed"


def test_with_kueue_installed_runs_become_suspended_jobs_in_the_named_queue(
    kubectl, namespace, kueue_crds, operator, node_cleanup
):  # noqa: F811
    kubectl.apply([pool_cluster(namespace, name="kq", queueName="team-q"), sim_run("k-1", compute="kq")], namespace)
    job = wait_for(
        lambda: next(iter(kubectl.json("get", "jobs", "-n", namespace)["items"]), None),
        what="the run's Job",
        timeout=30,
    )
    assert job["spec"]["suspend"] is True and job["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "team-q"
    status = wait_for(
        lambda: (lambda s: s if s.get("message") == "waiting for admission by the queue" else None)(
            get_status(kubectl, "tr", "k-1", namespace)
        ),
        what="the run waiting for Kueue",
        timeout=30,
    )
    assert status["phase"] == "Queued"
    # Kueue admits by unsuspending the Job (its controller is not running here: we do what it does).
    kubectl.run("patch", "job", "k-1", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    wait_for_phase(kubectl, "k-1", namespace, "Completed", timeout=60)
