import datetime as dt

import pytest

from trainyard.cli import run_spec


def test_run_name_is_dns_safe_bounded_and_readable():
    now = dt.datetime(2026, 11, 22, 10, 30, 5, tzinfo=dt.UTC)
    assert run_spec.run_name("MNIST_Tutorial", now, "ab12") == "mnist-tutorial-261122-103005-ab12"
    long = run_spec.run_name("x" * 80, now, "ab12")
    assert len(long) <= 53 and long.endswith("-261122-103005-ab12")
    assert run_spec.run_name("___", now, "ab12") == "run-261122-103005-ab12"


def test_parse_inputs():
    assert run_spec.parse_inputs(["mnist=s3://trainyard/datasets/mnist/", "big=s3://b/x:mount"]) == [
        {"name": "mnist", "uri": "s3://trainyard/datasets/mnist/", "mode": "download"},
        {"name": "big", "uri": "s3://b/x", "mode": "mount"},
    ]
    assert run_spec.parse_inputs(None) == []


@pytest.mark.parametrize(
    "bad, says",
    [
        ("mnist", "expected NAME=s3://"),
        ("MNIST=s3://b/x", "lower-case"),
        ("mnist=https://x/y", "must start with s3://"),
    ],
)
def test_parse_inputs_rejects_with_a_reason(bad, says):
    with pytest.raises(run_spec.SpecError, match=says):
        run_spec.parse_inputs([bad])


def test_duplicate_input_names_are_rejected():
    with pytest.raises(run_spec.SpecError, match="given twice"):
        run_spec.parse_inputs(["a=s3://b/x", "a=s3://b/y"])


def test_training_run_manifest():
    body = run_spec.training_run(
        name="r1",
        namespace="ns",
        experiment="mnist",
        compute="cpu",
        source={"snapshot": "s3://b/snapshots/x.tar.gz"},
        entry_script="train.py",
        args=["--regularization", "0.8"],
        inputs=[],
        pip=["lightgbm"],
        cpu="1",
        memory=None,
        max_retries=1,
        timeout=None,
        primary_metric="accuracy",
    )
    assert body == {
        "apiVersion": "trainyard.dev/v1alpha1",
        "kind": "TrainingRun",
        "metadata": {"name": "r1", "namespace": "ns", "labels": {"trainyard.dev/experiment": "mnist"}},
        "spec": {
            "experiment": "mnist",
            "compute": "cpu",
            "source": {"snapshot": "s3://b/snapshots/x.tar.gz"},
            "entryScript": "train.py",
            "args": ["--regularization", "0.8"],
            "environment": {"pip": ["lightgbm"]},
            "resources": {"cpu": "1"},
            "maxRetries": 1,
            "primaryMetric": "accuracy",
        },
    }


def test_wait_exit_codes_and_sizes():
    assert [run_spec.exit_code_for(p) for p in ("Completed", "Failed", "Canceled", None)] == [0, 1, 2, 1]
    assert run_spec.human_size(512) == "512 B" and run_spec.human_size(3 * 1024 * 1024) == "3.0 MiB"


def test_operator_command_execs_kopf_without_importing_it():
    import sys as _sys

    from trainyard.cli.main import build_parser
    from trainyard.cli.operator_cmd import kopf_argv

    args = build_parser().parse_args(["operator", "-n", "team-a", "--liveness", "http://0.0.0.0:8080/healthz"])
    assert kopf_argv(args) == [
        _sys.executable,
        "-m",
        "kopf",
        "run",
        "--standalone",
        "--namespace=team-a",
        "--liveness=http://0.0.0.0:8080/healthz",
        "-m",
        "trainyard.operator.main",
    ]
    assert "--all-namespaces" in kopf_argv(build_parser().parse_args(["operator"]))
