"""Both tutorial notebooks executed with nbclient against the integration tier (real API server,
MinIO, the in-process operator; runs executed by the process kubelet with this venv's Python):
every cell of the MNIST notebook, and the Iris notebook up to the deployment, whose serving needs
the real node (tests/e2e/test_notebooks.py runs it all there)."""

from __future__ import annotations

import ast
import json
import shutil

import pytest

from tests.conftest import REPO
from tests.integration.test_cli_runs import cpu_cluster

SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def _config(tmp_path, namespace: str) -> None:
    cfg = {
        "namespace": namespace,
        "compute": {
            "provider": "static",
            "vm_sizes": {"STANDARD_D2_V2": {"trainyard.dev/pool": "default"}},
            "defaultRunResources": {"cpu": "100m", "memory": "512Mi"},
        },
    }
    (tmp_path / ".trainyard").mkdir()
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps(cfg))


def _execute(nb, folder):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        pytest.fail(f"a cell failed:\n{exc}")
    return [c for c in nb.cells if c.cell_type == "code"]


def _text(cells) -> str:
    out = []
    for c in cells:
        for o in c.get("outputs", []):
            out.append(
                o.get("text", "") if o.get("output_type") == "stream" else o.get("data", {}).get("text/plain", "")
            )
    return "\n".join(out)


def test_the_mnist_notebook_runs_every_cell(kubectl, namespace, operator, process_kubelet, tmp_path, monkeypatch):
    import nbformat

    work = tmp_path / "sklearn-mnist"
    shutil.copytree(REPO / "examples" / "sklearn-mnist", work)
    _config(tmp_path, namespace)
    monkeypatch.setenv("TRAINYARD_MNIST_OFFLINE", "1")
    if SHARED_MNIST.is_dir():
        monkeypatch.setenv("TRAINYARD_MNIST_DIR", str(SHARED_MNIST))
    cells = _execute(nbformat.read(work / "img-classification-part1-training.ipynb", as_version=4), work)
    text = _text(cells)
    metrics = ast.literal_eval(next(line for line in text.splitlines() if line.startswith("{'regularization rate'")))
    assert set(metrics) == {"regularization rate", "accuracy"} and metrics["regularization rate"] == 0.8
    assert metrics["accuracy"] >= (0.85 if SHARED_MNIST.is_dir() else 0.9)
    assert "outputs/sklearn_mnist_model.pkl" in ast.literal_eval(
        next(line for line in text.splitlines() if line.startswith("['"))
    )
    assert "sklearn_mnist\tsklearn_mnist:1\t1" in text
    grid = next(c for c in cells if "plt.imshow" in c.source)
    assert any("image/png" in o.get("data", {}) for o in grid.outputs)
    widget = next(c for c in cells if "RunDetails(run).show()" in c.source)
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in widget.outputs)
    run = kubectl.json("get", "tr", "-n", namespace, "-l", "trainyard.dev/experiment=sklearn-mnist")["items"][0]
    assert run["spec"]["inputs"][0]["uri"] == "s3://trainyard/datasets/" and run["status"]["phase"] == "Completed"


def test_the_iris_notebook_up_to_the_deployment(kubectl, namespace, operator, process_kubelet, tmp_path):
    import nbformat
    import sklearn

    work = tmp_path / "sklearn-iris"
    shutil.copytree(REPO / "examples" / "sklearn-iris", work)
    _config(tmp_path, namespace)
    cpu_cluster(kubectl, namespace)  # the ScriptRunConfig names no compute: the namespace's only one
    nb = nbformat.read(work / "train-sklearn.ipynb", as_version=4)
    assert "web_service.run(" in nb.cells[-1].source
    nb.cells = nb.cells[:-1]  # serving needs a real node
    for c in nb.cells:  # the process kubelet runs scripts with this venv's scikit-learn, not the image's
        c.source = c.source.replace(
            "model_framework_version='1.7.2'", f"model_framework_version='{sklearn.__version__}'"
        )
    cells = _execute(nb, work)
    streamed = _text([next(c for c in cells if "wait_for_completion(show_output=True)" in c.source)])
    assert "Accuracy of SVM classifier on test set" in streamed and "Status: Completed" in streamed
    model = kubectl.json("get", "rm", "sklearn-iris", "-n", namespace)
    assert model["status"]["version"] == 1 and model["spec"]["resources"] == {"cpu": "1", "memory": "512Mi"}
    assert model["spec"]["deployment"] == {"replicas": 1}
    run = kubectl.json("get", "tr", "-n", namespace, "-l", "trainyard.dev/experiment=train-sklearn")["items"][0]
    assert run["spec"]["environment"] == {"pip": ["scikit-learn", "numpy"]}
