"""The main step as a process against the real MinIO: the script runs with its inputs and
arguments, its output is streamed and kept, and outputs + logs + manifest are uploaded whatever
the exit code; SIGTERM reaches the script."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid

import pytest

SCRIPT = textwrap.dedent("""
    import os, sys
    from trainyard import Run
    run = Run.get_context()
    print("args", sys.argv[1:])
    print("input", os.environ["TRAINYARD_INPUT_MNIST"])
    print("to stderr", file=sys.stderr)
    os.makedirs("outputs/model", exist_ok=True)
    with open("outputs/model/weights.bin", "wb") as f:
        f.write(b"w" * 1000)
    run.log("regularization rate", 0.8)
    run.log("accuracy", 0.9204)
    if not os.environ.get("SKIP_SDK_UPLOAD"):
        run.upload_file("extra/notes.txt", __file__)
    code = int(os.environ.get("EXIT_CODE", "0"))
    if code:
        raise SystemExit(f"boom {code}") if code == 1 else sys.exit(code)
""")


@pytest.fixture
def run_env(object_store, tmp_path):
    name = f"run-{uuid.uuid4().hex[:8]}"
    code = tmp_path / "ws"
    code.mkdir()
    (code / "train.py").write_text(SCRIPT)
    return {
        **os.environ,
        **object_store.env(),
        "TRAINYARD_RUN_NAME": name,
        "TRAINYARD_RUN_NAMESPACE": "ns",
        "TRAINYARD_RUN_UID": str(uuid.uuid4()),
        "TRAINYARD_EXPERIMENT": "mnist",
        "TRAINYARD_WORKDIR": str(code),
        "TRAINYARD_ENTRY_SCRIPT": "train.py",
        "TRAINYARD_ARGS": json.dumps(["--data-folder", "$(TRAINYARD_INPUT_MNIST)", "--cost", "$$(HOME)"]),
        "TRAINYARD_INPUTS": json.dumps([{"name": "mnist", "uri": "s3://trainyard/datasets/mnist/"}]),
        "TRAINYARD_TERMINATION_LOG": str(tmp_path / "termination"),
        "TRAINYARD_METRICS_INTERVAL": "0.2",
    }


def run(env: dict, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainyard.runtime.run"],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=120,
    )


def stored(object_store, key: str) -> bytes:
    return object_store.client().get_object("trainyard", key).read()


@pytest.mark.parametrize("exit_code,reason", [(0, "Completed"), (1, "ScriptFailed"), (3, "ScriptFailed")])
def test_outputs_logs_and_manifest_are_uploaded_whatever_the_exit_code(
    object_store, run_env, tmp_path, exit_code, reason
):
    proc = run(run_env, EXIT_CODE=str(exit_code))
    assert proc.returncode == exit_code, proc.stderr
    ws, prefix = tmp_path / "ws", f"runs/ns/{run_env['TRAINYARD_RUN_NAME']}/{run_env['TRAINYARD_RUN_UID']}/"
    data_dir = str(ws / "inputs" / "mnist")
    # The pod log gets the script's streams; ./logs/std_log.txt keeps both.
    assert f"args ['--data-folder', '{data_dir}', '--cost', '$(HOME)']" in proc.stdout
    assert "to stderr" in proc.stderr
    log = stored(object_store, prefix + "logs/std_log.txt").decode()
    assert f"input {data_dir}" in log and "to stderr" in log
    assert stored(object_store, prefix + "outputs/model/weights.bin") == b"w" * 1000
    assert stored(object_store, prefix + "extra/notes.txt") == SCRIPT.encode()

    manifest = json.loads(stored(object_store, prefix + "manifest.json"))
    assert manifest["exitCode"] == exit_code and manifest["experiment"] == "mnist"
    files = {f["path"]: f for f in manifest["files"]}
    assert set(files) == {"extra/notes.txt", "logs/std_log.txt", "outputs/model/weights.bin"}
    assert files["outputs/model/weights.bin"] == {
        "path": "outputs/model/weights.bin",
        "size": 1000,
        "sha256": hashlib.sha256(b"w" * 1000).hexdigest(),
    }
    records = [json.loads(line) for line in stored(object_store, prefix + "metrics.jsonl").splitlines()]
    assert [(r.get("name"), r.get("value")) for r in records if r["kind"] == "metric"] == [
        ("regularization rate", 0.8),
        ("accuracy", 0.9204),
    ]

    msg = json.loads((tmp_path / "termination").read_text())
    assert (msg["reason"], msg["exitCode"], msg["outputCount"], msg["outputBytes"]) == (reason, exit_code, 1, 1000)
    assert msg["manifest"] == f"s3://trainyard/{prefix}manifest.json"
    if exit_code == 1:
        assert msg["lastLogLines"][-1] == "boom 1"


def test_script_that_cannot_start(object_store, run_env, tmp_path):
    proc = run(run_env, TRAINYARD_ENTRY_SCRIPT="missing.sh")
    assert proc.returncode == 127
    msg = json.loads((tmp_path / "termination").read_text())
    assert msg["reason"] == "ScriptFailed" and "cannot start missing.sh" in msg["lastLogLines"][0]


def test_upload_failure_fails_a_successful_script(object_store, run_env, tmp_path):
    from trainyard.local.processes import free_port

    proc = run(run_env, TRAINYARD_S3_ENDPOINT=f"http://127.0.0.1:{free_port()}", SKIP_SDK_UPLOAD="1")
    assert proc.returncode == 1
    msg = json.loads((tmp_path / "termination").read_text())
    assert msg["reason"] == "OutputUploadFailed" and msg["exitCode"] == 0


SIGNAL_SCRIPT = textwrap.dedent("""
    import os, signal, sys, time
    def handler(signum, frame):
        os.makedirs("outputs", exist_ok=True)
        open("outputs/terminated.txt", "w").write(str(signum))
        sys.exit(7)
    signal.signal(signal.SIGTERM, handler)
    print("ready", flush=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        signal.pause()
""")


def test_sigterm_is_forwarded_and_outputs_still_shipped(object_store, run_env, tmp_path):
    (tmp_path / "ws" / "train.py").write_text(SIGNAL_SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainyard.runtime.run"],
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"  # bounded: the script prints it at once
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 7
    finally:
        proc.kill()
        proc.wait()
    prefix = f"runs/ns/{run_env['TRAINYARD_RUN_NAME']}/{run_env['TRAINYARD_RUN_UID']}/"
    assert stored(object_store, prefix + "outputs/terminated.txt") == str(int(signal.SIGTERM)).encode()
    assert json.loads((tmp_path / "termination").read_text())["exitCode"] == 7
