"""examples/sklearn-mnist/README.md run literally on the real node, against the chart's store.

Every ```sh block of the README, in order, command by command, in one bash, as a user types them:
forward the chart's MinIO and take its Secret's keys, upload the data, train locally, then
`trainyard submit` a snapshot of the directory, `wait`, `logs`, `metrics`, `files`, `download`,
`kubectl get tr`, `runs --sort`, `register`, `models`. The only things the test adds are what a
user does without typing a README line: a kubeconfig whose namespace is this test's, a copy of the
example directory to work in, waiting for the port-forward to listen before typing the next
line, and a marker after each command so each output can be checked (issue 19: the snapshot path
failed on every run in the image's Python 3.11.2 while all tiers passed).

Then, on the same cluster: `trainyard logs` of a run that failed at staging shows the staging
container's output, and `submit` against the local cluster's own MinIO is refused.

Run alone (as root, one real node per machine): scripts/test -m e2e tests/e2e/test_mnist_walkthrough.py
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.e2e import wait_phase
from tests.support.walkthrough import readme_commands, script, shown, split_outputs
from trainyard.local.images import SKLEARN_VERSION

REPO = Path(__file__).resolve().parents[2]
MNIST = REPO / "examples" / "sklearn-mnist"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
NS = "e2e-walkthrough"
WALKTHROUGH_TIMEOUT = 2400  # upload, a local fit, a cold node cache, the run, the registration


@pytest.fixture(scope="module")
def release(trainyard_release):
    """The chart as a user has it (installed again if test_chart_tutorials uninstalled it)."""
    trainyard_release.install(trainyard_release.values, timeout_s=600)
    trainyard_release.wait_operator_ready()
    return trainyard_release


@pytest.fixture(scope="module")
def user(real_cluster, real_kubectl, release, tmp_path_factory):
    """A user's shell environment: the kubeconfig (its namespace this test's), PATH with this
    venv's `python`/`trainyard` and the cluster's `kubectl`, no TRAINYARD_S3_* yet; and a copy of
    the example directory to work in."""
    real_kubectl.run("create", "namespace", NS, check=False)  # left over if a session was killed
    real_kubectl.run("get", "namespace", NS)
    home = tmp_path_factory.mktemp("walkthrough")
    st = real_cluster.state()
    kubeconfig = yaml.safe_load(Path(st.kubeconfig).read_text())
    for ctx in kubeconfig["contexts"]:
        ctx["context"]["namespace"] = NS
    (home / "kubeconfig").write_text(yaml.safe_dump(kubeconfig))
    work = home / "sklearn-mnist"
    shutil.copytree(MNIST, work, ignore=shutil.ignore_patterns("data", "outputs", "logs", ".trainyard", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAINYARD_S3_")}
    env.update(
        KUBECONFIG=str(home / "kubeconfig"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), str(Path(st.binaries["kubectl"]).parent), env["PATH"]]),
    )
    if SHARED_MNIST.is_dir():  # where upload_data.py looks from a checkout (../shared beside the repo)
        env["TRAINYARD_MNIST_DIR"] = str(SHARED_MNIST)
    try:
        yield env, work
    finally:
        real_kubectl.run("delete", "namespace", NS, "--wait=true", "--timeout=180s", check=False)


@pytest.mark.timeout(WALKTHROUGH_TIMEOUT + 120)
def test_the_mnist_readme_runs_as_written(real_kubectl, user, tmp_path):
    env, work = user
    commands = readme_commands((MNIST / "README.md").read_text())
    assert any(c.startswith("RUN=$(trainyard submit . ") for c in commands), commands
    # Files, not pipes: the port-forward the README leaves running keeps inherited pipes open.
    with open(tmp_path / "stdout", "w") as out_fh, open(tmp_path / "stderr", "w") as err_fh:
        proc = subprocess.Popen(
            ["bash", "-c", script(commands, show=("RUN",))],
            cwd=work,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out_fh,
            stderr=err_fh,
            start_new_session=True,  # its own process group, with the port-forward it starts
        )
        try:
            proc.wait(timeout=WALKTHROUGH_TIMEOUT)
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # what the README left running in the background
            except ProcessLookupError:
                pass
            proc.wait()
    stdout, stderr = (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text()
    out, err = split_outputs(stdout), split_outputs(stderr)
    done = len(out)
    assert proc.returncode == 0 and done == len(commands), (
        f"README command {done} failed (exit {proc.returncode}): {commands[min(done, len(commands) - 1)]}\n"
        f"stdout:\n{stdout[-4000:]}\nstderr:\n{stderr[-6000:]}"
    )
    run = shown(stdout, "RUN")

    def output(prefix: str) -> tuple[str, str]:
        i = next(i for i, c in enumerate(commands) if c.startswith(prefix))
        return out[i], err[i]

    def said(text: str) -> list[str]:  # trainyard's own lines (the port-forward may log too)
        return [line for line in text.splitlines() if line.startswith(("trainyard: error", "trainyard: warning"))]

    assert "Accuracy is" in output("python train.py")[0]  # the local run
    _, submitted = output("RUN=$(trainyard submit")
    assert run.startswith("sklearn-mnist-") and "snapshot s3://trainyard/snapshots/" in submitted
    assert said(submitted) == [], submitted  # the store the operator reads: no refusal, no warning
    assert f"{run}: Completed" in output("trainyard wait $RUN")[1]
    assert "Accuracy is" in output("trainyard logs $RUN")[0]  # through the kubelet, not the store copy
    metrics = output("trainyard metrics $RUN")[0]
    assert "regularization rate  0.8" in metrics and re.search(r"^accuracy\s+0\.\d+", metrics, re.M), metrics
    assert "outputs/sklearn_mnist_model.pkl" in output("trainyard files $RUN")[0]
    downloaded, warned = output("trainyard download $RUN outputs/")
    assert "downloaded" in downloaded and (work / run / "outputs" / "sklearn_mnist_model.pkl").stat().st_size > 1000
    import sklearn

    if sklearn.__version__ == SKLEARN_VERSION:
        assert said(warned) == []
    else:
        assert said(warned) == [
            f"trainyard: warning: run {run} used scikit-learn {SKLEARN_VERSION}, this Python has "
            f"{sklearn.__version__}: its pickled models may warn InconsistentVersionWarning or misbehave here; "
            f"match it with `pip install scikit-learn=={SKLEARN_VERSION}`"
        ]
    listed = output("kubectl get tr")[0]
    assert run in listed and "Completed" in listed and "accuracy=" in listed, listed
    best = output("trainyard runs --experiment sklearn-mnist")[0].splitlines()
    assert best[1].split()[0] == run and best[1].split()[3] == "Completed", best
    assert said(output("trainyard register $RUN")[1]) == []
    assert "sklearn-mnist" in output("trainyard models sklearn-mnist")[0]
    model = json.loads(real_kubectl.run("get", "rm", "sklearn-mnist", "-n", NS, "-o", "json").stdout)
    assert model["status"]["version"] == 1, model["status"]
    assert model["status"]["versions"][0].get("frameworkVersion") == SKLEARN_VERSION, model["status"]
    # The run staged its code from the snapshot, in the image's Python 3.11.2 (issue 19's blocker).
    spec = json.loads(real_kubectl.run("get", "tr", run, "-n", NS, "-o", "json").stdout)["spec"]
    assert spec["source"]["snapshot"].startswith("s3://trainyard/snapshots/")


def _trainyard(env, work, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["trainyard", *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.timeout(600)
def test_logs_of_a_run_that_failed_at_staging_show_the_staging_output(real_kubectl, user):
    env, work = user
    real_kubectl.run("apply", "-n", NS, "-f", str(MNIST / "computecluster.yaml"))  # as the README does
    missing = "s3://trainyard/snapshots/" + "0" * 64 + ".tar.gz"
    run = {
        "apiVersion": "trainyard.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "missing-snapshot"},
        "spec": {"compute": "cpu-cluster", "source": {"snapshot": missing}, "entryScript": "train.py"},
    }
    real_kubectl.apply(run, NS)
    wait_phase(real_kubectl, "trainingrun", "missing-snapshot", NS, "Failed", timeout=300, fail=())
    logs = _trainyard(env, work, "logs", "missing-snapshot")
    assert logs.returncode == 0, logs.stderr
    assert logs.stderr.startswith("trainyard: the script never started: staging failed (exit code 1)")
    assert "staging failed" in logs.stdout and "does not exist" in logs.stdout and missing in logs.stdout


@pytest.mark.timeout(300)
def test_submit_refuses_the_local_clusters_own_store(real_cluster, user):
    """objectstore.env beside `trainyard local kubeconfig` is the local cluster's MinIO, not the
    chart's: submit says which store the operator reads and how to reach it, and uploads nothing."""
    env, work = user
    real_cluster_kubectl = real_cluster.state().binaries["kubectl"]
    subprocess.run([real_cluster_kubectl, "apply", "-f", "computecluster.yaml"], cwd=work, env=env, check=True)
    own = {**env, **{k: v for k, v in real_cluster.state().env().items() if k.startswith("TRAINYARD_S3_")}}
    refused = subprocess.run(
        ["trainyard", "submit", ".", "--script", "train.py", "--compute", "cpu-cluster"],
        cwd=work,
        env=own,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "is not the one the operator reads, http://trainyard-minio.trainyard.svc:9000" in refused.stderr
    assert "`kubectl -n trainyard port-forward svc/trainyard-minio 9000:9000`" in refused.stderr


@pytest.mark.timeout(120)
def test_local_status_sees_the_real_nodes_api_server_and_kubelet_serving(real_cluster):
    """They bind the node's address, not 127.0.0.1 (issue 19 item 9)."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "trainyard"), "local", "--dir", str(real_cluster.dir), "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert {"apiserver", "kubelet"} <= set(rows), proc.stdout + proc.stderr
    for name in ("apiserver", "kubelet", "etcd"):
        assert rows[name].endswith("  running"), proc.stdout
