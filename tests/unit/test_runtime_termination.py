"""Termination messages: what the operator reads from the pod status to set the run's reason."""

import json

import pytest

from trainyard.runtime import termination
from trainyard.runtime.config import InputSpec
from trainyard.runtime.runner import Shipped, exit_status, result_message, script_command
from trainyard.runtime.stage import StageError, check_modes, source_kind


def test_staging_failure_names_the_input():
    err = StageError("no objects under s3://trainyard/datasets/missing/", input="mnist")
    assert termination.encode(err.termination()) == (
        '{"reason":"DataStagingFailed","input":"mnist","message":"no objects under s3://trainyard/datasets/missing/"}'
    )
    err = StageError("corrupt snapshot x.tar.gz: bad gzip", source="s3://trainyard/snapshots/x.tar.gz")
    assert err.termination()["source"] == "s3://trainyard/snapshots/x.tar.gz" and "input" not in err.termination()


def test_mount_mode_fails_before_any_transfer():
    with pytest.raises(StageError) as err:
        check_modes((InputSpec("a", "s3://b/a/"), InputSpec("big", "s3://b/big/", "mount")))
    assert err.value.input == "big" and "mode: mount, which is not supported yet" in err.value.message
    check_modes((InputSpec("a", "s3://b/a/"),))


@pytest.mark.parametrize(
    "source,kind",
    [
        ("s3://trainyard/snapshots/" + "a" * 64 + ".tar.gz", "snapshot"),
        ("git+https://h/r.git", "git"),
        ("git+git@host:r.git", "git"),
        ("/etc/trainyard/code", "dir"),
        ("file:///etc/code", "dir"),
    ],
)
def test_source_kinds(source, kind):
    assert source_kind(source) == kind


def test_unknown_source_kind():
    with pytest.raises(StageError, match="unsupported TRAINYARD_SOURCE 'https://x'"):
        source_kind("https://x")


def shipped(n_outputs=2):
    entries = [{"path": f"outputs/f{i}.bin", "size": 10, "sha256": "a" * 64} for i in range(n_outputs)]
    entries.append({"path": "logs/std_log.txt", "size": 5, "sha256": "b" * 64})
    return Shipped(entries, "s3://trainyard/runs/ns/r/manifest.json", "s3://trainyard/runs/ns/r/")


def test_result_messages():
    ok = result_message(0, ["accuracy 0.92"], shipped(), None)
    assert ok["reason"] == "Completed" and ok["exitCode"] == 0
    assert (ok["outputCount"], ok["outputBytes"], ok["manifest"]) == (2, 20, "s3://trainyard/runs/ns/r/manifest.json")
    assert [o["path"] for o in ok["outputs"]] == ["outputs/f0.bin", "outputs/f1.bin"]
    failed = result_message(1, ["Traceback", "ValueError: x"], shipped(), None)
    assert failed["reason"] == "ScriptFailed" and failed["lastLogLines"][-1] == "ValueError: x"
    lost = result_message(0, [], None, "connection refused")
    assert lost["reason"] == "OutputUploadFailed" and "connection refused" in lost["message"]
    assert result_message(3, [], None, "x")["reason"] == "ScriptFailed"


def test_message_always_fits_4096_bytes():
    lines = [f"line {i} " + "x" * 500 for i in range(20)]
    msg = result_message(1, lines, shipped(200), None)
    text = termination.encode(msg)
    assert len(text.encode()) <= 4096
    decoded = json.loads(text)
    assert decoded["reason"] == "ScriptFailed" and decoded["outputCount"] == 200
    assert decoded["outputsTruncated"] is True and decoded["outputs"] == []
    assert decoded["lastLogLines"][-1].startswith("line 19 ") and decoded["lastLogLines"][-1].endswith("…")
    huge = termination.encode({"reason": "DataStagingFailed", "input": "a", "message": "é" * 10000})
    assert len(huge.encode()) <= 4096 and json.loads(huge)["input"] == "a"


def test_write_falls_back_to_a_warning(tmp_path, capsys):
    termination.write(tmp_path / "term", {"reason": "Completed"})
    assert json.loads((tmp_path / "term").read_text()) == {"reason": "Completed"}
    termination.write(tmp_path / "missing" / "term", {"reason": "Completed"})
    assert "could not write termination message" in capsys.readouterr().err


def test_exit_status_and_command(tmp_path):
    assert exit_status(0) == 0 and exit_status(3) == 3 and exit_status(-15) == 143
    from trainyard.runtime.config import RunConfig

    cfg = RunConfig.from_env(
        {
            "TRAINYARD_WORKDIR": str(tmp_path),
            "TRAINYARD_ENTRY_SCRIPT": "train.py",
            "TRAINYARD_PYTHON": "/usr/bin/python3",
        }
    )
    assert script_command(cfg, ["--x"]) == ["/usr/bin/python3", "-u", "train.py", "--x"]
    cfg = RunConfig.from_env({"TRAINYARD_WORKDIR": str(tmp_path), "TRAINYARD_ENTRY_SCRIPT": "bin/run.sh"})
    assert script_command(cfg, []) == [str(tmp_path / "bin/run.sh")]
