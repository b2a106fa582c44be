"""A real node beside the local control plane: containerd + runc, the CNI bridge, a kubelet,
kube-proxy (iptables) and CoreDNS, all as host processes started and stopped by PID.

`prepare_network()` runs before the API server starts: it creates the interface that
carries NODE_IP, which the API server binds and advertises (so pods reach it through the
`kubernetes` Service), and turns on IP forwarding. `start()` runs after the control plane is up.
`stop()` tears down in reverse: pods first (through the kubelet, so CNI and mounts are cleaned
by the runtime), then the daemons, then anything a crash left behind (container processes,
shims, mounts, network namespaces, iptables chains, interfaces). Needs root, and the packages of
scripts/install-node-deps.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import yaml

from trainyard.local import images, nodeclean
from trainyard.local import nodeconfig as cfg
from trainyard.local import pki as pkimod
from trainyard.local.build import binary_path, ensure_all
from trainyard.local.processes import StartError, alive, free_port, http_ok, spawn, stop, wait_until
from trainyard.local.versions import NODE_BUILDS

NODE_DAEMONS = ("containerd", "kubelet", "kube-proxy", "coredns")
REQUIRED_TOOLS = ("containerd", "containerd-shim-runc-v2", "runc", "ctr", "iptables", "conntrack", "ip", "podman")


def check_prerequisites() -> None:
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if not Path(cfg.CNI_BIN_DIR, "bridge").exists():
        missing.append(f"CNI plugins in {cfg.CNI_BIN_DIR}")
    if missing:
        raise StartError(f"a real node needs {', '.join(missing)}: run scripts/install-node-deps as root")
    if not Path("/proc/sys/net/ipv4/ip_forward").exists() or not _is_root():
        raise StartError("a real node needs root (network interfaces, mounts, iptables)")


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def prepare_network(state_dir: Path) -> dict[str, str]:
    """Create the node's address and enable forwarding; returns what to restore on `stop`."""
    # A veth pair with both ends on the host: this kernel has no `dummy` driver (CONFIG_DUMMY is
    # not set). The address is local to the host, so packets from pods to it are delivered here.
    if _ip("link", "show", cfg.NODE_IF, check=False).returncode != 0:
        _ip("link", "add", cfg.NODE_IF, "type", "veth", "peer", "name", cfg.NODE_IF_PEER)
    if cfg.NODE_IP not in _ip("-4", "addr", "show", cfg.NODE_IF).stdout:
        _ip("addr", "add", f"{cfg.NODE_IP}/32", "dev", cfg.NODE_IF)
    _ip("link", "set", cfg.NODE_IF_PEER, "up")
    _ip("link", "set", cfg.NODE_IF, "up")
    restore = {}
    for key in ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables"):
        path = Path("/proc/sys") / key
        if path.exists():
            restore[key] = path.read_text().strip()
            path.write_text("1\n")
    return restore


