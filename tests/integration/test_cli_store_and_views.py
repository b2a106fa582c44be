"""The CLI against the real API server and MinIO (issue 19): `submit` refuses a store the operator
does not read (what the chart publishes, rendered by `helm template`); `runs` filters on
spec.experiment and phase and sorts by a metric; `wait --timeout` says where the run is; `logs` of
a run that failed at staging; `download` warns once when scikit-learn differs from the run's."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import wait_for, wait_for_phase
from tests.integration.test_cli_runs import cli, cpu_cluster
from trainyard.local import chart
from trainyard.local.build import binary_path


def _minio():
    from trainyard.storage.config import StoreConfig

    cfg = StoreConfig.from_env()
    return cfg, cfg.client()


@pytest.fixture
def chart_store(kubectl, local_cluster):
    """What the chart renders to publish its store (store-info.yaml), applied to the API server,
    and the operator pod's `bucket` init container as rendered; removed afterwards."""
    proc = subprocess.run(
        [
            str(binary_path("helm")),
            "template",
            "trainyard",
            str(chart.CHART),
            "-n",
            "trainyard",
            "--show-only",
            "templates/store-info.yaml",
            "--show-only",
            "templates/operator.yaml",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    published = [d for d in docs if d["kind"] != "Deployment"]
    init = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["initContainers"][0]
    kubectl.apply(published)
    cfg, client = _minio()
    try:
        yield next(d for d in docs if d["kind"] == "ConfigMap")["data"], init
    finally:
        kubectl.run("delete", "-f", "-", input=yaml.safe_dump_all(published), check=False)
        from trainyard.storage import identity

        client.remove_object(cfg.bucket, identity.STORE_ID_KEY)


def _src(tmp_path, text="print('hello from the run')\n"):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    (src / "t.py").write_text(text)
    return src


def test_submit_refuses_a_store_the_operator_does_not_read(kubectl, namespace, chart_store, tmp_path):
    from trainyard.storage import snapshot

    published, init = chart_store
    cpu_cluster(kubectl, namespace)
    src = _src(tmp_path)
    submit = ("submit", str(src), "--script", "t.py", "--compute", "cpu", "-n", namespace)
    # This MinIO (the local cluster's own, as objectstore.env points at) is not the chart's.
    refused = cli(*submit, check=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith(
        f"trainyard: error: the object store at {os.environ['TRAINYARD_S3_ENDPOINT']} (bucket trainyard) is not "
        "the one the operator reads, http://trainyard-minio.trainyard.svc:9000 (bucket trainyard, published in "
        "ConfigMap kube-public/trainyard-store)"
    )
    assert "`kubectl -n trainyard port-forward svc/trainyard-minio 9000:9000`" in refused.stderr
    assert kubectl.json("get", "tr", "-n", namespace)["items"] == []
    cfg, client = _minio()
    snap = snapshot.make(src, tmp_path)
    assert not [o for o in client.list_objects(cfg.bucket, prefix=snap.key)], "nothing is uploaded when refused"

    # The operator pod's init container, exactly as the chart renders it, run against this store:
    # from then on this is the operator's store, and submit goes ahead without a warning.
    env = {e["name"]: e["value"] for e in init["env"] if "value" in e and not e["name"].startswith("TRAINYARD_S3_")}
    assert env["TRAINYARD_STORE_ID"] == published["storeId"]
    marked = subprocess.run(
        [sys.executable, *init["command"][1:]], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert marked.returncode == 0, marked.stderr
    accepted = cli(*submit)
    assert "warning" not in accepted.stderr and f"snapshot s3://trainyard/{snap.key}" in accepted.stderr
    assert [r["metadata"]["name"] for r in kubectl.json("get", "tr", "-n", namespace)["items"]] == [
        accepted.stdout.strip()
    ]
    # Any authenticated user may read the published store, and nothing else in kube-public.
    can = kubectl.run(
        "auth", "can-i", "get", "configmap/trainyard-store", "-n", "kube-public", "--as=jane",
        "--as-group=system:authenticated", check=False,
    )  # fmt: skip
    assert can.stdout.strip() == "yes"
    cannot = kubectl.run(
        "auth", "can-i", "get", "configmap/cluster-info-other", "-n", "kube-public", "--as=jane",
        "--as-group=system:authenticated", check=False,
    )  # fmt: skip
    assert cannot.stdout.strip() == "no"


def test_submit_warns_when_no_store_is_published(kubectl, namespace, tmp_path):
    cpu_cluster(kubectl, namespace)
    proc = cli("submit", str(_src(tmp_path)), "--script", "t.py", "--compute", "cpu", "-n", namespace)
    warnings = [line for line in proc.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "trainyard: warning: cannot tell whether the operator reads the object store at "
        f"{os.environ['TRAINYARD_S3_ENDPOINT']}: there is no ConfigMap kube-public/trainyard-store "
        "(the Helm chart publishes it)"
    ]


def _gitops_run(name: str, experiment: str) -> dict:
    """A run as `kubectl apply` makes it: no experiment label, only spec.experiment."""
    return {
        "apiVersion": "trainyard.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": name},
        "spec": {
            "experiment": experiment,
            "compute": "cpu",
            "source": {"configMap": {"name": "code"}},
            "entryScript": "train.py",
        },
    }


def _set_status(kubectl, namespace: str, name: str, status: dict) -> None:
    kubectl.run(
        "patch", "tr", name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}),
    )  # fmt: skip


def test_runs_filters_on_spec_experiment_and_phase_and_sorts_by_a_metric(kubectl, namespace):
    results = {"sweep-1": ("Completed", 0.91), "sweep-2": ("Completed", 0.97), "sweep-3": ("Failed", 0.99)}
    kubectl.apply([_gitops_run(n, "sweep") for n in results] + [_gitops_run("other-1", "other")], namespace)
    for name, (phase, acc) in results.items():
        _set_status(kubectl, namespace, name, {"phase": phase, "metrics": {"accuracy": acc}})
    _set_status(kubectl, namespace, "other-1", {"phase": "Completed", "metrics": {"accuracy": 1.0}})
    assert kubectl.json("get", "tr", "sweep-1", "-n", namespace)["metadata"].get("labels") is None

    out = cli("runs", "--experiment", "sweep", "--phase", "Completed", "--sort", "-accuracy", "-n", namespace).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("sweep-2", "Completed", "accuracy=0.97"),
        ("sweep-1", "Completed", "accuracy=0.91"),
    ]
    ascending = cli("runs", "--experiment", "sweep", "--sort", "accuracy", "-n", namespace).stdout
    assert [line.split()[0] for line in ascending.splitlines()[1:]] == ["sweep-1", "sweep-2", "sweep-3"]
    typo = cli("runs", "--sort", "-acuracy", "-n", namespace, check=False)
    assert typo.returncode == 1 and typo.stderr == (
        "trainyard: error: no run has a metric 'acuracy' to sort by (metrics: accuracy); or sort by name or age\n"
    )


