"""`trainyard local`: a throwaway control plane + object store on 127.0.0.1, no Docker needed.

etcd, kube-apiserver, kube-controller-manager (garbage collection, Jobs, namespaces, service
accounts), kube-scheduler, a KWOK controller with simulated nodes, and MinIO with a bucket. Every
daemon runs from a binary built from its pinned upstream Go module (see versions.py/build.py),
listens on 127.0.0.1 on a free port, logs into the state directory, and is stopped by PID.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import TextIO

import yaml

from trainyard.local import pki as pkimod
from trainyard.local.build import binary_path, ensure_all
from trainyard.local.objectstore import BUCKET, minio_argv, minio_env
from trainyard.local.processes import (
    StartError,
    alive,
    client_tls,
    free_port,
    http_ok,
    insecure_tls,
    port_listening,
    spawn,
    stop,
    wait_until,
)
from trainyard.local.state import (  # noqa: F401  (re-exported: callers import them from here)
    KWOK_NODE_LABELS,
    STATE_FILE,
    ClusterState,
    default_dir,
    kubeconfig_dict,
    kwok_node,
    listen_host,
)
from trainyard.local.versions import CONTROL_PLANE_BUILDS

SERVICE_CIDR = "10.96.0.0/16"
KWOK_STAGES = Path(__file__).with_name("kwok_stages.yaml")


def reap_orphans(root: Path, pattern: str = "*/*/" + STATE_FILE, *, out: TextIO | None = None) -> list[Path]:
    """Stop the clusters under `root` whose owner process is gone but whose daemons still run —
    what a killed test session leaves behind (its teardown never ran). Clusters without an owner
    are never touched. Returns the directories of the clusters stopped."""
    reaped = []
    for state_file in sorted(Path(root).glob(pattern)):
        try:
            st = ClusterState.load(state_file.parent)
        except (OSError, ValueError, TypeError):
            continue
        if st.owner and not alive(st.owner) and any(alive(p) for p in st.pids.values()):
            LocalCluster(state_file.parent, out=out).down()
            reaped.append(state_file.parent)
    return reaped


class LocalCluster:
    def __init__(self, dir: Path | None = None, *, out: TextIO | None = None):
        self.dir = Path(dir) if dir else default_dir()
        self.out = out

    def _say(self, msg: str) -> None:
        if self.out is not None:
            self.out.write(msg + "\n")
            self.out.flush()

    # ---- state -------------------------------------------------------------------------------
    def state(self) -> ClusterState | None:
        try:
            return ClusterState.load(self.dir)
        except FileNotFoundError:
            return None

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        st = self.state()
        if st is None:
            raise StartError(f"no local cluster in {self.dir}")
        return subprocess.run(
            [st.binaries["kubectl"], "--kubeconfig", str(st.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            check=check,
        )

    # ---- up ----------------------------------------------------------------------------------
    def up(
        self, *, nodes: int = 2, timeout: float = 120.0, real_node: bool = False, owner: int | None = None
    ) -> ClusterState:
        """Start the control plane with `nodes` simulated nodes; with `real_node`, also a real node
        (containerd, kubelet, kube-proxy, CoreDNS; see node.py), which needs root. `owner`: the PID
        whose death makes the cluster an orphan for reap_orphans()."""
        existing = self.state()
        if existing and any(alive(p) for p in existing.pids.values()):
            raise StartError(f"a local cluster already runs from {self.dir}; `trainyard local down` first")
        started = time.monotonic()
        ensure_all(CONTROL_PLANE_BUILDS, out=self.out)
        if real_node:
            from trainyard.local import node as nodemod

            nodemod.check_prerequisites()
        if self.dir.exists():
            if real_node or (self.dir / "node").exists():
                from trainyard.local import nodeclean

                nodeclean.unmount_all(self.dir)  # a node that crashed may have left mounts here
            shutil.rmtree(self.dir)
        (self.dir / "logs").mkdir(parents=True)
        node_ips = []
        if real_node:
            from trainyard.local.nodeconfig import NODE_IP

            node_ips = [NODE_IP]
        pki = pkimod.generate(self.dir / "pki", ips=node_ips)
        bins = {
            b: str(binary_path(b))
            for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "minio")
        }
        ports = {
            k: free_port()
            for k in (
                "etcd",
                "etcd-peer",
                "apiserver",
                "controller-manager",
                "scheduler",
                "kwok",
                "minio",
                "minio-console",
            )
        }
        st = ClusterState(
            dir=self.dir,
            pids={},
            ports=ports,
            binaries=bins,
            s3_access_key="trainyard",
            s3_secret_key=secrets.token_urlsafe(18),
            nodes=nodes,
            real_node=real_node,
            api_host=node_ips[0] if node_ips else "127.0.0.1",
            owner=owner,
        )
        try:
            if real_node:
                st.save()
                st.sysctl_restore = nodemod.prepare_network(self.dir)
            self._start(st, pki, timeout=timeout)
            self._create_nodes(st, nodes, timeout=timeout)
            self._create_bucket(st)
            if real_node:
                nodemod.RealNode(self.dir, out=self.out).start(st, pki, self.kubectl, timeout=timeout)
        except BaseException:
            st.save()
            self.down()
            raise
        self._write_env_file(st)
        st.save()
        self._say(
            f"trainyard local: up in {time.monotonic() - started:.1f}s — "
            f"API {st.server}, object store {st.s3_endpoint}, {nodes} simulated node(s)"
            + (", 1 real node" if real_node else "")
        )
        return st

    def _start(self, st: ClusterState, pki: pkimod.Pki, *, timeout: float) -> None:
        p, b, logs = st.ports, st.binaries, self.dir / "logs"

        def run(name: str, argv: list[str], env: dict[str, str] | None = None) -> int:
            st.pids[name] = spawn(argv, logs / f"{name}.log", env=env)
            st.save()
            return st.pids[name]

        run(
            "etcd",
            [
                b["etcd"],
                "--name=default",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--advertise-client-urls=http://127.0.0.1:{p['etcd']}",
                f"--listen-peer-urls=http://127.0.0.1:{p['etcd-peer']}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p['etcd-peer']}",
                f"--initial-cluster=default=http://127.0.0.1:{p['etcd-peer']}",
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=4294967296",
                "--log-level=warn",
            ],
        )
        run(
            "minio",
            minio_argv(b["minio"], self.dir / "minio", p["minio"], p["minio-console"]),
            env=minio_env(st.s3_access_key, st.s3_secret_key),
        )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{p['etcd']}/health", expect=b'"health":"true"'),
            what="etcd",
            pid=st.pids["etcd"],
            log=logs / "etcd.log",
            timeout=timeout,
        )

        run(
            "apiserver",
            [
                b["kube-apiserver"],
                f"--etcd-servers=http://127.0.0.1:{p['etcd']}",
                f"--bind-address={st.api_host}",
                f"--advertise-address={st.api_host}",
                f"--secure-port={p['apiserver']}",
                f"--tls-cert-file={pki.cert('apiserver')}",
                f"--tls-private-key-file={pki.key('apiserver')}",
                f"--client-ca-file={pki.ca}",
                f"--service-account-key-file={pki.sa_pub}",
                f"--service-account-signing-key-file={pki.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--profiling=false",
                # With a real node the `kubernetes` Service gets the API server's address as endpoint.
                f"--endpoint-reconciler-type={'lease' if st.real_node else 'none'}",
                # Reach kubelets (logs, exec) by their node IP, never by resolving a node name.
                "--kubelet-preferred-address-types=InternalIP",
                f"--kubelet-client-certificate={pki.cert('apiserver-kubelet-client')}",
                f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
                f"--cert-dir={self.dir / 'apiserver-certs'}",
                "--v=1",
            ],
        )
        for user in ("admin", "controller-manager", "scheduler", "kwok"):
            path = self.dir / ("kubeconfig" if user == "admin" else f"{user}.kubeconfig")
            path.write_text(yaml.safe_dump(kubeconfig_dict(st.server, pki, user)))
            path.chmod(0o600)
        admin_tls = client_tls(pki.ca, pki.cert("admin"), pki.key("admin"))
        wait_until(
            lambda: http_ok(f"{st.server}/readyz", context=admin_tls),
            what="kube-apiserver",
            pid=st.pids["apiserver"],
            log=logs / "apiserver.log",
            timeout=timeout,
        )

        run(
            "controller-manager",
            [
                b["kube-controller-manager"],
                f"--kubeconfig={self.dir / 'controller-manager.kubeconfig'}",
                f"--authentication-kubeconfig={self.dir / 'controller-manager.kubeconfig'}",
                f"--authorization-kubeconfig={self.dir / 'controller-manager.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['controller-manager']}",
                "--leader-elect=false",
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca}",
                f"--cluster-signing-cert-file={pki.ca}",
                f"--cluster-signing-key-file={pki.key('ca')}",
                f"--cert-dir={self.dir / 'controller-manager-certs'}",
                "--controllers=*,tokencleaner",
                "--concurrent-job-syncs=10",
                "--v=1",
                # Each controller runs as its own service account, which the bootstrap RBAC policy
                # grants what it needs (the Job controller creating pods, node lifecycle, ...).
                "--use-service-account-credentials=true",
            ],
        )
        run(
            "scheduler",
            [
                b["kube-scheduler"],
                f"--kubeconfig={self.dir / 'scheduler.kubeconfig'}",
                f"--authentication-kubeconfig={self.dir / 'scheduler.kubeconfig'}",
                f"--authorization-kubeconfig={self.dir / 'scheduler.kubeconfig'}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p['scheduler']}",
                "--leader-elect=false",
                f"--cert-dir={self.dir / 'scheduler-certs'}",
                "--v=1",
            ],
        )
        run(
            "kwok",
            [
                b["kwok"],
                f"--kubeconfig={self.dir / 'kwok.kubeconfig'}",
                f"--config={KWOK_STAGES}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                "--node-ip=10.244.0.1",
                f"--server-address=127.0.0.1:{p['kwok']}",
                "--node-lease-duration-seconds=40",
            ],
        )
        insecure = insecure_tls()
        for name in ("controller-manager", "scheduler"):
            wait_until(
                lambda n=name: http_ok(f"https://127.0.0.1:{p[n]}/healthz", context=insecure),
                what=name,
                pid=st.pids[name],
                log=logs / f"{name}.log",
                timeout=timeout,
            )
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{p['kwok']}/healthz"),
            what="kwok",
            pid=st.pids["kwok"],
            log=logs / "kwok.log",
            timeout=timeout,
        )
        wait_until(
            lambda: http_ok(f"{st.s3_endpoint}/minio/health/ready"),
            what="minio",
            pid=st.pids["minio"],
            log=logs / "minio.log",
            timeout=timeout,
        )
        # The service-account controller works once `default` has its ServiceAccount; pods need it.
        wait_until(
            lambda: self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode == 0,
            what="controller-manager's service accounts",
            pid=st.pids["controller-manager"],
            log=logs / "controller-manager.log",
            timeout=timeout,
        )

    def _create_nodes(self, st: ClusterState, count: int, *, timeout: float) -> None:
        if count <= 0:
            return
        items = [kwok_node(f"kwok-node-{i}") for i in range(count)]
        self.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
        wait_until(
            lambda: (
                self.kubectl(
                    "wait", "--for=condition=Ready", "node", "-l", "type=kwok", "--timeout=2s", check=False
                ).returncode
                == 0
            ),
            what="simulated nodes",
            pid=st.pids["kwok"],
            log=self.dir / "logs" / "kwok.log",
            timeout=timeout,
        )

    def _create_bucket(self, st: ClusterState) -> None:
        from minio import Minio

        client = Minio(
            st.s3_endpoint.removeprefix("http://"),
            access_key=st.s3_access_key,
            secret_key=st.s3_secret_key,
            secure=False,
        )
        if not client.bucket_exists(BUCKET):
            client.make_bucket(BUCKET)

    def _write_env_file(self, st: ClusterState) -> None:
        st.env_file.write_text("".join(f"export {k}={v}\n" for k, v in st.env().items()))
        st.env_file.chmod(0o600)

    # ---- down / status -----------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every daemon this cluster started; return the names of those that were running."""
        st = self.state()
        if st is None:
            return []
        stopped = []
        if st.real_node:
            stopped += self._down_real_node(st)
        order = ["kwok", "scheduler", "controller-manager", "apiserver", "minio", "etcd"]
        for name in order + [n for n in st.pids if n not in order]:
            pid = st.pids.get(name)
            if pid and alive(pid):
                binary = st.binaries.get(
                    {
                        "apiserver": "kube-apiserver",
                        "controller-manager": "kube-controller-manager",
                        "scheduler": "kube-scheduler",
                    }.get(name, name),
                    name,
                )
                stop(pid, expect_in_cmdline=binary)
                stopped.append(name)
        st.pids = {}
        st.save()
        return stopped

    def _down_real_node(self, st: ClusterState) -> list[str]:
        """Stop what schedules or recreates pods, then the node (its pods first, via the kubelet)."""
        from trainyard.local.node import RealNode

        stopped = []
        for name, binary in (("scheduler", "kube-scheduler"), ("controller-manager", "kube-controller-manager")):
            pid = st.pids.pop(name, None)
            if pid and alive(pid):
                stop(pid, expect_in_cmdline=st.binaries.get(binary, binary))
                stopped.append(name)
        st.save()
        api_up = alive(st.pids.get("apiserver", 0))
        stopped += RealNode(self.dir, out=self.out).stop(st, self.kubectl if api_up else None)
        st.save()
        return stopped

    def status(self) -> dict[str, dict]:
        st = self.state()
        if st is None:
            return {}
        report = {}
        for name, pid in st.pids.items():
            port = st.ports.get(name)
            report[name] = {
                "pid": pid,
                "running": alive(pid),
                "port": port,
                "listening": bool(port and port_listening(port, listen_host(st, name))),
            }
        return report

    def listening_ports(self) -> list[int]:
        st = self.state()
        return [port for name, port in (st.ports.items() if st else []) if port_listening(port, listen_host(st, name))]
