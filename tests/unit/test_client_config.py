"""The workspace config file: where from_config finds it, what it may hold, one-line errors."""

import json

import pytest

from trainyard.core import _config
from trainyard.core.exceptions import UserErrorException
from trainyard.core.workspace import Workspace


def test_found_upward_from_the_current_directory_in_dot_trainyard(tmp_path):
    (tmp_path / ".trainyard").mkdir()
    (tmp_path / ".trainyard" / "config.json").write_text('{"namespace": "team-a"}')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert _config.find(cwd=deep) == tmp_path / ".trainyard" / "config.json"


def test_a_plain_config_json_counts_and_path_may_be_a_file_or_a_folder(tmp_path):
    (tmp_path / "config.json").write_text('{"namespace": "x"}')
    assert _config.find(tmp_path) == tmp_path / "config.json"
    assert _config.find(tmp_path / "config.json") == tmp_path / "config.json"


def test_a_missing_config_is_one_line_that_says_what_to_write(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserErrorException) as err:
        Workspace.from_config()
    msg = str(err.value)
    assert "\n" not in msg and ".trainyard/config.json" in msg and '"namespace"' in msg


def test_an_azure_config_is_recognised_and_explained():
    with pytest.raises(UserErrorException, match="is an Azure ML workspace config"):
        _config.parse({"subscription_id": "s", "resource_group": "rg", "workspace_name": "ws"})


def test_unknown_keys_are_refused():
    with pytest.raises(UserErrorException, match="unknown key"):
        _config.parse({"namespace": "a", "nmespace": "b"})


def test_relative_paths_are_relative_to_the_file_and_the_environment_overrides_the_store(tmp_path):
    (tmp_path / "objectstore.env").write_text(
        "export TRAINYARD_S3_ENDPOINT=http://127.0.0.1:9000\nexport TRAINYARD_S3_ACCESS_KEY=a\n"
        "export TRAINYARD_S3_SECRET_KEY='s'\n"
    )
    where = tmp_path / "config.json"
    cfg = _config.parse(
        {"namespace": "ns", "kubeconfig": "kc", "store": {"env_file": "objectstore.env", "bucket": "b1"}}, where
    )
    assert cfg.kubeconfig == str(tmp_path / "kc")
    env = _config.store_env(cfg, environ={"TRAINYARD_S3_ACCESS_KEY": "from-env"})
    assert env == {
        "TRAINYARD_S3_ENDPOINT": "http://127.0.0.1:9000",
        "TRAINYARD_S3_ACCESS_KEY": "from-env",
        "TRAINYARD_S3_SECRET_KEY": "s",
        "TRAINYARD_S3_BUCKET": "b1",
    }


def test_workspace_names_what_azure_notebooks_print(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"namespace": "ns1", "workspace_name": "tutorials"}))
    ws = Workspace.from_config(str(tmp_path))
    assert (ws.name, ws.resource_group, ws.namespace) == ("tutorials", "ns1", "ns1")
    assert Workspace(namespace="n2").name == "n2"
    assert Workspace("sub", "rg", "wsname").namespace == "rg"


def test_write_config_round_trips_without_secrets(tmp_path):
    ws = Workspace(namespace="n3", store={"endpoint": "http://h:9000", "access_key": "a", "secret_key": "s"})
    path = ws.write_config(str(tmp_path))
    data = json.loads(path.read_text())
    assert data["namespace"] == "n3" and data["store"] == {"endpoint": "http://h:9000"}
    assert Workspace.from_config(str(tmp_path)).namespace == "n3"
