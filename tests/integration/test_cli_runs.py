"""The CLI workflow of the tutorial against the real API server and MinIO: submit a directory
(content-addressed snapshot, reused when unchanged), wait, metrics, files, download, logs, runs —
and live metrics visible while the script is still running, through the pod's own identity."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO, get_status, wait_for, wait_for_phase
from tests.integration.test_mnist_example import EXAMPLE, mnist_uploaded  # noqa: F401  (fixture)


def cli(*args: str, env: dict | None = None, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "trainyard.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        cwd=REPO.parent,
    )
    if check:
        assert proc.returncode == 0, f"trainyard {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def cpu_cluster(kubectl, namespace: str) -> None:
    kubectl.apply(
        {
            "apiVersion": "trainyard.dev/v1alpha1",
            "kind": "ComputeCluster",
            "metadata": {"name": "cpu"},
            "spec": {"maxNodes": 1, "nodeSelector": {"trainyard.dev/pool": "default"}, "provider": {"type": "static"}},
        },
        namespace,
    )


def test_submit_wait_metrics_files_download_logs(
    kubectl, namespace, operator, process_kubelet, mnist_uploaded, tmp_path
):
    cpu_cluster(kubectl, namespace)
    submit = [
        "submit",
        str(EXAMPLE),
        "--script",
        "train.py",
        "--compute",
        "cpu",
        "--experiment",
        "sklearn-mnist",
        "--input",
        "mnist=s3://trainyard/datasets/mnist/",
        "--primary-metric",
        "accuracy",
        "-n",
        namespace,
        "--",
        "--data-folder",
        "$(TRAINYARD_INPUT_MNIST)",
        "--regularization",
        "0.8",
    ]
    first = cli(*submit)
    run = first.stdout.strip()
    assert run.startswith("sklearn-mnist-") and "snapshot s3://trainyard/snapshots/" in first.stderr

    waited = cli("wait", run, "-n", namespace, check=False)
    assert waited.returncode == 0, waited.stderr
    assert "Completed" in waited.stderr

    metrics = cli("metrics", run, "-n", namespace).stdout
    assert "regularization rate  0.8" in metrics and "accuracy" in metrics
    history = cli("metrics", run, "-n", namespace, "--history").stdout
    assert "accuracy" in history
    files = cli("files", run, "-n", namespace).stdout
    assert "outputs/sklearn_mnist_model.pkl" in files
    out = tmp_path / "dl"
    downloaded = cli("download", run, "outputs/", "-n", namespace, "-o", str(out))
    assert (out / "outputs" / "sklearn_mnist_model.pkl").stat().st_size > 1000
    assert "warning" not in downloaded.stderr  # this tier's pods run the test's own Python
    _download_warns_once_when_scikit_learn_differs(kubectl, namespace, run, tmp_path)
    # This tier's nodes serve no container logs: one line says so and names the uploaded copy
    # (issue 14: it used to fall back to the store silently).
    direct = cli("logs", run, "-n", namespace, check=False)
    assert direct.returncode == 1 and len(direct.stderr.strip().splitlines()) == 1, direct.stderr
    assert direct.stderr.startswith(f"trainyard: error: cannot read container 'run' of pod {namespace}/")
    assert "the run is Completed (Completed" in direct.stderr
    assert direct.stderr.strip().endswith(f"its uploaded copy: `trainyard logs {run} --from-store`")
    logs = cli("logs", run, "-n", namespace, "--from-store").stdout
    assert "Accuracy is" in logs
    listed = cli("runs", "--experiment", "sklearn-mnist", "-n", namespace).stdout
    assert run in listed and "Completed" in listed and "accuracy=" in listed

    # The same directory again: the snapshot is reused, not uploaded.
    second = cli(*submit[:-5], "--", "--data-folder", "$(TRAINYARD_INPUT_MNIST)", "--regularization", "0.5")
    assert "unchanged, reused" in second.stderr

    def snap(r):
        return kubectl.json("get", "tr", r, "-n", namespace)["spec"]["source"]["snapshot"]

    assert snap(second.stdout.strip()) == snap(run)
    cli("wait", second.stdout.strip(), "-n", namespace)


def _download_warns_once_when_scikit_learn_differs(kubectl, namespace: str, run: str, tmp_path) -> None:
    """The run's manifest records the scikit-learn its script ran with; `download` compares it."""
    import io
    import json

    import sklearn

    from trainyard.storage import layout
    from trainyard.storage.config import StoreConfig

    cfg = StoreConfig.from_env()
    client = cfg.client()
    uid = kubectl.json("get", "tr", run, "-n", namespace)["metadata"]["uid"]
    key = layout.run_manifest_key(namespace, run, uid)
    manifest = json.loads(client.get_object(cfg.bucket, key).read())
    assert manifest["environment"]["packages"]["scikit-learn"] == sklearn.__version__
    manifest["environment"]["packages"]["scikit-learn"] = "1.0.2"  # as if trained by another image
    data = json.dumps(manifest).encode()
    client.put_object(cfg.bucket, key, io.BytesIO(data), len(data))
    again = cli("download", run, "outputs/", "-n", namespace, "-o", str(tmp_path / "dl2"))
    assert again.stderr.splitlines() == [
        f"trainyard: warning: run {run} used scikit-learn 1.0.2, this Python has {sklearn.__version__}: its pickled "
        "models may warn InconsistentVersionWarning or misbehave here; match it with "
        "`pip install scikit-learn==1.0.2`"
    ]


