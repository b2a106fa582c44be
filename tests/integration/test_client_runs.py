"""The notebook's client API against the real API server, MinIO and the in-process operator, with
runs really executed by the process kubelet: a workspace from its config file, a compute target
created and waited for, data uploaded to the datastore and staged as an input, a ScriptRunConfig
submitted, its output streamed, its metrics in Azure's shapes, its files, a model registered and a
no-code deployment asked for — and every bad input a one-line, Azure-named exception."""

from __future__ import annotations

import json
import textwrap

import joblib
import pytest

from tests.conftest import wait_for

TRAIN = """
import argparse, os, sys, time
import joblib
from sklearn import datasets
from sklearn.svm import SVC
from trainyard.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder")
parser.add_argument("--penalty", type=float)
args = parser.parse_args()
run = Run.get_submitted_run()
print("data files:", sorted(os.listdir(os.path.join(args.data_folder, "d"))))
print("payload:", open(os.path.join(args.data_folder, "d", "payload.txt")).read().strip())
run.log("penalty", args.penalty)
for loss in (0.9, 0.5, 0.25):
    run.log("loss", loss)
X, y = datasets.load_iris(return_X_y=True)
model = SVC(kernel="linear", C=args.penalty).fit(X, y)
acc = float(model.score(X, y))
print("Accuracy is", acc)
run.log("accuracy", acc)
run.tag("from-script", "yes")
os.makedirs("outputs", exist_ok=True)
joblib.dump(model, "outputs/model.joblib")
"""


@pytest.fixture
def ws(namespace, tmp_path, monkeypatch):
    """A workspace whose config file sits two folders up from the notebook's directory."""
    from trainyard.core import Workspace

    cfg = {
        "workspace_name": "tutorials",
        "namespace": namespace,
        "compute": {
            "provider": "static",
            "vm_sizes": {"STANDARD_D2_V2": {"trainyard.dev/pool": "default"}},
            "defaultRunResources": {"cpu": "100m", "memory": "256Mi"},
        },
    }
    (tmp_path / ".trainyard").mkdir()
    (tmp_path / ".trainyard" / "config.json").write_text(json.dumps(cfg))
    nb = tmp_path / "work" / "notebooks"
    nb.mkdir(parents=True)
    monkeypatch.chdir(nb)
    return Workspace.from_config()


def _cluster(ws):
    from trainyard.core.compute import AmlCompute, ComputeTarget

    return ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", max_nodes=1))


def test_compute_target_absent_created_waited_for_and_deleted(kubectl, ws, operator, capsys):
    from trainyard.core.compute import BatchAiCompute, ComputeTarget
    from trainyard.core.compute_target import ComputeTargetException

    with pytest.raises(ComputeTargetException) as err:
        ComputeTarget(workspace=ws, name="traincluster")
    assert "does not exist" in str(err.value) and "\n" not in str(err.value)
    config = BatchAiCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", autoscale_enabled=True, cluster_min_nodes=0, cluster_max_nodes=4
    )
    target = ComputeTarget.create(ws, "traincluster", config)
    target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=2)
    status = target.status.serialize()
    assert status["provisioningState"] == "Succeeded"
    assert status["scaleSettings"]["maxNodeCount"] == 4
    cc = kubectl.json("get", "cc", "traincluster", "-n", ws.namespace)
    assert cc["spec"]["nodeSelector"] == {"trainyard.dev/pool": "default"} and cc["spec"]["maxNodes"] == 4
    found = ComputeTarget(workspace=ws, name="traincluster")
    assert type(found).__name__ == "AmlCompute" and found is not BatchAiCompute
    assert "traincluster" in ws.compute_targets
    with pytest.raises(ComputeTargetException, match="already exists"):
        ComputeTarget.create(ws, "traincluster", config)
    found.delete()
    wait_for(
        lambda: kubectl.run("get", "cc", "traincluster", "-n", ws.namespace, check=False).returncode != 0,
        what="the cluster to go",
        timeout=60,
    )


