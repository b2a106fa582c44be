"""The machinery of the e2e walkthrough test, and the MNIST README it runs: the README must hold
the whole walkthrough issue 19 asks for, and the script made of it must be valid bash that stops
at the first failing command."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.walkthrough import readme_commands, script, shown, split_outputs

README = Path(__file__).resolve().parents[2] / "examples" / "sklearn-mnist" / "README.md"


def test_commands_are_read_as_typed():
    text = "1. x\n\n   ```sh\n   a 1   # c\n   b \\\n     --c\n\n   d &\n   ```\n\n   ```sh\n   e\n   ```\n"
    assert readme_commands(text) == ["a 1   # c", "b \\\n  --c", "d &", "e"]


def test_the_mnist_readme_holds_the_whole_walkthrough():
    commands = readme_commands(README.read_text())
    starts = [c.split()[0] if not c.startswith("RUN=") else "RUN=$(trainyard submit" for c in commands]
    assert starts[0] == "kubectl" and "port-forward svc/trainyard-minio 9000:9000" in commands[0]
    assert not any("objectstore.env" in c for c in commands)  # the local cluster's MinIO is not the chart's
    for wanted in ("wait", "logs", "metrics", "files", "download", "register", "models", "runs"):
        assert any(c.startswith(f"trainyard {wanted} ") for c in commands), wanted
    assert any(c.startswith("RUN=$(trainyard submit . --script train.py") for c in commands)
    assert subprocess.run(["bash", "-n", "-c", script(commands, show=("RUN",))]).returncode == 0


def test_the_script_marks_each_command_and_stops_at_the_first_failure(tmp_path):
    commands = ["echo one", "X=$(echo two)", "echo three >&2; false", "echo never"]
    proc = subprocess.run(["bash", "-c", script(commands, show=("X",))], capture_output=True, text=True)
    assert proc.returncode == 1
    assert split_outputs(proc.stdout) == {0: "one", 1: "", 2: ""}
    assert split_outputs(proc.stderr)[2] == "three"
    assert "never" not in proc.stdout and shown(proc.stdout, "X") is None
    ok = subprocess.run(["bash", "-c", script(commands[:2], show=("X",))], capture_output=True, text=True)
    assert ok.returncode == 0 and shown(ok.stdout, "X") == "two"


def test_a_port_forward_is_waited_for_boundedly(tmp_path):
    s = script(["kubectl -n t port-forward svc/m 9000:9000 >/dev/null &   # keep", "echo next"])
    assert "/dev/tcp/127.0.0.1/9000" in s and "seq 300" in s and "exit 97" in s