def test_wait_exit_status_is_the_runs_result(kubectl, namespace, operator, process_kubelet, tmp_path):
    cpu_cluster(kubectl, namespace)
    (tmp_path / "fail.py").write_text("raise SystemExit(4)\n")
    run = cli("submit", str(tmp_path), "--script", "fail.py", "--compute", "cpu", "-n", namespace).stdout.strip()
    waited = cli("wait", run, "-n", namespace, check=False)
    assert waited.returncode == 1 and "Failed" in waited.stderr and "exited with code 4" in waited.stderr


def test_live_metrics_show_while_the_script_runs(kubectl, namespace, operator, process_kubelet, tmp_path):
    cpu_cluster(kubectl, namespace)
    flag = tmp_path / "finish"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "live.py").write_text(
        textwrap.dedent("""
        import os, sys, time
        from trainyard import Run
        run = Run.get_context()
        run.log("accuracy", 0.42)
        deadline = time.monotonic() + 120
        while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        run.log("accuracy", 0.84)
    """)
    )
    run = cli(
        "submit",
        str(tmp_path / "src"),
        "--script",
        "live.py",
        "--compute",
        "cpu",
        "-n",
        namespace,
        "--primary-metric",
        "accuracy",
        "--",
        str(flag),
    ).stdout.strip()
    wait_for_phase(kubectl, run, namespace, "Running", timeout=120)
    seen = wait_for(
        lambda: (lambda s: s if (s.get("metrics") or {}).get("accuracy") == 0.42 else None)(
            get_status(kubectl, "tr", run, namespace)
        ),
        what="the live metric in status",
        timeout=30,
    )
    assert seen["phase"] == "Running", "the metric must be visible while the script still runs"
    assert "accuracy=0.42" in kubectl.run("get", "tr", run, "-n", namespace).stdout
    flag.write_text("")
    done = wait_for_phase(kubectl, run, namespace, "Completed", timeout=120)
    assert done["metrics"]["accuracy"] == 0.84


def test_one_line_errors(kubectl, namespace, local_cluster, tmp_path):
    missing = cli("wait", "no-such-run", "-n", namespace, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"trainyard: error: no TrainingRun 'no-such-run' in namespace '{namespace}' (list them with `trainyard runs`)"
    )
    nocluster = cli("runs", env={"KUBECONFIG": str(tmp_path / "absent")}, check=False)
    assert nocluster.returncode == 1 and len(nocluster.stderr.strip().splitlines()) == 1
    assert "no cluster configured" in nocluster.stderr
    cpu_cluster(kubectl, namespace)
    (tmp_path / "t.py").write_text("print(1)\n")
    nostore = cli(
        "submit",
        str(tmp_path),
        "--script",
        "t.py",
        "--compute",
        "cpu",
        "-n",
        namespace,
        env={"TRAINYARD_S3_ENDPOINT": "http://127.0.0.1:9"},
        check=False,
    )
    assert nostore.returncode == 1 and len(nostore.stderr.strip().splitlines()) == 1
    assert "object store unreachable at http://127.0.0.1:9" in nostore.stderr
