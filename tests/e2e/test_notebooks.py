"""The two tutorials as notebooks, executed end to end with nbclient on the real node (after
`helm install`), and the MNIST tutorial's code as a plain `python` program: each in its own
namespace, with a workspace config file pointing at the real cluster and the chart's MinIO.

Asserted from the cells' outputs: the metric keys `regularization rate` and `accuracy`,
`outputs/sklearn_mnist_model.pkl` in get_file_names(), model version 1, the 30-image grid, the
RunDetails widget, and `service.run(...)` answering what the registered model's own `predict` says.

Run alone (root, a machine with the node prerequisites, ~15 min):

    /work/venv-NAME/bin/python -m pytest -q tests/e2e/test_notebooks.py -p no:cacheprovider
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.e2e import copy_store_secret, local_predict

REPO = Path(__file__).resolve().parents[2]
IRIS, MNIST = REPO / "examples" / "sklearn-iris", REPO / "examples" / "sklearn-mnist"
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"
STORE = "http://trainyard-minio.trainyard.svc:9000"
CELL_TIMEOUT = 1200  # a cold node cache on a busy 2-core machine


@pytest.fixture(scope="module")
def store_forward(trainyard_release):
    """The chart's MinIO on 127.0.0.1 (as from a laptop) and its credentials."""
    from trainyard.local.chart import PortForward

    access, secret = trainyard_release.store_credentials()
    with PortForward(trainyard_release.kubectl_cmd(), "trainyard", "svc/trainyard-minio", 9000) as pf:
        yield pf.url, access, secret


def _workspace(real_cluster, real_kubectl, store_forward, folder: Path, namespace: str, tmp_path: Path) -> None:
    """A namespace with the chart's cpu-cluster, and .trainyard/config.json above `folder`."""
    real_kubectl.run("create", "namespace", namespace)
    real_kubectl.run("apply", "-n", namespace, "-f", str(MNIST / "computecluster.yaml"))
    url, access, secret = store_forward
    cfg = {
        "workspace_name": namespace,
        "namespace": namespace,
        "kubeconfig": str(real_cluster.state().kubeconfig),
        "store": {"endpoint": url, "access_key": access, "secret_key": secret, "bucket": "trainyard"},
        "compute": {
            "default": "cpu-cluster",
            "provider": "static",
            "vm_sizes": {"STANDARD_D2_V2": {"trainyard.dev/pool": "default"}},
        },
    }
    (tmp_path / ".trainyard").mkdir(exist_ok=True)
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps(cfg))


@pytest.fixture
def kernel_env(monkeypatch):
    """What the notebook's kernel inherits: the offline MNIST copy, no store settings of ours."""
    for k in [k for k in os.environ if k.startswith("TRAINYARD_S3_")]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("TRAINYARD_MNIST_OFFLINE", "1")
    if SHARED_MNIST.is_dir():
        monkeypatch.setenv("TRAINYARD_MNIST_DIR", str(SHARED_MNIST))


def execute(path: Path) -> list[dict]:
    """Run every cell (stopping at the first error, with its traceback in the failure); returns
    the executed cells."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name}: a cell failed:\n{exc}")
    nbformat.write(nb, path)  # kept for a look after a failure
    return [c for c in nb.cells if c.cell_type == "code"]


def text_of(cell: dict) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append(o.get("text", ""))
        elif "data" in o and "text/plain" in o["data"]:
            out.append(o["data"]["text/plain"] + "\n")  # a value's repr has no newline of its own
    return "".join(out)


def cell_with(cells: list[dict], source: str) -> dict:
    return next(c for c in cells if source in c.source)


def test_iris_notebook_trains_registers_deploys_and_serves_the_models_own_predictions(
    real_cluster, real_kubectl, trainyard_release, store_forward, kernel_env, tmp_path
):
    ns = "e2e-nb-iris"
    work = tmp_path / "sklearn-iris"
    shutil.copytree(IRIS, work)
    _workspace(real_cluster, real_kubectl, store_forward, work, ns, tmp_path)
    try:
        cells = execute(work / "train-sklearn.ipynb")
        streamed = text_of(cell_with(cells, "run.wait_for_completion(show_output=True)"))
        assert "Accuracy of SVM classifier on test set" in streamed and "Status: Completed" in streamed
        served_line = [line for line in text_of(cells[-1]).splitlines() if line.startswith("predictions:")]
        served = json.loads(served_line[0].removeprefix("predictions:"))
        model = real_kubectl.json("get", "registeredmodel", "sklearn-iris", "-n", ns)
        assert model["status"]["version"] == 1 and model["spec"]["resources"] == {"cpu": "1", "memory": "512Mi"}
        from sklearn import datasets

        rows = datasets.load_iris().data[::15].tolist()
        img = trainyard_release.values["runtime"]["image"]
        secret = copy_store_secret(real_kubectl, "trainyard", ns)
        local = local_predict(
            real_kubectl,
            ns,
            f"{img['repository']}:{img['tag']}",
            model["status"]["uri"],
            rows,
            secret=secret,
            store_endpoint=STORE,
        )
        assert served == local and len(served) == len(rows) == 10
    finally:
        real_kubectl.run("delete", "namespace", ns, "--wait=true", "--timeout=180s", check=False)


def _check_mnist_outputs(text: str) -> None:
    metrics = ast.literal_eval(next(line for line in text.splitlines() if line.startswith("{'regularization rate'")))
    assert set(metrics) == {"regularization rate", "accuracy"} and metrics["regularization rate"] == 0.8
    assert metrics["accuracy"] >= (0.88 if SHARED_MNIST.is_dir() else 0.9)
    files = ast.literal_eval(next(line for line in text.splitlines() if line.startswith("['")))
    assert "outputs/sklearn_mnist_model.pkl" in files
    assert "sklearn_mnist\tsklearn_mnist:1\t1" in text


def test_mnist_notebook_end_to_end(real_cluster, real_kubectl, trainyard_release, store_forward, kernel_env, tmp_path):
    ns = "e2e-nb-mnist"
    work = tmp_path / "sklearn-mnist"
    shutil.copytree(MNIST, work)
    _workspace(real_cluster, real_kubectl, store_forward, work, ns, tmp_path)
    try:
        cells = execute(work / "img-classification-part1-training.ipynb")
        grid = cell_with(cells, "plt.imshow")
        assert any("image/png" in o.get("data", {}) for o in grid.outputs), "the 30-image grid"
        widget = cell_with(cells, "RunDetails(run).show()")
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in widget.outputs)
        assert "creating a new compute target" in text_of(cell_with(cells, "batchai_cluster_name ="))
        _check_mnist_outputs("\n".join(text_of(c) for c in cells))
    finally:
        real_kubectl.run("delete", "namespace", ns, "--wait=true", "--timeout=180s", check=False)


def test_mnist_tutorial_as_a_plain_python_program(
    real_cluster, real_kubectl, trainyard_release, store_forward, kernel_env, tmp_path
):
    ns = "e2e-py-mnist"
    work = tmp_path / "sklearn-mnist"
    shutil.copytree(MNIST, work)
    _workspace(real_cluster, real_kubectl, store_forward, work, ns, tmp_path)
    try:
        proc = subprocess.run(
            [sys.executable, "img_classification_part1_training.py"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=CELL_TIMEOUT * 2,
            env=os.environ,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        _check_mnist_outputs(proc.stdout)
        assert (work / "sample-images.png").stat().st_size > 1000
    finally:
        real_kubectl.run("delete", "namespace", ns, "--wait=true", "--timeout=180s", check=False)