def test_the_tutorial_workflow_from_submit_to_registered_model(
    kubectl, ws, operator, process_kubelet, tmp_path, capsys, monkeypatch
):
    from trainyard.core import Environment, Experiment, Model, ScriptRunConfig, Webservice, datastore
    from trainyard.core.conda_dependencies import CondaDependencies
    from trainyard.core.resource_configuration import ResourceConfiguration

    monkeypatch.setattr(datastore, "_MOUNT_WARNED", [])
    compute_target = _cluster(ws)
    data = tmp_path / "data"
    data.mkdir()
    (data / "payload.txt").write_text("hello from the datastore\n")
    (data / "extra.bin").write_bytes(b"\0" * 1000)
    ds = ws.get_default_datastore()
    ds.upload(src_dir=str(data), target_path="d", overwrite=True, show_progress=True)
    out = capsys.readouterr().out
    assert "Uploading 2 file(s) to s3://trainyard/datasets/d/" in out and "100.0%" in out

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(textwrap.dedent(TRAIN))
    (src / ".trainyardignore").write_text("secret.txt\n")
    (src / "secret.txt").write_text("not uploaded")
    env = Environment("sklearn-env")
    env.python.conda_dependencies = CondaDependencies.create(conda_packages=["scikit-learn"], pip_packages=["joblib"])
    config = ScriptRunConfig(
        source_directory=str(src),
        script="train.py",
        arguments=["--data-folder", ds.as_mount(), "--penalty", 1.5],
        compute_target=compute_target,
        environment=env,
    )
    exp = Experiment(workspace=ws, name="client-tutorial")
    run = exp.submit(config, tags={"stage": "test"})
    assert capsys.readouterr().err.count("mount mode is not available yet") == 1
    obj = kubectl.json("get", "tr", run.id, "-n", ws.namespace)
    assert obj["spec"]["args"] == ["--data-folder", "$(TRAINYARD_INPUT_WORKSPACEBLOBSTORE)", "--penalty", "1.5"]
    assert obj["spec"]["inputs"] == [
        {"name": "workspaceblobstore", "uri": "s3://trainyard/datasets/", "mode": "download"}
    ]
    assert obj["spec"]["environment"] == {"pip": ["scikit-learn", "joblib"]}
    assert obj["spec"]["experiment"] == "client-tutorial" and obj["spec"]["compute"] == "cpu"

    details = run.wait_for_completion(show_output=True)
    printed = capsys.readouterr().out
    assert details["status"] == "Completed", printed
    assert "payload: hello from the datastore" in printed and "Accuracy is" in printed
    assert printed.index("payload:") < printed.index("Accuracy is") < printed.index("Execution Summary")
    assert run.get_status() == "Completed"

    metrics = run.get_metrics()
    assert metrics["penalty"] == 1.5 and metrics["loss"] == [0.9, 0.5, 0.25]
    assert 0.9 <= metrics["accuracy"] <= 1.0
    assert run.get_metrics(name="loss") == {"loss": [0.9, 0.5, 0.25]} and run.get_metrics("nope") == {}
    names = run.get_file_names()
    assert "outputs/model.joblib" in names and "logs/std_log.txt" in names and "metrics.jsonl" not in names
    run.download_file("outputs/model.joblib", output_file_path=str(tmp_path / "m.joblib"))
    assert joblib.load(tmp_path / "m.joblib").predict([[5.1, 3.5, 1.4, 0.2]]).tolist() == [0]
    written = run.download_files(prefix="outputs", output_directory=str(tmp_path / "dl"))
    assert written == [str(tmp_path / "dl" / "outputs" / "model.joblib")]
    assert run.get_tags() == {"stage": "test", "from-script": "yes"}
    run.tag("reviewed", "by-test")
    assert run.get_tags()["reviewed"] == "by-test"
    assert list(run.get_children()) == []

    from trainyard.widgets import RunDetails

    RunDetails(run).show()  # outside Jupyter: a text summary
    summary = capsys.readouterr().out
    assert f"{run.id} (client-tutorial on cpu): Completed" in summary and "loss: 0.25 (logged 3 times)" in summary
    view = RunDetails(run).get_widget_data()
    assert view["charts"] == {"loss": [0.9, 0.5, 0.25]} and any("Accuracy is" in line for line in view["log"])
    assert [p["phase"] for p in view["phases"]][-1] == "Completed"

    # The same directory again: the snapshot is reused.
    second = exp.submit(config)
    assert kubectl.json("get", "tr", second.id, "-n", ws.namespace)["spec"]["source"] == obj["spec"]["source"]
    assert [r.id for r in exp.get_runs()] == [second.id, run.id]
    second.cancel()
    from trainyard.core.exceptions import ActivityFailedException

    with pytest.raises(ActivityFailedException, match="ended Canceled"):
        second.wait_for_completion()

    model = run.register_model(
        model_name="sklearn_iris",
        model_path="outputs/model.joblib",
        model_framework=Model.Framework.SCIKITLEARN,
        resource_configuration=ResourceConfiguration(cpu=1, memory_in_gb=0.5),
        tags={"area": "iris"},
    )
    assert (model.name, model.version, model.id) == ("sklearn_iris", 1, "sklearn_iris:1")
    rm = kubectl.json("get", "rm", "sklearn-iris", "-n", ws.namespace)
    assert rm["spec"]["resources"] == {"cpu": "1", "memory": "512Mi"} and rm["spec"]["framework"] == "ScikitLearn"
    again = Model(ws, "sklearn_iris")
    assert again.version == 1 and again.run_id == run.id and again.resource_configuration.memory_in_gb == 0.5
    assert [m.id for m in Model.list(ws)] == ["sklearn_iris:1"]
    path = again.download(target_dir=str(tmp_path / "model"))
    assert joblib.load(path).predict([[5.1, 3.5, 1.4, 0.2]]).tolist() == [0]

    service = Model.deploy(ws, "scikit-learn-service", [model])
    rm = kubectl.json("get", "rm", "sklearn-iris", "-n", ws.namespace)
    assert rm["spec"]["deployment"] == {"replicas": 1}
    assert [s.name for s in Webservice.list(ws)] == ["scikit-learn-service"]
    assert Webservice(ws, "scikit-learn-service").state in ("Transitioning", "Healthy", "Failed")
    service.delete()
    assert "deployment" not in kubectl.json("get", "rm", "sklearn-iris", "-n", ws.namespace)["spec"]