def test_wait_timeout_names_the_phase_and_why(kubectl, namespace):
    kubectl.apply(_gitops_run("stuck", "e"), namespace)
    _set_status(
        kubectl,
        namespace,
        "stuck",
        {
            "phase": "Queued",
            "conditions": [
                {
                    "type": "Queued",
                    "status": "True",
                    "reason": "WaitingForCapacity",
                    "message": "needs 64 CPU; the largest node has 2",
                    "lastTransitionTime": "2026-12-01T10:00:00Z",
                }
            ],
        },
    )
    waited = cli("wait", "stuck", "--timeout", "2", "-n", namespace, check=False)
    assert waited.returncode == 3
    assert waited.stderr.splitlines()[-1] == (
        "trainyard: error: run stuck did not end in 2s; it is Queued (WaitingForCapacity: needs 64 CPU; the largest "
        "node has 2)"
    )


def test_logs_of_a_run_that_failed_at_staging(kubectl, namespace, operator, process_kubelet):
    cpu_cluster(kubectl, namespace)
    missing = "s3://trainyard/snapshots/" + "0" * 64 + ".tar.gz"
    run = _gitops_run("bad-snapshot", "e")
    run["spec"]["source"] = {"snapshot": missing}
    kubectl.apply(run, namespace)
    st = wait_for_phase(kubectl, "bad-snapshot", namespace, "Failed", timeout=120)
    assert "does not exist" in st["message"]
    # The pod is there; this tier's nodes serve no logs, so the one line says why and what the run says.
    pods = kubectl.json("get", "pods", "-n", namespace, "-l", "trainyard.dev/run=bad-snapshot")["items"]
    assert pods
    shown = cli("logs", "bad-snapshot", "-n", namespace, check=False)
    err = shown.stderr.strip().splitlines()
    assert shown.returncode == 1 and len(err) == 2, shown.stderr  # the note, then the one error line
    assert err[0].startswith("trainyard: the script never started: staging failed (exit code 1)")
    assert err[1].startswith(f"trainyard: error: cannot read container 'stage' of pod {namespace}/")
    assert "the run is Failed (DataStagingFailed: " in err[1] and "does not exist" in err[1]
    # Once the pod is gone: the store has no log either, and the line says so.
    kubectl.run("delete", "pods", "-n", namespace, "-l", "trainyard.dev/run=bad-snapshot", "--wait=true")
    wait_for(
        lambda: not kubectl.json("get", "pods", "-n", namespace, "-l", "trainyard.dev/run=bad-snapshot")["items"],
        what="the run's pod to go",
    )
    gone = cli("logs", "bad-snapshot", "-n", namespace, check=False)
    assert gone.returncode == 1 and len(gone.stderr.strip().splitlines()) == 1
    assert gone.stderr.startswith("trainyard: error: no logs for run bad-snapshot: it is Failed (DataStagingFailed")
    uid = kubectl.json("get", "tr", "bad-snapshot", "-n", namespace)["metadata"]["uid"]
    assert f"its pod is gone and s3://trainyard/runs/{namespace}/bad-snapshot/{uid}/logs/std_log.txt does not" in (
        gone.stderr
    )