class RealNode:
    def __init__(self, cluster_dir: Path, *, out: TextIO | None = None):
        self.dir = cluster_dir
        self.paths = cfg.NodePaths(cluster_dir / "node")
        self.logs = cluster_dir / "logs"
        self.out = out

    def _say(self, msg: str) -> None:
        if self.out is not None:
            self.out.write(f"trainyard local: {msg}\n")
            self.out.flush()

    # ---- start -------------------------------------------------------------------------------
    def start(
        self, st, pki: pkimod.Pki, kubectl: Callable[..., subprocess.CompletedProcess], *, timeout: float
    ) -> None:
        """Start containerd, import the images, then kubelet, kube-proxy and CoreDNS.
        `st` is the ClusterState: PIDs and ports are recorded in it as they start."""
        ensure_all(NODE_BUILDS, out=self.out)
        imgs = images.node_images(self.out)
        p = self.paths
        for d in (p.root, p.cni_conf_dir, p.cni_ipam_dir, p.kubelet_dir, p.containerd_root, p.containerd_state):
            d.mkdir(parents=True, exist_ok=True)
        self._certs(st, pki)
        ports = {
            k: free_port()
            for k in (
                "kubelet",
                "kubelet-healthz",
                "kube-proxy-healthz",
                "kube-proxy-metrics",
                "coredns-health",
                "coredns-ready",
            )
        }
        st.ports.update(ports)

        def run(name: str, argv: list[str]) -> int:
            st.pids[name] = spawn(argv, self.logs / f"{name}.log")
            st.binaries.setdefault(name, argv[0])
            st.save()
            return st.pids[name]

        # containerd and the images
        p.containerd_config.write_text(cfg.containerd_toml(p, imgs["pause"][0]))
        cfg.write_json(p.cni_conf_dir / "10-trainyard.conflist", cfg.cni_conflist(p))
        run("containerd", [shutil.which("containerd") or "containerd", f"--config={p.containerd_config}"])
        wait_until(
            lambda: p.containerd_socket.exists() and self.ctr("version", check=False).returncode == 0,
            what="containerd",
            pid=st.pids["containerd"],
            log=self.logs / "containerd.log",
            timeout=timeout,
        )
        started = time.monotonic()
        images.import_into_containerd([tar for _, tar in imgs.values()], address=str(p.containerd_socket))
        st.images = {name: ref for name, (ref, _) in imgs.items()}
        self._say(f"imported {', '.join(st.images.values())} in {time.monotonic() - started:.1f}s")

        # kubelet
        p.resolv_conf.write_text(cfg.resolv_conf())
        kcfg = cfg.kubelet_config(
            p,
            ca=pki.ca,
            tls_cert=pki.cert("kubelet-serving"),
            tls_key=pki.key("kubelet-serving"),
            port=ports["kubelet"],
            healthz_port=ports["kubelet-healthz"],
        )
        p.kubelet_config.write_text(yaml.safe_dump(kcfg))
        labels = ",".join(f"{k}={v}" for k, v in cfg.NODE_LABELS.items())
        run(
            "kubelet",
            [
                str(binary_path("kubelet")),
                f"--config={p.kubelet_config}",
                f"--kubeconfig={self.dir / 'kubelet.kubeconfig'}",
                f"--root-dir={p.kubelet_dir}",
                f"--cert-dir={p.root / 'kubelet-pki'}",
                f"--hostname-override={cfg.NODE_NAME}",
                f"--node-ip={cfg.NODE_IP}",
                f"--node-labels={labels}",
                "--v=1",
            ],
        )
        run(
            "kube-proxy",
            cfg.kube_proxy_argv(
                str(binary_path("kube-proxy")),
                self.dir / "kube-proxy.kubeconfig",
                healthz_port=ports["kube-proxy-healthz"],
                metrics_port=ports["kube-proxy-metrics"],
            ),
        )
        kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": cfg.dns_objects()}))
        p.corefile.write_text(
            cfg.corefile(
                self.dir / "coredns.kubeconfig", health_port=ports["coredns-health"], ready_port=ports["coredns-ready"]
            )
        )
        run("coredns", [str(binary_path("coredns")), "-conf", str(p.corefile)])

        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{ports['kubelet-healthz']}/healthz"),
            what="kubelet",
            pid=st.pids["kubelet"],
            log=self.logs / "kubelet.log",
            timeout=timeout,
        )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{ports['kube-proxy-healthz']}/healthz"),
            what="kube-proxy",
            pid=st.pids["kube-proxy"],
            log=self.logs / "kube-proxy.log",
            timeout=timeout,
        )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{ports['coredns-ready']}/ready"),
            what="coredns",
            pid=st.pids["coredns"],
            log=self.logs / "coredns.log",
            timeout=timeout,
        )
        wait_until(
            lambda: (
                kubectl(
                    "wait", "--for=condition=Ready", f"node/{cfg.NODE_NAME}", "--timeout=2s", check=False
                ).returncode
                == 0
            ),
            what=f"node {cfg.NODE_NAME} Ready",
            pid=st.pids["kubelet"],
            log=self.logs / "kubelet.log",
            timeout=timeout,
        )

    def _certs(self, st, pki: pkimod.Pki) -> None:
        from trainyard.local.cluster import kubeconfig_dict

        pkimod.issue_server_cert(
            pki,
            "kubelet-serving",
            f"system:node:{cfg.NODE_NAME}",
            ips=[cfg.NODE_IP, "127.0.0.1"],
            dns=[cfg.NODE_NAME, "localhost"],
        )
        identities = {
            "kubelet": (f"system:node:{cfg.NODE_NAME}", "system:nodes"),
            "kube-proxy": ("system:kube-proxy", None),
            "coredns": ("system:coredns", None),
        }
        for stem, (cn, org) in identities.items():
            pkimod.issue_client_cert(pki, stem, cn, org)
            path = self.dir / f"{stem}.kubeconfig"
            path.write_text(yaml.safe_dump(kubeconfig_dict(st.server, pki, stem)))
            path.chmod(0o600)

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ctr", "--address", str(self.paths.containerd_socket), "-n", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    # ---- stop --------------------------------------------------------------------------------
    def stop(
        self, st, kubectl: Callable[..., subprocess.CompletedProcess] | None, *, timeout: float = 60.0
    ) -> list[str]:
        """Tear the node down; `kubectl` is None when the API server is already gone."""
        stopped: list[str] = []
        began = time.monotonic()
        containerd_up = alive(st.pids.get("containerd", 0)) and self.paths.containerd_socket.exists()
        if kubectl is not None and alive(st.pids.get("kubelet", 0)) and containerd_up:
            self._drain_pods(kubectl, timeout=timeout)
        self._say(f"pods stopped in {time.monotonic() - began:.1f}s")
        for name in ("coredns", "kube-proxy", "kubelet"):
            if self._stop(st, name):
                stopped.append(name)
        if containerd_up:
            nodeclean.kill_tasks(self)  # whatever the kubelet did not stop
        if self._stop(st, "containerd"):
            stopped.append("containerd")
        nodeclean.after_daemons(self, kube_proxy=binary_path("kube-proxy", build_missing=False))
        for key, value in (getattr(st, "sysctl_restore", None) or {}).items():
            Path("/proc/sys", key).write_text(value + "\n")
        self._say(f"node stopped and cleaned in {time.monotonic() - began:.1f}s")
        return stopped

    def _stop(self, st, name: str) -> bool:
        pid = st.pids.pop(name, None)
        if pid and alive(pid):
            stop(pid, expect_in_cmdline=Path(st.binaries.get(name, name)).name)
            return True
        return False

    def _drain_pods(self, kubectl, *, timeout: float) -> None:
        """Delete every pod on the node and wait (bounded) until the runtime runs no container:
        the kubelet then stops each sandbox through CRI, which tears down its CNI network."""
        kubectl("delete", "pods", "--all-namespaces", "--all", "--grace-period=1", "--wait=false", check=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not nodeclean.running_tasks(self):
                return
            time.sleep(0.5)
        self._say("pods did not all stop in time; killing what is left")
