"""`trainyard local up|status|kubeconfig|down` as a user runs it: a whole cluster comes up healthy
and `down` leaves no process and no listening port behind."""

from __future__ import annotations

import json
import subprocess
import sys

from trainyard.local.cluster import ClusterState
from trainyard.local.processes import alive, port_listening


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "trainyard.cli.main", *args], capture_output=True, text=True, timeout=600
    )
    if check:
        assert proc.returncode == 0, f"trainyard {' '.join(args)}: {proc.stdout}\n{proc.stderr}"
    return proc


def test_local_up_status_down(tmp_path):
    d = str(tmp_path / "c")
    try:
        up = cli("local", "--dir", d, "up", "--nodes", "3")
        assert "export KUBECONFIG=" in up.stdout
        st = ClusterState.load(tmp_path / "c")
        assert set(st.pids) == {"etcd", "minio", "apiserver", "controller-manager", "scheduler", "kwok"}

        status = json.loads(cli("local", "--dir", d, "status", "-o", "json").stdout)
        assert all(c["running"] for c in status.values()), status
        assert all(c["listening"] for c in status.values()), status

        assert cli("local", "--dir", d, "kubeconfig").stdout.strip() == str(st.kubeconfig)
        nodes = subprocess.run(
            [st.binaries["kubectl"], "--kubeconfig", str(st.kubeconfig), "get", "nodes", "-o", "json"],
            capture_output=True,
            text=True,
            check=True,
        )
        items = json.loads(nodes.stdout)["items"]
        assert len(items) == 3
        assert all(
            any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]) for n in items
        )
        env = cli("local", "--dir", d, "env").stdout
        assert f"TRAINYARD_S3_ENDPOINT=http://127.0.0.1:{st.ports['minio']}" in env
    finally:
        down = cli("local", "--dir", d, "down", check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [n for n, pid in st.pids.items() if alive(pid)]
    assert not [p for p in st.ports.values() if port_listening(p)]
    # A second `down` is harmless, and status now reports the cluster stopped.
    assert "nothing was running" in cli("local", "--dir", d, "down").stdout
    assert cli("local", "--dir", d, "status", check=False).returncode == 1
