"""What Experiment.submit sends (pure parts): the checked script, arguments and inputs, the manifest."""

import io
import sys

import pytest

from trainyard.core import _submit, datastore
from trainyard.core.dataset import Dataset
from trainyard.core.datastore import Datastore
from trainyard.core.exceptions import UserErrorException
from trainyard.core.script_run_config import ScriptRunConfig
from trainyard.core.workspace import Workspace
from trainyard.train.estimator import Estimator


@pytest.fixture
def ws():
    return Workspace(namespace="ns", store={"bucket": "trainyard"})


def test_the_script_must_be_inside_source_directory(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text("")
    (tmp_path / "outside.py").write_text("")
    assert _submit.check_script(str(tmp_path / "src"), "train.py") == "train.py"
    for bad in ("../outside.py", str(tmp_path / "outside.py")):
        with pytest.raises(UserErrorException) as err:
            _submit.check_script(str(tmp_path / "src"), bad)
        assert "is not in source_directory" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UserErrorException, match="not found in source_directory"):
        _submit.check_script(str(tmp_path / "src"), "nope.py")


def test_arguments_strings_and_numbers_pass_anything_else_is_one_line(ws):
    args, inputs = _submit.arguments(["--kernel", "linear", "--penalty", 1.0, "--n", 3])
    assert args == ["--kernel", "linear", "--penalty", "1.0", "--n", "3"] and inputs == []
    for bad in ({"a": 1}, [1], True, None):
        with pytest.raises(UserErrorException) as err:
            _submit.arguments(["--x", bad])
        assert "argument #2" in str(err.value) and "\n" not in str(err.value)


def test_a_datastore_mount_becomes_an_input_and_a_variable_and_warns_once(ws, monkeypatch):
    monkeypatch.setattr(datastore, "_MOUNT_WARNED", [])
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    ds = ws.get_default_datastore()
    args, inputs = _submit.arguments(["--data-folder", ds.as_mount(), "--other", ds.path("mnist").as_mount()])
    assert args == [
        "--data-folder",
        "$(TRAINYARD_INPUT_WORKSPACEBLOBSTORE)",
        "--other",
        "$(TRAINYARD_INPUT_WORKSPACEBLOBSTORE_MNIST)",
    ]
    assert inputs == [
        {"name": "workspaceblobstore", "uri": "s3://trainyard/datasets/", "mode": "download"},
        {"name": "workspaceblobstore_mnist", "uri": "s3://trainyard/datasets/mnist/", "mode": "download"},
    ]
    assert err.getvalue().count("mount mode is not available yet") == 1
    assert len(err.getvalue().strip().splitlines()) == 1


def test_a_named_file_dataset_and_as_download(ws):
    ds = Datastore(ws)
    mnist = Dataset.File.from_files(path=(ds, "mnist/"))
    args, inputs = _submit.arguments([mnist.as_named_input("mnist").as_download(), ds.path("x").as_download()])
    assert args == ["$(TRAINYARD_INPUT_MNIST)", "$(TRAINYARD_INPUT_WORKSPACEBLOBSTORE_X)"]
    assert inputs[0] == {"name": "mnist", "uri": "s3://trainyard/datasets/mnist/", "mode": "download"}
    with pytest.raises(UserErrorException, match="input name"):
        mnist.as_named_input("MNIST data")


def test_estimator_script_params_and_conda_packages(ws, tmp_path):
    (tmp_path / "train.py").write_text("")
    ds = ws.get_default_datastore()
    est = Estimator(
        source_directory=str(tmp_path),
        script_params={"--data-folder": ds.as_mount(), "--regularization": 0.8},
        compute_target="traincluster",
        entry_script="train.py",
        conda_packages=["scikit-learn"],
    )
    sub = est._submission()
    args, inputs = _submit.arguments(sub.arguments)
    assert args == ["--data-folder", "$(TRAINYARD_INPUT_WORKSPACEBLOBSTORE)", "--regularization", "0.8"]
    assert sub.environment._spec() == {"pip": ["scikit-learn"]} and sub.target == "traincluster"


def test_script_run_config_run_config_environment_is_what_is_submitted(tmp_path):
    from trainyard.core.environment import Environment

    src = ScriptRunConfig(source_directory=str(tmp_path), script="train_iris.py")
    env = Environment("myenv")
    env.python.conda_dependencies.add_pip_package("joblib")
    src.run_config.environment = env
    src.run_config.target = "cpu-cluster"
    sub = src._submission()
    assert sub.environment._spec() == {"pip": ["joblib"]} and sub.target == "cpu-cluster"


def test_the_manifest_is_the_clis_with_tags_in_an_annotation():
    body = _submit.body(
        name="train-sklearn-260101-000000-abcd",
        namespace="ns",
        experiment="train-sklearn",
        compute="cpu",
        snapshot="s3://trainyard/snapshots/" + "0" * 64 + ".tar.gz",
        script="train_iris.py",
        args=["--kernel", "linear"],
        inputs=[],
        environment={"pip": ["joblib"]},
        tags={"team": "a", "n": 1},
    )
    assert body["spec"] == {
        "experiment": "train-sklearn",
        "compute": "cpu",
        "source": {"snapshot": "s3://trainyard/snapshots/" + "0" * 64 + ".tar.gz"},
        "entryScript": "train_iris.py",
        "args": ["--kernel", "linear"],
        "environment": {"pip": ["joblib"]},
    }
    assert body["metadata"]["labels"] == {"trainyard.dev/experiment": "train-sklearn"}
    assert _submit.decode_tags(body) == {"team": "a", "n": "1"}
