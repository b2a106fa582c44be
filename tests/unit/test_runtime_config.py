"""RunConfig from the pod's environment, and Kubernetes-style $(VAR) expansion of arguments."""

import json
import sys
from pathlib import Path

import pytest

from trainyard.runtime.config import ConfigError, InputSpec, RunConfig
from trainyard.runtime.expand import expand, expand_args
from trainyard.runtime.kubeapi import KubeTarget, run_status_url

FULL = {
    "TRAINYARD_RUN_NAME": "mnist-1",
    "TRAINYARD_RUN_NAMESPACE": "team-a",
    "TRAINYARD_EXPERIMENT": "mnist",
    "TRAINYARD_SOURCE": "git+https://example.com/repo.git",
    "TRAINYARD_SOURCE_REVISION": "v1.2",
    "TRAINYARD_SOURCE_PATH": "examples/sklearn-mnist/",
    "TRAINYARD_ENTRY_SCRIPT": "train.py",
    "TRAINYARD_ARGS": json.dumps(["--data-folder", "$(TRAINYARD_INPUT_MNIST)", "--regularization", "0.5"]),
    "TRAINYARD_INPUTS": json.dumps(
        [
            {"name": "mnist", "uri": "s3://trainyard/datasets/mnist/"},
            {"name": "extra", "uri": "s3://trainyard/x/", "mode": "mount"},
        ]
    ),
    "TRAINYARD_WORKDIR": "/w",
    "TRAINYARD_CACHE_DIR": "/var/cache/trainyard",
    "TRAINYARD_PRIMARY_METRIC": "accuracy",
    "TRAINYARD_TERMINATION_LOG": "/tmp/term",
    "TRAINYARD_TRANSFER_WORKERS": "8",
    "TRAINYARD_METRICS_INTERVAL": "0.5",
    "TRAINYARD_RANGED_GET_MIB": "64",
}


def test_full_environment():
    cfg = RunConfig.from_env(FULL)
    assert (cfg.run_name, cfg.namespace, cfg.experiment) == ("mnist-1", "team-a", "mnist")
    assert (cfg.source_revision, cfg.source_path, cfg.entry_script) == ("v1.2", "examples/sklearn-mnist", "train.py")
    assert cfg.args == ("--data-folder", "$(TRAINYARD_INPUT_MNIST)", "--regularization", "0.5")
    assert cfg.inputs == (
        InputSpec("mnist", "s3://trainyard/datasets/mnist/", "download"),
        InputSpec("extra", "s3://trainyard/x/", "mount"),
    )
    assert cfg.code_dir == Path("/w/examples/sklearn-mnist")
    assert cfg.data_dir == Path("/w/inputs") and cfg.cache_dir == Path("/var/cache/trainyard")
    assert cfg.input_env() == {"TRAINYARD_INPUT_MNIST": "/w/inputs/mnist", "TRAINYARD_INPUT_EXTRA": "/w/inputs/extra"}
    assert (cfg.transfer_workers, cfg.metrics_interval, cfg.primary_metric) == (8, 0.5, "accuracy")
    assert cfg.ranged_get_mib == 64 and RunConfig.from_env({}).ranged_get_mib is None
    assert cfg.termination_log == Path("/tmp/term") and cfg.metrics_file == Path("/w/.trainyard/metrics.jsonl")


def test_defaults():
    cfg = RunConfig.from_env({})
    assert cfg.run_name is None and cfg.namespace == "default" and cfg.args == () and cfg.inputs == ()
    assert cfg.workdir == Path("/workspace") and cfg.code_dir == Path("/workspace")
    assert cfg.cache_dir == Path("/workspace/.trainyard/cache") and cfg.python == sys.executable
    assert cfg.termination_log == Path("/dev/termination-log") and cfg.metrics_interval == 2.0


