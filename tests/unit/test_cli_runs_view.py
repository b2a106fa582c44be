"""Pure parts of `trainyard runs`, `wait`, `logs` and `download`: which runs, in what order;
how a run's state is said; which container's log to read; the scikit-learn mismatch line."""

from __future__ import annotations

import datetime
import sys

import pytest

from trainyard.cli import logs_cmd, run_list, run_spec
from trainyard.cli.main import build_parser, main


def run(name, *, experiment="e", phase=None, metrics=None, created="2026-12-01T10:00:00Z", labels=None):
    status = {}
    if phase:
        status["phase"] = phase
    if metrics is not None:
        status["metrics"] = metrics
    return {
        "metadata": {"name": name, "creationTimestamp": created, "labels": labels or {}},
        "spec": {"experiment": experiment, "compute": "cpu"},
        "status": status,
    }


RUNS = [
    run("a", phase="Completed", metrics={"accuracy": 0.91, "loss": 0.3}, created="2026-12-01T10:00:01Z"),
    run("b", phase="Completed", metrics={"accuracy": 0.95}, created="2026-12-01T10:00:03Z"),
    run("c", phase="Failed", metrics={"accuracy": 0.99}, created="2026-12-01T10:00:02Z"),
    run("d", phase="Completed", metrics={}, created="2026-12-01T10:00:00Z"),
    run("gitops-1", experiment="mnist", phase="Completed", metrics={"accuracy": 0.5}),  # no experiment label
    run("queued", phase=None),
]


def names(runs):
    return [r["metadata"]["name"] for r in runs]


def test_filters_on_spec_experiment_and_phase():
    assert names(run_list.select(RUNS, experiment="mnist")) == ["gitops-1"]
    assert names(run_list.select(RUNS, experiment="e", phases={"Completed"})) == ["d", "a", "b"]
    assert names(run_list.select(RUNS, phases=run_list.parse_phases("queued,FAILED"))) == ["queued", "c"]


def test_sorts_by_a_metric_either_way_with_runs_lacking_it_last():
    completed = run_list.select(RUNS, experiment="e", phases={"Completed"}, sort="-accuracy")
    assert names(completed) == ["b", "a", "d"]
    assert names(run_list.select(RUNS, experiment="e", sort="accuracy")) == ["a", "b", "c", "d", "queued"]
    assert names(run_list.select(RUNS, sort="loss")) == ["a", "b", "c", "d", "gitops-1", "queued"]


def test_sorts_by_name_and_age():
    assert names(run_list.select(RUNS, sort="-name")) == ["queued", "gitops-1", "d", "c", "b", "a"]
    assert names(run_list.select(RUNS, experiment="e", sort="age")) == ["b", "c", "a", "d", "queued"]
    assert names(run_list.select(RUNS, experiment="e", sort="-age")) == ["d", "queued", "a", "c", "b"]
    assert names(run_list.select(RUNS, experiment="e")) == names(run_list.select(RUNS, experiment="e", sort="-age"))


def test_unknown_sort_key_and_phase_say_what_exists():
    with pytest.raises(run_list.SelectError, match=r"no run has a metric 'acc' to sort by \(metrics: accuracy, loss\)"):
        run_list.select(RUNS, sort="-acc")
    with pytest.raises(run_list.SelectError, match="unknown phase 'Done'; phases are Queued, Scaling"):
        run_list.parse_phases("Done")


def test_table_shows_the_sorted_metric_and_age():
    now = datetime.datetime(2026, 12, 1, 10, 5, tzinfo=datetime.UTC)
    lines = run_list.table(run_list.select(RUNS, experiment="e", sort="-loss"), sort="-loss", now=now)
    assert lines[0].split() == ["NAME", "EXPERIMENT", "COMPUTE", "PHASE", "METRIC", "AGE"]
    assert lines[1].split() == ["a", "e", "cpu", "Completed", "loss=0.3", "4m"]
    assert lines[-1].split() == ["queued", "e", "cpu", "Queued", "-", "5m"]


