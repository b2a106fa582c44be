"""The real node's configuration files, checked without starting anything."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import yaml

from trainyard.local import images
from trainyard.local import nodeconfig as cfg


def test_containerd_config_uses_own_dirs_cgroupfs_and_the_local_pause(tmp_path):
    paths = cfg.NodePaths(tmp_path / "node")
    toml = cfg.containerd_toml(paths, "localhost/trainyard/pause:abc")
    assert f'address = "{paths.containerd_socket}"' in toml
    assert f'root = "{paths.containerd_root}"' in toml and f'state = "{paths.containerd_state}"' in toml
    assert "SystemdCgroup = false" in toml and 'snapshotter = "overlayfs"' in toml
    assert 'sandbox_image = "localhost/trainyard/pause:abc"' in toml
    assert "restrict_oom_score_adj = true" in toml
    assert f'conf_dir = "{paths.cni_conf_dir}"' in toml


def test_cni_bridge_keeps_its_state_under_the_node_dir(tmp_path):
    paths = cfg.NodePaths(tmp_path / "node")
    conf = cfg.cni_conflist(paths)
    bridge = conf["plugins"][0]
    assert bridge["type"] == "bridge" and len(bridge["bridge"]) <= 15
    assert bridge["ipam"]["ranges"] == [[{"subnet": cfg.POD_CIDR}]]
    assert bridge["ipam"]["dataDir"].startswith(str(tmp_path))
    json.dumps(conf)


def test_kubelet_config_for_a_cgroup_v1_host(tmp_path):
    paths = cfg.NodePaths(tmp_path / "node")
    kc = cfg.kubelet_config(
        paths, ca=Path("/ca.crt"), tls_cert=Path("/k.crt"), tls_key=Path("/k.key"), port=1, healthz_port=2
    )
    assert kc["cgroupDriver"] == "cgroupfs" and kc["failCgroupV1"] is False and kc["failSwapOn"] is False
    assert kc["authentication"]["x509"]["clientCAFile"] == "/ca.crt"
    assert kc["authentication"]["anonymous"]["enabled"] is False
    assert kc["clusterDNS"] == [cfg.CLUSTER_DNS_IP] and kc["resolvConf"] == str(paths.resolv_conf)
    assert kc["address"] == cfg.NODE_IP and kc["healthzBindAddress"] == "127.0.0.1"
    yaml.safe_dump(kc)


def test_dns_never_forwards_off_the_machine():
    corefile = cfg.corefile(Path("/state/coredns.kubeconfig"), health_port=1, ready_port=2)
    assert "forward" not in corefile and "proxy" not in corefile
    assert corefile.count(f"bind {cfg.NODE_IP}") == 2
    assert cfg.resolv_conf().startswith(f"nameserver {cfg.NODE_IP}\n")
    svc = next(o for o in cfg.dns_objects() if o["kind"] == "Service")
    assert svc["spec"]["clusterIP"] == cfg.CLUSTER_DNS_IP


def test_kube_proxy_is_iptables_and_node_ports_stay_on_the_node_address():
    argv = cfg.kube_proxy_argv("kube-proxy", Path("/kc"), healthz_port=1, metrics_port=2)
    assert "--proxy-mode=iptables" in argv
    assert f"--nodeport-addresses={cfg.NODE_IP}/32" in argv
    assert all("0.0.0.0" not in a for a in argv)


def test_wheel_dependencies_skip_extras(tmp_path):
    whl = tmp_path / "x-1-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as zf:
        zf.writestr(
            "x-1.dist-info/METADATA",
            "Name: x\nRequires-Dist: numpy>=1.26\n"
            'Requires-Dist: uvloop>=0.19; sys_platform != "win32"\n'
            'Requires-Dist: pytest>=8; extra == "test"\n',
        )
    assert images.wheel_dependencies(whl) == ["numpy>=1.26", 'uvloop>=0.19; sys_platform != "win32"']


def test_runtime_dockerfile_takes_its_base_as_a_build_arg():
    text = images.RUNTIME_DOCKERFILE.read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in text and "FROM ${BASE_IMAGE}" in text
    assert "--no-index" in text
