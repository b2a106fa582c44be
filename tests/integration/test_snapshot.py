"""Snapshots in the real MinIO: uploaded once per content, staged by the init step, and a corrupt
or malicious snapshot failing the run with a clear reason."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import uuid

from trainyard.storage import snapshot


def make_source(root, marker: str):
    (root / "lib").mkdir(parents=True)
    (root / "train.py").write_text(f"print({marker!r})\n")
    (root / "lib" / "util.py").write_text("X = 1\n")
    (root / "data.csv").write_text("big,data\n")
    (root / ".trainyardignore").write_text("*.csv\n")
    return root


def run_stage(object_store, tmp_path, source: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        **object_store.env(),
        "TRAINYARD_WORKDIR": str(tmp_path / "ws"),
        "TRAINYARD_CACHE_DIR": str(tmp_path / "cache"),
        "TRAINYARD_TERMINATION_LOG": str(tmp_path / "termination"),
        "TRAINYARD_SOURCE": json.dumps({"snapshot": source}),
    }
    return subprocess.run(
        [sys.executable, "-m", "trainyard.runtime.stage"], env=env, capture_output=True, text=True, timeout=120
    )


def test_upload_once_then_stage(object_store, tmp_path):
    client = object_store.client()
    marker = uuid.uuid4().hex
    src = make_source(tmp_path / "src", marker)
    uri, uploaded = snapshot.upload(client, "trainyard", src)
    assert uploaded and str(uri).startswith("s3://trainyard/snapshots/") and str(uri).endswith(".tar.gz")
    data = client.get_object("trainyard", uri.key).read()
    assert hashlib.sha256(data).hexdigest() == uri.name.removesuffix(".tar.gz")
    # Same tree, another checkout (other mtimes): same snapshot, not uploaded again.
    copy = make_source(tmp_path / "copy", marker)
    os.utime(copy / "train.py", (1, 1))
    again, uploaded = snapshot.upload(client, "trainyard", copy)
    assert (again, uploaded) == (uri, False)

    proc = run_stage(object_store, tmp_path, str(uri))
    assert proc.returncode == 0, proc.stderr
    ws = tmp_path / "ws"
    assert (ws / "train.py").read_text() == (src / "train.py").read_text()
    assert (ws / "lib" / "util.py").exists() and not (ws / "data.csv").exists()


def put(client, key: str, data: bytes) -> str:
    client.put_object("trainyard", key, io.BytesIO(data), len(data))
    return f"s3://trainyard/{key}"


def test_corrupt_snapshot_fails_with_a_reason(object_store, tmp_path):
    client = object_store.client()
    src = make_source(tmp_path / "src", uuid.uuid4().hex)
    good = snapshot.make(src, tmp_path)
    data = bytearray(good.path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flipped in the store: the name no longer matches the content
    uri = put(client, good.key, bytes(data))
    proc = run_stage(object_store, tmp_path, uri)
    assert proc.returncode == 1
    msg = json.loads((tmp_path / "termination").read_text())
    assert msg["reason"] == "DataStagingFailed" and msg["source"] == uri
    assert msg["message"].startswith("corrupt snapshot: sha256 ") and "does not match its name" in msg["message"]


def test_malicious_snapshot_is_refused(object_store, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escape.py")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    data = buf.getvalue()
    uri = put(object_store.client(), f"snapshots/{hashlib.sha256(data).hexdigest()}.tar.gz", data)
    proc = run_stage(object_store, tmp_path, uri)
    assert proc.returncode == 1
    msg = json.loads((tmp_path / "termination").read_text())
    assert msg["reason"] == "DataStagingFailed" and msg["message"].startswith("unsafe snapshot: ")
    assert not (tmp_path / "escape.py").exists() and not (tmp_path.parent / "escape.py").exists()


def test_missing_snapshot(object_store, tmp_path):
    uri = f"s3://trainyard/snapshots/{'0' * 64}.tar.gz"
    proc = run_stage(object_store, tmp_path, uri)
    assert proc.returncode == 1
    assert json.loads((tmp_path / "termination").read_text())["message"] == f"snapshot {uri} does not exist"
