"""s3:// and file:// URIs, and the bucket layout."""

from pathlib import Path

import pytest

from trainyard.storage import layout
from trainyard.storage.config import StoreConfig, StoreError
from trainyard.storage.uri import FileUri, S3Uri, parse, parse_s3


@pytest.mark.parametrize(
    "text,bucket,key,is_prefix",
    [
        ("s3://trainyard/datasets/mnist/", "trainyard", "datasets/mnist/", True),
        ("s3://trainyard/datasets/mnist", "trainyard", "datasets/mnist", False),
        ("s3://trainyard", "trainyard", "", True),
        ("s3://trainyard/", "trainyard", "", True),
        ("s3://my.bucket-1//a", "my.bucket-1", "a", False),
    ],
)
def test_parse_s3(text, bucket, key, is_prefix):
    uri = parse_s3(text)
    assert (uri.bucket, uri.key, uri.is_prefix) == (bucket, key, is_prefix)
    assert parse_s3(str(uri)) == uri


@pytest.mark.parametrize("text", ["http://x/y", "s3://UPPER/x", "s3://a/x", "s3://trainyard/a/../b", "s3:/x"])
def test_parse_s3_rejects(text):
    with pytest.raises(ValueError):
        parse_s3(text)


def test_join_and_prefix():
    base = S3Uri("trainyard", "runs/ns/r")
    assert base.as_prefix().key == "runs/ns/r/"
    assert base.join("outputs", "model.pkl") == S3Uri("trainyard", "runs/ns/r/outputs/model.pkl")
    assert base.join("outputs/").key == "runs/ns/r/outputs/"
    assert S3Uri("trainyard", "a/b.tar.gz").name == "b.tar.gz"


def test_dispatch_on_scheme(tmp_path):
    assert isinstance(parse("s3://trainyard/x"), S3Uri)
    assert parse(tmp_path.as_uri()) == FileUri(tmp_path)
    assert parse("/etc/trainyard/code") == FileUri(Path("/etc/trainyard/code"))
    with pytest.raises(ValueError, match="unsupported URI scheme 'gs'"):
        parse("gs://bucket/x")
    with pytest.raises(ValueError, match="remote host"):
        parse("file://otherhost/x")


def test_layout_keys():
    sha = "a" * 64
    assert layout.snapshot_key(sha) == f"snapshots/{sha}.tar.gz"
    assert layout.snapshot_sha256(f"snapshots/{sha}.tar.gz") == sha
    assert layout.snapshot_sha256("snapshots/code.tar.gz") is None
    uid = "0d6a2c4e-9b1f-4f7e-8a55-3c2b1e0f9d88"
    assert layout.run_prefix("team-a", "mnist-1", uid) == f"runs/team-a/mnist-1/{uid}/"
    assert layout.run_outputs_prefix("ns", "r", "u1") == "runs/ns/r/u1/outputs/"
    assert layout.run_logs_prefix("ns", "r", "u1") == "runs/ns/r/u1/logs/"
    assert layout.run_metrics_key("ns", "r", "u1") == "runs/ns/r/u1/metrics.jsonl"
    assert layout.run_manifest_key("ns", "r", "u1") == "runs/ns/r/u1/manifest.json"
    # no uid: the layout of runs made before the uid was in the prefix
    assert layout.run_prefix("team-a", "mnist-1", "") == "runs/team-a/mnist-1/"
    assert layout.model_root("ns", "sklearn-mnist") == "models/ns/sklearn-mnist/"
    assert layout.model_prefix("ns", "sklearn-mnist", 3) == "models/ns/sklearn-mnist/3/"


