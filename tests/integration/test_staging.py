"""Staging against the real MinIO: parallel downloads, the content cache, verification, resume,
and the init step's failures as the operator sees them (exit status + termination message)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from trainyard.storage.cache import ObjectCache
from trainyard.storage.config import StoreConfig
from trainyard.storage.transfer import NotFound, Transfer
from trainyard.storage.uri import S3Uri

MiB = 1024 * 1024


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def put(client, key: str, data: bytes, part_size: int = 0) -> None:
    client.put_object("trainyard", key, io.BytesIO(data), len(data), part_size=part_size or 0)


@pytest.fixture
def dataset(object_store):
    """A prefix with 40 small files in nested folders, an empty one, a multipart (5 MiB parts)
    object and one big enough for ranged GETs; returns (uri, {relative path: bytes})."""
    client = object_store.client()
    rng = random.Random(7)
    prefix = f"datasets/{uuid.uuid4().hex[:8]}/"
    files = {f"part{i % 4}/f{i:02d}.bin": rng.randbytes(rng.randint(1, 300_000)) for i in range(40)}
    files["empty.txt"] = b""
    files["multi.bin"] = rng.randbytes(12 * MiB + 3)
    files["big.bin"] = rng.randbytes(20 * MiB + 1)
    for rel, data in files.items():
        put(client, prefix + rel, data, part_size=5 * MiB if rel == "multi.bin" else 0)
    return S3Uri("trainyard", prefix), files


def transfer(object_store, cache_dir: Path, **kw) -> Transfer:
    client = StoreConfig.from_env(object_store.env()).client()
    # Small thresholds so the ranged path runs on test-sized data.
    return Transfer(client, cache=ObjectCache(cache_dir), workers=8, range_threshold=16 * MiB, range_size=5 * MiB, **kw)


def assert_tree(dest: Path, files: dict[str, bytes]) -> None:
    got = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert got == set(files)
    for rel, data in files.items():
        assert hashlib.sha256((dest / rel).read_bytes()).digest() == hashlib.sha256(data).digest(), rel


def test_parallel_download_is_exact_and_verified(object_store, dataset, tmp_path):
    uri, files = dataset
    stats = transfer(object_store, tmp_path / "cache").download(uri, tmp_path / "out")
    assert_tree(tmp_path / "out", files)
    assert (stats.objects, stats.bytes, stats.downloaded_bytes) == (
        len(files),
        sum(map(len, files.values())),
        sum(map(len, files.values())),
    )
    # md5 ETags and the 5 MiB multipart one are all checkable; nothing was only size-checked.
    assert (stats.etag_verified, stats.size_only, stats.cache_hits, stats.retries) == (len(files), 0, 0, 0)


def test_second_download_comes_from_the_cache(object_store, dataset, tmp_path):
    uri, files = dataset
    t = transfer(object_store, tmp_path / "cache")
    t.download(uri, tmp_path / "first")
    again = t.download(uri, tmp_path / "second")
    assert_tree(tmp_path / "second", files)
    assert (again.cache_hits, again.downloaded_bytes, again.cache_invalidated) == (len(files), 0, 0)


def test_a_cached_file_changed_in_place_is_fetched_again(object_store, dataset, tmp_path):
    uri, files = dataset
    t = transfer(object_store, tmp_path / "cache")
    t.download(uri, tmp_path / "first")
    obj = next(o for o in t.list(uri) if o.rel == "part1/f01.bin")
    cached = t.cache.path(obj.etag, obj.size)
    os.chmod(cached, 0o644)
    data = bytearray(cached.read_bytes())
    data[0] ^= 0xFF  # same size, different content
    cached.write_bytes(bytes(data))
    again = t.download(uri, tmp_path / "second")
    assert (again.cache_invalidated, again.cache_hits, again.downloaded_bytes) == (1, len(files) - 1, obj.size)
    assert_tree(tmp_path / "second", files)


@pytest.mark.parametrize("rel", ["multi.bin", "part1/f01.bin"], ids=["multipart-etag", "md5-etag"])
def test_corrupt_partial_download_fails_verification_then_recovers(object_store, dataset, tmp_path, rel):
    uri, files = dataset
    t = transfer(object_store, tmp_path / "cache", sleep=lambda s: None)
    obj = next(o for o in t.list(uri) if o.rel == rel)
    # A leftover partial file whose bytes are wrong: resuming from it yields a file of the right
    # size whose ETag does not match; the transfer must notice, drop it and start over.
    t.cache.part_path(obj.etag, obj.size).write_bytes(b"\0" * (obj.size // 2))
    stats = t.download(uri, tmp_path / "out")
    assert (stats.verify_failures, stats.retries, stats.resumed_bytes) == (1, 1, obj.size // 2)
    assert_tree(tmp_path / "out", files)


def test_partial_downloads_resume(object_store, dataset, tmp_path):
    uri, files = dataset
    t = transfer(object_store, tmp_path / "cache")
    small = next(o for o in t.list(uri) if o.rel == "multi.bin")
    t.cache.part_path(small.etag, small.size).write_bytes(files["multi.bin"][: 4 * MiB])
    big = next(o for o in t.list(uri) if o.rel == "big.bin")  # ranged: two of five ranges done
    part = t.cache.part_path(big.etag, big.size)
    part.write_bytes(files["big.bin"][: 10 * MiB])
    t.cache.ranges_path(big.etag, big.size).write_text(f"0\n{5 * MiB}\n")
    stats = t.download(uri, tmp_path / "out")
    assert stats.resumed_bytes == 14 * MiB and stats.verify_failures == 0
    assert stats.downloaded_bytes == sum(map(len, files.values())) - 14 * MiB
    assert_tree(tmp_path / "out", files)


def test_missing_prefix(object_store, tmp_path):
    with pytest.raises(NotFound, match="no objects under s3://trainyard/nothing-here/"):
        transfer(object_store, tmp_path / "cache").download(S3Uri("trainyard", "nothing-here"), tmp_path / "out")


def test_upload_dir_round_trip_and_skip(object_store, tmp_path):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    (src / "a" / "x.bin").write_bytes(os.urandom(17 * MiB))  # multipart with our 16 MiB parts
    (src / "y.txt").write_text("y")
    t = transfer(object_store, tmp_path / "cache")
    prefix = S3Uri("trainyard", f"runs/ns/{uuid.uuid4().hex[:8]}/outputs/")
    entries, _ = t.upload_dir(src, prefix, name_prefix="outputs/")
    assert [(e.path, e.size, e.sha256) for e in entries] == [
        ("outputs/a/x.bin", 17 * MiB, sha(src / "a" / "x.bin")),
        ("outputs/y.txt", 1, sha(src / "y.txt")),
    ]
    t.download(prefix, tmp_path / "back")
    assert sha(tmp_path / "back" / "a" / "x.bin") == sha(src / "a" / "x.bin")
    # Unchanged files are not sent again (a retried upload continues).
    puts = []
    real = t.client.fput_object
    t.client.fput_object = lambda *a, **kw: puts.append(a[1]) or real(*a, **kw)
    (src / "y.txt").write_text("changed")
    t.upload_dir(src, prefix, name_prefix="outputs/")
    assert puts == [prefix.key + "y.txt"]


# -- the init step as a process, as the pod runs it ----------------------------------------------


def stage_env(object_store, tmp_path: Path, inputs: list[dict], **extra) -> dict:
    return {
        **os.environ,
        **object_store.env(),
        "TRAINYARD_RUN_NAME": "r1",
        "TRAINYARD_RUN_NAMESPACE": "ns",
        "TRAINYARD_WORKDIR": str(tmp_path / "ws"),
        "TRAINYARD_CACHE_DIR": str(tmp_path / "cache"),
        "TRAINYARD_TERMINATION_LOG": str(tmp_path / "termination"),
        "TRAINYARD_INPUTS": json.dumps(inputs),
        "TRAINYARD_ENTRY_SCRIPT": "train.py",
        **extra,
    }


def run_stage(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainyard.runtime.stage"], env=env, capture_output=True, text=True, timeout=120
    )


def test_stage_process_stages_inputs_and_reuses_the_node_cache(object_store, dataset, tmp_path):
    uri, files = dataset
    inputs = [{"name": "mnist", "uri": str(uri)}, {"name": "again", "uri": str(uri) + "part2"}]
    env = stage_env(object_store, tmp_path, inputs)
    proc = run_stage(env)
    assert proc.returncode == 0, proc.stderr
    assert_tree(tmp_path / "ws" / "inputs" / "mnist", files)
    assert sorted(p.name for p in (tmp_path / "ws/inputs/again").iterdir()) == [
        "f02.bin",
        "f06.bin",
        "f10.bin",
        "f14.bin",
        "f18.bin",
        "f22.bin",
        "f26.bin",
        "f30.bin",
        "f34.bin",
        "f38.bin",
    ]
    # A second pod on the same node (same cache, fresh workspace) downloads nothing.
    env["TRAINYARD_WORKDIR"] = str(tmp_path / "ws2")
    proc = run_stage(env)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(files)} from cache, 0.0 MB downloaded" in proc.stdout
    assert_tree(tmp_path / "ws2" / "inputs" / "mnist", files)


def termination_message(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "termination").read_text())


def test_missing_input_prefix_names_the_input(object_store, dataset, tmp_path):
    uri, _ = dataset
    env = stage_env(
        object_store,
        tmp_path,
        [{"name": "good", "uri": str(uri)}, {"name": "mnist", "uri": "s3://trainyard/datasets/missing/"}],
    )
    proc = run_stage(env)
    assert proc.returncode == 1
    assert termination_message(tmp_path) == {
        "reason": "DataStagingFailed",
        "input": "mnist",
        "message": "no objects under s3://trainyard/datasets/missing/",
    }


def test_mount_mode_fails_at_once(object_store, tmp_path):
    env = stage_env(object_store, tmp_path, [{"name": "big", "uri": "s3://trainyard/x/", "mode": "mount"}])
    proc = run_stage(env)
    assert proc.returncode == 1
    msg = termination_message(tmp_path)
    assert (msg["reason"], msg["input"]) == ("DataStagingFailed", "big")
    assert "mode: mount, which is not supported yet" in msg["message"]


def test_unreachable_store_is_named(object_store, tmp_path):
    from trainyard.local.processes import free_port

    env = stage_env(
        object_store,
        tmp_path,
        [{"name": "mnist", "uri": "s3://trainyard/x/"}],
        TRAINYARD_S3_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )
    proc = run_stage(env)
    assert proc.returncode == 1
    msg = termination_message(tmp_path)
    assert msg["input"] == "mnist" and msg["message"].startswith("object store unreachable"), msg


def test_bad_environment_is_a_config_error(tmp_path):
    env = {**os.environ, "TRAINYARD_INPUTS": "[not json", "TRAINYARD_TERMINATION_LOG": str(tmp_path / "termination")}
    proc = run_stage(env)
    assert proc.returncode == 2
    assert termination_message(tmp_path)["reason"] == "InvalidRunConfig"


def git(*args, cwd):
    subprocess.run(
        ["git", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    )


def test_git_source_at_a_revision_and_path(object_store, tmp_path):
    repo = tmp_path / "repo"
    (repo / "examples" / "mnist").mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "examples/mnist/train.py").write_text("v1\n")
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "v1", cwd=repo)
    first = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    (repo / "examples/mnist/train.py").write_text("v2\n")
    git("commit", "-q", "-am", "v2", cwd=repo)
    source = {"git": {"url": repo.as_uri(), "revision": first, "path": "examples/mnist"}}
    env = stage_env(object_store, tmp_path, [], TRAINYARD_SOURCE=json.dumps(source))
    proc = run_stage(env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ws/examples/mnist/train.py").read_text() == "v1\n"
    env["TRAINYARD_WORKDIR"] = str(tmp_path / "ws-main")
    env["TRAINYARD_SOURCE"] = json.dumps({"git": {"url": repo.as_uri(), "revision": "main"}})
    assert run_stage(env).returncode == 0
    assert (tmp_path / "ws-main/examples/mnist/train.py").read_text() == "v2\n"


def test_configmap_source_is_copied(object_store, tmp_path):
    # The layout of a ConfigMap volume: files are symlinks into a timestamped directory via ..data.
    vol = tmp_path / "vol"
    (vol / "..2026_01_01").mkdir(parents=True)
    (vol / "..2026_01_01" / "train.py").write_text("print('hi')\n")
    (vol / "..data").symlink_to("..2026_01_01")
    (vol / "train.py").symlink_to("..data/train.py")
    env = stage_env(
        object_store,
        tmp_path,
        [],
        TRAINYARD_SOURCE=json.dumps({"configMap": {"name": "code"}}),
        TRAINYARD_SOURCE_DIR=str(vol),
    )
    proc = run_stage(env)
    assert proc.returncode == 0, proc.stderr
    staged = tmp_path / "ws" / "train.py"
    assert staged.read_text() == "print('hi')\n" and not staged.is_symlink()
    assert not (tmp_path / "ws" / "..data").exists()