def test_bad_input_is_one_line_with_azures_exception_names(kubectl, ws, operator, tmp_path):
    from trainyard.core import Experiment, Model, ScriptRunConfig
    from trainyard.core.compute import ComputeTarget
    from trainyard.core.exceptions import (
        ComputeTargetException,
        ModelNotFoundException,
        UserErrorException,
        WebserviceException,
    )

    src = tmp_path / "src"
    src.mkdir()
    (src / "t.py").write_text("print(1)\n")
    (tmp_path / "outside.py").write_text("print(2)\n")
    exp = Experiment(ws, "errors")

    def one_line(exc_type, fn):
        with pytest.raises(exc_type) as err:
            fn()
        msg = str(err.value)
        assert msg and "\n" not in msg and "Traceback" not in msg, msg
        return msg

    assert "unknown compute target 'nope'" in one_line(
        ComputeTargetException, lambda: exp.submit(ScriptRunConfig(str(src), "t.py", compute_target="nope"))
    )
    _cluster(ws)
    assert "is not in source_directory" in one_line(
        UserErrorException,
        lambda: exp.submit(ScriptRunConfig(str(src), str(tmp_path / "outside.py"), compute_target="cpu")),
    )
    assert "arguments must be strings, numbers" in one_line(
        UserErrorException,
        lambda: exp.submit(ScriptRunConfig(str(src), "t.py", arguments=["--x", {"a": 1}], compute_target="cpu")),
    )
    assert "no model 'nothing'" in one_line(ModelNotFoundException, lambda: Model(ws, "nothing"))
    assert "does not exist" in one_line(ComputeTargetException, lambda: ComputeTarget(ws, "absent"))

    custom = tmp_path / "model.pkl"
    joblib.dump({"weights": [0.5, 0.25]}, custom)  # a model of some other framework
    model = Model.register(ws, model_path=str(custom), model_name="custom-model", model_framework=Model.Framework.ONNX)
    assert model.version == 1 and model.model_framework == "Custom"
    assert "not scikit-learn" in one_line(WebserviceException, lambda: Model.deploy(ws, "svc", [model]))
    assert kubectl.run("get", "tr", "-n", ws.namespace, "-o", "name").stdout.strip() == ""


def test_a_missing_kubeconfig_and_an_unreachable_store_are_one_line(ws, tmp_path, monkeypatch):
    from trainyard.core import Workspace
    from trainyard.core.exceptions import UserErrorException

    bad = Workspace(namespace=ws.namespace, kubeconfig=str(tmp_path / "absent"))
    with pytest.raises(UserErrorException) as err:
        list(bad.compute_targets)
    assert "kubeconfig" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setenv("TRAINYARD_S3_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(UserErrorException) as err:
        Workspace(namespace=ws.namespace).get_default_datastore().upload(str(tmp_path))
    assert "object store unreachable at http://127.0.0.1:9" in str(err.value) and "\n" not in str(err.value)


def test_service_run_goes_through_the_api_servers_service_proxy(kubectl, ws):
    """Webservice.run() reaches a Service through the API server's proxy with the user's
    credentials: here one with no ready endpoint, whose 503 becomes one line. (A model server's
    answer through the same path is checked on the real node, tests/e2e/test_notebooks.py.)"""
    from trainyard.core.exceptions import WebserviceException
    from trainyard.core.webservice import Webservice

    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "sklearn-x-serving"},
            "spec": {"selector": {"app": "none"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
        ws.namespace,
    )
    obj = {"metadata": {"name": "x"}, "status": {"endpoint": f"http://sklearn-x-serving.{ws.namespace}.svc/score"}}
    service = Webservice(ws, "x-service", _obj=obj)
    with pytest.raises(WebserviceException) as err:
        service.run(input_data=json.dumps({"data": [[1, 2]]}))
    assert "answered 503" in str(err.value) and "no endpoints available" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(WebserviceException, match="not valid JSON"):
        service.run("{data")