def test_sort_accepts_a_descending_key_as_its_own_word(capsys):
    args = build_parser().parse_args(["runs", "--sort=-accuracy"])
    assert args.sort == "-accuracy"
    # main() joins `--sort -accuracy` before argparse, which would read -accuracy as an option;
    # the phase is checked before any API call, so this needs no cluster.
    assert main(["runs", "--sort", "-accuracy", "--phase", "bogus"]) == 1
    assert capsys.readouterr().err == (
        "trainyard: error: unknown phase 'bogus'; phases are "
        "Queued, Scaling, Preparing, Running, Finalizing, Completed, Failed, Canceled\n"
    )


def test_describe_status_names_the_reason_of_the_phase():
    st = {
        "phase": "Queued",
        "message": "top-level",
        "conditions": [
            {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "ok"},
            {"type": "Queued", "status": "True", "reason": "WaitingForCapacity", "message": "2 runs ahead"},
        ],
    }
    assert run_list.describe_status(st) == "Queued (WaitingForCapacity: 2 runs ahead)"
    done = {"phase": "Completed", "conditions": [{"type": "Succeeded", "reason": "Completed", "message": "exit 0"}]}
    assert run_list.describe_status(done) == "Completed (Completed: exit 0)"
    assert run_list.describe_status({}) == "Queued"


def pod(init_state=None, run_state=None, name="r-abc"):
    status = {}
    if init_state is not None:
        status["initContainerStatuses"] = [{"name": "stage", "state": init_state}]
    if run_state is not None:
        status["containerStatuses"] = [{"name": "run", "state": run_state}]
    return {"metadata": {"name": name}, "status": status}


def test_logs_read_the_staging_container_when_the_script_never_started():
    failed = pod({"terminated": {"exitCode": 1}}, {"waiting": {"reason": "PodInitializing"}})
    container, note = logs_cmd.pick_container(failed)
    assert container == "stage" and "never started: staging failed (exit code 1)" in note and "r-abc" in note
    assert logs_cmd.pick_container(pod({"running": {}}, {"waiting": {}}))[0] == "stage"
    assert logs_cmd.pick_container(pod({"terminated": {"exitCode": 0}}, {"running": {}})) == ("run", "")
    assert logs_cmd.pick_container(pod({"terminated": {"exitCode": 0}}, {"terminated": {"exitCode": 3}}))[0] == "run"
    nothing, why = logs_cmd.pick_container(pod({"waiting": {"reason": "ErrImageNeverPull", "message": "no image"}}))
    assert nothing is None and why == "pod r-abc has not started a container yet (ErrImageNeverPull: no image)"
    assert logs_cmd.pick_container(pod()) == (None, "pod r-abc has not started a container yet")


def test_download_warns_when_scikit_learn_differs():
    env = {"python": "3.11.2", "packages": {"scikit-learn": "1.7.2", "numpy": "2.2.6"}}
    line = run_spec.framework_mismatch("r1", env, {"scikit-learn": "1.9.1"})
    assert line.startswith("run r1 used scikit-learn 1.7.2, this Python has 1.9.1: ")
    assert "InconsistentVersionWarning" in line and "pip install scikit-learn==1.7.2" in line and "\n" not in line
    assert run_spec.framework_mismatch("r1", env, {"scikit-learn": "1.7.2"}) is None
    assert run_spec.framework_mismatch("r1", None, {"scikit-learn": "1.7.2"}) is None  # an older run's manifest
    assert run_spec.framework_mismatch("r1", {"error": "x"}, {"scikit-learn": "1.7.2"}) is None


def test_the_runner_records_the_scripts_framework_versions():
    import sklearn

    from trainyard.runtime.runner import environment

    env = environment(sys.executable)
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["packages"]["scikit-learn"] == sklearn.__version__ and "numpy" in env["packages"]
    assert environment("/nonexistent/python")["error"].startswith("FileNotFoundError")
