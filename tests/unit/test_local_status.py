"""`trainyard local status` checks each port on the address its component binds: with a real node
the API server and the kubelet serve on the node's address, not on 127.0.0.1 (issue 19: both
were reported "running (not listening)" while they served)."""

from __future__ import annotations

import os
import socket

import pytest

from trainyard.cli.main import main
from trainyard.local import nodeconfig
from trainyard.local.cluster import ClusterState, LocalCluster, listen_host


def _listener(host: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((host, 0))
    s.listen()
    return s


@pytest.fixture
def real_node_state(tmp_path, monkeypatch):
    """A recorded real-node cluster whose API server and kubelet listen on other loopback
    addresses than 127.0.0.1 (Linux routes all of 127/8 to lo), as NODE_IP is on the node."""
    monkeypatch.setattr(nodeconfig, "NODE_IP", "127.0.0.3")
    api, kubelet, etcd = _listener("127.0.0.2"), _listener("127.0.0.3"), _listener("127.0.0.1")
    closed = _listener("127.0.0.1")
    closed_port = closed.getsockname()[1]
    closed.close()
    ClusterState(
        dir=tmp_path,
        pids={n: os.getpid() for n in ("apiserver", "kubelet", "etcd", "scheduler")},
        ports={
            "apiserver": api.getsockname()[1],
            "kubelet": kubelet.getsockname()[1],
            "etcd": etcd.getsockname()[1],
            "scheduler": closed_port,
        },
        binaries={},
        s3_access_key="a",
        s3_secret_key="b",
        nodes=0,
        real_node=True,
        api_host="127.0.0.2",
    ).save()
    yield tmp_path
    for s in (api, kubelet, etcd):
        s.close()


def test_status_checks_the_address_each_component_binds(real_node_state):
    report = LocalCluster(real_node_state).status()
    assert {n: r["listening"] for n, r in report.items()} == {
        "apiserver": True,
        "kubelet": True,
        "etcd": True,
        "scheduler": False,
    }
    assert sorted(LocalCluster(real_node_state).listening_ports()) == sorted(
        report[n]["port"] for n in ("apiserver", "kubelet", "etcd")
    )


def test_status_table_says_running_for_serving_components(real_node_state, capsys):
    assert main(["local", "--dir", str(real_node_state), "status"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert lines["apiserver"].endswith("  running") and lines["kubelet"].endswith("  running")
    assert lines["scheduler"].endswith("running (not listening)")


def test_the_kubelet_address_is_the_one_its_config_binds(tmp_path):
    st = ClusterState(tmp_path, {}, {}, {}, "a", "b", 0, real_node=True, api_host=nodeconfig.NODE_IP)
    cfg = nodeconfig.kubelet_config(
        nodeconfig.NodePaths(tmp_path), ca=tmp_path, tls_cert=tmp_path, tls_key=tmp_path, port=1, healthz_port=2
    )
    assert listen_host(st, "kubelet") == cfg["address"] and cfg["healthzBindAddress"] == "127.0.0.1"
    assert listen_host(st, "kubelet-healthz") == "127.0.0.1" == listen_host(st, "etcd")
    kwok_only = ClusterState(tmp_path, {}, {}, {}, "a", "b", 2)
    assert listen_host(kwok_only, "apiserver") == "127.0.0.1"