def test_a_recreated_run_gets_another_prefix():
    first = {"metadata": {"namespace": "default", "name": "sklearn-iris-1", "uid": "uid-a"}}
    second = {"metadata": {"namespace": "default", "name": "sklearn-iris-1", "uid": "uid-b"}}
    assert layout.run_prefix_of(first) == "runs/default/sklearn-iris-1/uid-a/"
    assert layout.run_prefix_of(second) == "runs/default/sklearn-iris-1/uid-b/"
    # neither is inside the other, so neither run's listing shows the other's files
    assert not layout.run_prefix_of(second).startswith(layout.run_prefix_of(first))


def test_run_prefix_of_follows_the_recorded_artifacts_uri():
    old = {
        "metadata": {"namespace": "default", "name": "r", "uid": "uid-a"},
        "status": {"artifactsUri": "s3://trainyard/runs/default/r/"},
    }
    assert layout.run_prefix_of(old) == "runs/default/r/"
    old["status"]["artifactsUri"] = "s3://trainyard/runs/default/r/uid-a"
    assert layout.run_prefix_of(old) == "runs/default/r/uid-a/"


def test_model_version_of_reads_only_manifest_keys():
    assert layout.model_version_of("ns", "m", "models/ns/m/12/manifest.json") == 12
    assert layout.model_version_of("ns", "m", "models/ns/m/12/model.pkl") is None
    assert layout.model_version_of("ns", "m", "models/ns/m/0/manifest.json") is None
    assert layout.model_version_of("ns", "m", "models/ns/m2/1/manifest.json") is None
    assert layout.model_version_of("ns", "m", "models/ns/m/1/x/manifest.json") is None


@pytest.mark.parametrize(
    "call",
    [
        lambda: layout.snapshot_key("abc"),
        lambda: layout.run_prefix("ns", "..", ""),
        lambda: layout.run_prefix("ns/x", "r", ""),
        lambda: layout.run_prefix("ns", "r", "../other"),
        lambda: layout.model_prefix("ns", "m", 0),
    ],
)
def test_layout_rejects_unsafe_segments(call):
    with pytest.raises(ValueError):
        call()


def test_store_config_from_env():
    env = {
        "TRAINYARD_S3_ENDPOINT": "https://minio.example:9000",
        "TRAINYARD_S3_ACCESS_KEY": "a",
        "TRAINYARD_S3_SECRET_KEY": "SECRETVALUE",
    }
    cfg = StoreConfig.from_env(env)
    assert (cfg.endpoint, cfg.secure, cfg.bucket, cfg.region) == ("minio.example:9000", True, "trainyard", None)
    assert "SECRETVALUE" not in repr(cfg)
    cfg = StoreConfig.from_env(
        {**env, "TRAINYARD_S3_SECURE": "false", "TRAINYARD_S3_BUCKET": "b", "TRAINYARD_S3_REGION": "eu"}
    )
    assert (cfg.secure, cfg.bucket, cfg.region, cfg.url) == (False, "b", "eu", "http://minio.example:9000")


def test_store_config_errors_are_one_line():
    with pytest.raises(
        StoreError,
        match="^object store not configured: set TRAINYARD_S3_ENDPOINT, "
        "TRAINYARD_S3_ACCESS_KEY, TRAINYARD_S3_SECRET_KEY$",
    ):
        StoreConfig.from_env({})
    with pytest.raises(StoreError, match="must look like http://host:port"):
        StoreConfig.from_env(
            {"TRAINYARD_S3_ENDPOINT": "ftp://x", "TRAINYARD_S3_ACCESS_KEY": "a", "TRAINYARD_S3_SECRET_KEY": "s"}
        )


def test_unreachable_store_is_one_line():
    from trainyard.local.processes import free_port

    cfg = StoreConfig.from_env(
        {
            "TRAINYARD_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
            "TRAINYARD_S3_ACCESS_KEY": "a",
            "TRAINYARD_S3_SECRET_KEY": "s",
        }
    )
    with pytest.raises(StoreError) as err:
        cfg.check()
    assert str(err.value) == f"object store unreachable at {cfg.url}: connection refused"
    assert "\n" not in str(err.value)
