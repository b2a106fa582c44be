"""Configuration files of a real local node: containerd, CNI, kubelet, kube-proxy, CoreDNS.

Pure functions from paths and addresses to file contents, so they are unit-testable. The
addresses are all on interfaces the node creates itself: NODE_IP on a host-only veth pair (the API
server, kubelet, CoreDNS bind it), the pod subnet on the node's own CNI bridge, and the
service range, which only exists as kube-proxy's iptables rules.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

NODE_NAME = "trainyard-node"
NODE_IP = "10.0.0.1"  # on NODE_IF, which `up` creates and `down` deletes
NODE_IF = "trainyard0"  # a host-only veth pair; deleting one end deletes both
NODE_IF_PEER = "trainyard0p"
BRIDGE_IF = "trainyard-cni0"  # Linux interface names are at most 15 characters
POD_CIDR = "10.244.0.0/24"
CLUSTER_DNS_IP = "10.96.0.10"  # inside cluster.SERVICE_CIDR
CLUSTER_DOMAIN = "cluster.local"
CNI_BIN_DIR = "/usr/lib/cni"  # Debian's containernetworking-plugins
# The default pool, as kind-config.yaml labels its workers: the chart's cpu-cluster selects it.
NODE_LABELS = {"trainyard.dev/pool": "default", "trainyard.dev/real-node": "true"}


@dataclasses.dataclass(frozen=True)
class NodePaths:
    """Everything of the node lives under `<cluster dir>/node`."""

    root: Path

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd.toml"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd" / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet-config.yaml"

    @property
    def resolv_conf(self) -> Path:
        return self.root / "resolv.conf"

    @property
    def corefile(self) -> Path:
        return self.root / "Corefile"


def containerd_toml(paths: NodePaths, sandbox_image: str) -> str:
    """containerd 1.6 (config version 2): own root/state/socket, CRI with cgroupfs runc,
    overlayfs, our CNI config, and the locally built pause image as the sandbox."""
    p = paths
    return f"""version = 2
root = "{p.containerd_root}"
state = "{p.containerd_state}"

[grpc]
  address = "{p.containerd_socket}"

[ttrpc]
  address = "{p.containerd_socket}.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{p.root / "containerd" / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  # This machine's root lacks CAP_SYS_RESOURCE: no process may lower its oom_score_adj, and runc
  # fails to start a sandbox whose spec asks for the kubelet's -998. Clamp to containerd's own.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  max_container_log_line_size = 16384

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    discard_unpacked_layers = false

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{p.cni_conf_dir}"
    max_conf_num = 1
"""


def cni_conflist(paths: NodePaths) -> dict:
    return {
        "cniVersion": "0.4.0",
        "name": "trainyard",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE_IF,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(paths: NodePaths, *, ca: Path, tls_cert: Path, tls_key: Path, port: int, healthz_port: int) -> dict:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(tls_cert),
        "tlsPrivateKeyFile": str(tls_key),
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        # This host has cgroup v1 (cpu, memory, ... each mounted on its own) and no systemd.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "clusterDNS": [CLUSTER_DNS_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(paths.resolv_conf),
        "podCIDR": POD_CIDR,
        "maxPods": 110,
        "serializeImagePulls": False,
        # Shared development machines: never evict for a fairly full disk, never GC our images.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "nodeStatusReportFrequency": "10s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "staticPodPath": "",
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "protectKernelDefaults": False,
        "shutdownGracePeriod": "0s",
    }


def resolv_conf() -> str:
    # Pods with dnsPolicy Default (and CoreDNS's own view) see only the node's DNS: nothing is
    # ever forwarded to the machine's resolver.
    return f"nameserver {NODE_IP}\nsearch {CLUSTER_DOMAIN}\noptions ndots:1\n"


def corefile(kubeconfig: Path, *, health_port: int, ready_port: int) -> str:
    """Cluster names from the API; every other name is NXDOMAIN (pods here have no upstream)."""
    return f"""{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig} trainyard-local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
.:53 {{
    bind {NODE_IP}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""


def kube_proxy_argv(binary: str, kubeconfig: Path, *, healthz_port: int, metrics_port: int) -> list[str]:
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        "--proxy-mode=iptables",
        f"--cluster-cidr={POD_CIDR}",
        f"--hostname-override={NODE_NAME}",
        f"--healthz-bind-address=127.0.0.1:{healthz_port}",
        f"--metrics-bind-address=127.0.0.1:{metrics_port}",
        # NodePorts only on the node's own address, never on the machine's real interfaces.
        f"--nodeport-addresses={NODE_IP}/32",
        # Leave the machine's conntrack table size alone (it is not ours to tune).
        "--conntrack-max-per-core=0",
        "--v=1",
    ]


def dns_objects() -> list[dict]:
    """The kube-dns Service (the cluster DNS IP) in front of CoreDNS on NODE_IP, and the RBAC that
    lets CoreDNS's client certificate read what it serves."""
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": "trainyard:coredns"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "trainyard:coredns"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "trainyard:coredns"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "system:coredns"}],
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": "kube-dns",
                "namespace": "kube-system",
                "labels": {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS"},
            },
            "spec": {
                "clusterIP": CLUSTER_DNS_IP,
                "ports": [
                    {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                    {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                ],
            },
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-node",
                "namespace": "kube-system",
                "labels": {
                    "kubernetes.io/service-name": "kube-dns",
                    "endpointslice.kubernetes.io/managed-by": "trainyard.dev",
                },
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}, "nodeName": NODE_NAME}],
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP"},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
            ],
        },
    ]


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
