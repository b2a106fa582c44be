"""The SDK offline (plain `python train.py`) and with a run's environment."""

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from trainyard.runtime import sdk
from trainyard.runtime.sdk import Run


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for var in ("TRAINYARD_RUN_NAME", "TRAINYARD_METRICS_FILE", "TRAINYARD_EXPERIMENT"):
        monkeypatch.delenv(var, raising=False)
    sdk.reset_context()
    yield tmp_path
    sdk.reset_context()


def test_offline_run_keeps_metrics_locally(offline, capsys):
    from trainyard import Run as Exported

    run = Exported.get_context()
    assert run is Run.get_context() and run.offline and run.id.startswith("offline-")
    assert f".trainyard/runs/{run.id}/metrics.jsonl" in capsys.readouterr().err
    run.log("regularization rate", 0.8)
    run.log("accuracy", np.float64(0.9204))
    run.log("loss", 0.5)
    run.log("loss", np.float32(0.25))
    run.log_list("curve", [1, 2, 3])
    run.log_row("table", epoch=1, loss=0.5)
    run.log_row("table", epoch=2, loss=0.25)
    run.tag("team", "vision")
    assert run.get_metrics() == {
        "regularization rate": 0.8,
        "accuracy": 0.9204,
        "loss": [0.5, 0.25],
        "curve": [1, 2, 3],
        "table": {"epoch": [1, 2], "loss": [0.5, 0.25]},
    }
    assert run.get_metrics("accuracy") == {"accuracy": 0.9204} and run.get_metrics("nope") == {}
    assert run.get_tags() == {"team": "vision"}
    lines = (offline / ".trainyard" / "runs" / run.id / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 8 and json.loads(lines[0])["name"] == "regularization rate"


def test_offline_files(offline):
    run = Run.get_context()
    (offline / "model.pkl").write_bytes(b"model")
    run.upload_file("outputs/model.pkl", offline / "model.pkl")
    run.upload_file("notes.txt", io.BytesIO(b"hi"))
    (offline / "outputs").mkdir(exist_ok=True)
    (offline / "outputs" / "other.txt").write_text("x")
    assert run.get_file_names() == ["notes.txt", "outputs/model.pkl", "outputs/other.txt"]
    assert (offline / ".trainyard/runs" / run.id / "files/outputs/model.pkl").read_bytes() == b"model"
    with pytest.raises(ValueError, match="relative path"):
        run.upload_file("../x", io.BytesIO(b""))


def test_register_model_offline_says_how_to_register_after_submitting(offline):
    with pytest.raises(RuntimeError, match="trainyard register RUN outputs/sklearn_mnist_model.pkl"):
        Run.get_context().register_model("sklearn-mnist", "outputs/sklearn_mnist_model.pkl")


def test_in_run_records_go_to_the_runner_file(tmp_path, monkeypatch):
    f = tmp_path / "m.jsonl"
    monkeypatch.setenv("TRAINYARD_RUN_NAME", "mnist-1")
    monkeypatch.setenv("TRAINYARD_EXPERIMENT", "mnist")
    monkeypatch.setenv("TRAINYARD_METRICS_FILE", str(f))
    sdk.reset_context()
    try:
        run = Run.get_context()
        assert (run.id, run.experiment, run.offline) == ("mnist-1", "mnist", False)
        run.log("accuracy", 0.5)
        assert json.loads(f.read_text())["value"] == 0.5
    finally:
        sdk.reset_context()


def test_plain_script_runs_offline(tmp_path):
    (tmp_path / "train.py").write_text(
        "from trainyard import Run\nrun = Run.get_context()\nrun.log('accuracy', 0.9)\nprint(run.get_metrics())\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "{'accuracy': 0.9}"
    assert "trainyard: offline run offline-" in proc.stderr