@pytest.mark.parametrize(
    "env,match",
    [
        ({"TRAINYARD_ARGS": "[1"}, "TRAINYARD_ARGS is not valid JSON"),
        ({"TRAINYARD_ARGS": '{"a": 1}'}, "TRAINYARD_ARGS must be a JSON list"),
        ({"TRAINYARD_ARGS": "[1, 2]"}, "list of strings"),
        ({"TRAINYARD_INPUTS": '[{"name": "a"}]'}, r"TRAINYARD_INPUTS\[0\] needs string fields name and uri"),
        ({"TRAINYARD_INPUTS": '[{"name": "A", "uri": "s3://b/x"}]'}, r"TRAINYARD_INPUTS\[0\].name 'A'"),
        ({"TRAINYARD_INPUTS": '[{"name": "a", "uri": "s3://b/x", "mode": "stream"}]'}, "mode 'stream'"),
        ({"TRAINYARD_INPUTS": '[{"name": "a", "uri": "s3://b/x"}, {"name": "a", "uri": "s3://b/y"}]'}, "used twice"),
        ({"TRAINYARD_TRANSFER_WORKERS": "many"}, "TRAINYARD_TRANSFER_WORKERS must be an integer"),
        ({"TRAINYARD_METRICS_INTERVAL": "-1"}, "must be positive"),
        ({"TRAINYARD_SOURCE_PATH": "a/../../etc"}, "must not contain '..'"),
        ({"TRAINYARD_SOURCE": "{oops"}, "TRAINYARD_SOURCE is not valid JSON"),
        ({"TRAINYARD_SOURCE": '{"svn": "x"}'}, "needs one of snapshot, git.url, configMap"),
    ],
)
def test_bad_environment_names_the_variable(env, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_env(env)


@pytest.mark.parametrize(
    "source,extra,expected",
    [
        ({"snapshot": "s3://trainyard/snapshots/a.tar.gz"}, {}, ("s3://trainyard/snapshots/a.tar.gz", "HEAD", "")),
        (
            {"git": {"url": "https://h/r.git", "revision": "feature/x", "path": "src/"}},
            {},
            ("git+https://h/r.git", "feature/x", "src"),
        ),
        ({"git": {"url": "git@h:r.git"}}, {}, ("git+git@h:r.git", "HEAD", "")),
        ({"configMap": {"name": "code"}}, {}, ("/trainyard/source", "HEAD", "")),
        ({"configMap": {"name": "code"}}, {"TRAINYARD_SOURCE_DIR": "/mnt/code"}, ("/mnt/code", "HEAD", "")),
    ],
)
def test_source_as_the_resource_spells_it(source, extra, expected):
    cfg = RunConfig.from_env({"TRAINYARD_SOURCE": json.dumps(source), **extra})
    assert (cfg.source, cfg.source_revision, cfg.source_path) == expected


ENV = {"TRAINYARD_INPUT_MNIST": "/w/inputs/mnist", "EMPTY": ""}


@pytest.mark.parametrize(
    "text,expected",
    [
        ("$(TRAINYARD_INPUT_MNIST)", "/w/inputs/mnist"),
        ("--data=$(TRAINYARD_INPUT_MNIST)/train", "--data=/w/inputs/mnist/train"),
        ("$$(TRAINYARD_INPUT_MNIST)", "$(TRAINYARD_INPUT_MNIST)"),
        ("$$$(TRAINYARD_INPUT_MNIST)", "$/w/inputs/mnist"),
        ("$(UNKNOWN)", "$(UNKNOWN)"),
        ("a$(EMPTY)b", "ab"),
        ("$(TRAINYARD_INPUT_MNIST", "$(TRAINYARD_INPUT_MNIST"),
        ("cost: $5", "cost: $5"),
        ("$", "$"),
        ("$$", "$"),
        ("0.5", "0.5"),
    ],
)
def test_expansion_matches_kubernetes(text, expected):
    assert expand(text, ENV) == expected


def test_expand_args_keeps_order():
    assert expand_args(["--data-folder", "$(TRAINYARD_INPUT_MNIST)"], ENV) == ["--data-folder", "/w/inputs/mnist"]


def test_kube_target_from_env(tmp_path):
    assert KubeTarget.from_env({}) is None
    t = KubeTarget.from_env({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert t.api == "https://10.0.0.1:443"
    assert KubeTarget.from_env({"KUBERNETES_SERVICE_HOST": "fd00::1"}).api == "https://[fd00::1]:443"
    token = tmp_path / "token"
    t = KubeTarget.from_env(
        {
            "TRAINYARD_KUBE_API": "https://127.0.0.1:6443/",
            "TRAINYARD_KUBE_TOKEN_FILE": str(token),
            "TRAINYARD_KUBE_CLIENT_CERT": "/c.crt",
            "TRAINYARD_KUBE_CLIENT_KEY": "/c.key",
        }
    )
    assert (t.api, t.token_file, t.client_cert, t.client_key) == (
        "https://127.0.0.1:6443",
        token,
        Path("/c.crt"),
        Path("/c.key"),
    )
    assert (
        run_status_url(t.api, "ns", "r")
        == "https://127.0.0.1:6443/apis/trainyard.dev/v1alpha1/namespaces/ns/trainingruns/r/status"
    )
