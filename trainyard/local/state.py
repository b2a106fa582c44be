"""What a `trainyard local` cluster records about itself (state.json: PIDs, ports, binaries,
store keys), where it lives, which address each component binds, and the kubeconfigs and
simulated nodes it is made with — data only, no process is started here (cluster.py does that)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from trainyard.local import pki as pkimod
from trainyard.local.objectstore import BUCKET

STATE_FILE = "state.json"
KWOK_NODE_LABELS = {"type": "kwok", "trainyard.dev/pool": "kwok"}


def listen_host(st: ClusterState, port_name: str) -> str:
    """The address a component binds its recorded port on: with a real node the API server and
    the kubelet serve on the node's address (pods reach them there), not on 127.0.0.1; every
    other port, health endpoints included, is on 127.0.0.1."""
    if port_name == "apiserver":
        return st.api_host
    if port_name == "kubelet" and st.real_node:
        from trainyard.local import nodeconfig

        return nodeconfig.NODE_IP
    return "127.0.0.1"


def default_dir(name: str = "default") -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "trainyard" / "local" / name


@dataclasses.dataclass
class ClusterState:
    dir: Path
    pids: dict[str, int]
    ports: dict[str, int]
    binaries: dict[str, str]
    s3_access_key: str
    s3_secret_key: str
    nodes: int
    # A real node (`up(real_node=True)`): the API server then binds the node's own address.
    real_node: bool = False
    api_host: str = "127.0.0.1"
    images: dict[str, str] = dataclasses.field(default_factory=dict)
    sysctl_restore: dict[str, str] = dataclasses.field(default_factory=dict)
    # The process whose lifetime bounds the cluster's (a test session), or None (`trainyard local
    # up`: the cluster outlives the command on purpose). See reap_orphans().
    owner: int | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def env_file(self) -> Path:
        return self.dir / "objectstore.env"

    @property
    def server(self) -> str:
        return f"https://{self.api_host}:{self.ports['apiserver']}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['minio']}"

    def save(self) -> None:
        data = dataclasses.asdict(self)
        data["dir"] = str(self.dir)
        (self.dir / STATE_FILE).write_text(json.dumps(data, indent=2))

    @classmethod
    def load(cls, dir: Path) -> ClusterState:
        data = json.loads((dir / STATE_FILE).read_text())
        data["dir"] = Path(data["dir"])
        return cls(**data)

    def env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "TRAINYARD_S3_ENDPOINT": self.s3_endpoint,
            "TRAINYARD_S3_ACCESS_KEY": self.s3_access_key,
            "TRAINYARD_S3_SECRET_KEY": self.s3_secret_key,
            "TRAINYARD_S3_BUCKET": BUCKET,
        }


def kubeconfig_dict(server: str, pki: pkimod.Pki, user: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "trainyard-local", "cluster": {"server": server, "certificate-authority": str(pki.ca)}}],
        "users": [
            {"name": user, "user": {"client-certificate": str(pki.cert(user)), "client-key": str(pki.key(user))}}
        ],
        "contexts": [{"name": "trainyard-local", "context": {"cluster": "trainyard-local", "user": user}}],
        "current-context": "trainyard-local",
    }


def kwok_node(
    name: str, *, cpu: str = "32", memory: str = "256Gi", pods: str = "110", labels: dict[str, str] | None = None
) -> dict:
    """A simulated node that the KWOK controller keeps Ready."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                **KWOK_NODE_LABELS,
                **(labels or {}),
            },
        },
        "spec": {"taints": [{"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
            "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
        },
    }
