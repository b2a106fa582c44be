"""Pinned versions of every binary `trainyard local` builds, and how each is built.

Why these pins (see README "Pinned versions"):
- Kubernetes 1.36.3: the newest patch of 1.36, the last minor that still runs a kubelet on
  containerd 1.x and on a cgroup v1 host (with failCgroupV1: false); its CEL library has
  quantity() and optional fields, which the CRDs use.
- etcd 3.6.16: kube-apiserver 1.36 expects etcd >= 3.5.11; 3.6 is the current line.
- KWOK 0.8.0: the newest release; simulates nodes and pods against any recent apiserver.
- MinIO (module pseudo-version of 2026-02-12): the server repository is archived upstream, so
  this is the last commit; the object-store layer only uses the plain S3 API.
- Helm 3.22.0: the newest Helm 3 (charts use apiVersion v2, which Helm 3 and 4 both read).
- CoreDNS 1.15.0: the newest release; cluster DNS of a real local node (`up --real-node`), run as
  a host process on the node address with the kubernetes plugin.
"""

from __future__ import annotations

import dataclasses

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
HELM_VERSION = "v3.22.0"
COREDNS_VERSION = "v1.15.0"

_K8S_VERSION_PKGS = ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")


def _k8s_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in _K8S_VERSION_PKGS:
        flags += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


@dataclasses.dataclass(frozen=True)
class GoBuild:
    """One `go build` in a throwaway wrapper module.

    `binaries` maps the file name written into the cache to the Go main package it comes from.
    All binaries of one GoBuild are compiled by a single `go build` so shared packages are
    compiled once. `replace_staging` marks k8s.io/kubernetes, whose go.mod points each staging
    module (k8s.io/api, ...) at ./staging; outside its repository those must be replaced with
    their published v0.X.Y versions.
    """

    name: str
    module: str
    version: str
    binaries: dict[str, str]
    ldflags: str = "-s -w"
    replace_staging: bool = False
    cgo: bool = False

    @property
    def cache_key(self) -> str:
        return f"{self.name}-{self.version}"


KUBERNETES = GoBuild(
    name="kubernetes",
    module="k8s.io/kubernetes",
    version=KUBERNETES_VERSION,
    binaries={
        "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
        "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
        "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
        "kubectl": "k8s.io/kubernetes/cmd/kubectl",
        "kubelet": "k8s.io/kubernetes/cmd/kubelet",
        "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    },
    ldflags=_k8s_ldflags(KUBERNETES_VERSION),
    replace_staging=True,
)

ETCD = GoBuild(
    name="etcd",
    module="go.etcd.io/etcd/server/v3",
    version=ETCD_VERSION,
    binaries={"etcd": "go.etcd.io/etcd/server/v3"},
)

KWOK = GoBuild(
    name="kwok",
    module="sigs.k8s.io/kwok",
    version=KWOK_VERSION,
    binaries={"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
)

MINIO = GoBuild(
    name="minio",
    module="github.com/minio/minio",
    version=MINIO_VERSION,
    binaries={"minio": "github.com/minio/minio"},
)

HELM = GoBuild(
    name="helm",
    module="helm.sh/helm/v3",
    version=HELM_VERSION,
    binaries={"helm": "helm.sh/helm/v3/cmd/helm"},
)

COREDNS = GoBuild(
    name="coredns",
    module="github.com/coredns/coredns",
    version=COREDNS_VERSION,
    binaries={"coredns": "github.com/coredns/coredns"},
)

# What `trainyard local up` needs for a control plane with simulated nodes and an object store.
CONTROL_PLANE_BUILDS = (KUBERNETES, ETCD, KWOK, MINIO)
# What `trainyard local up --real-node` needs on top (kubelet and kube-proxy come with KUBERNETES).
NODE_BUILDS = (KUBERNETES, COREDNS)
ALL_BUILDS = (KUBERNETES, ETCD, KWOK, MINIO, HELM, COREDNS)


def build_for_binary(binary: str) -> GoBuild:
    for build in ALL_BUILDS:
        if binary in build.binaries:
            return build
    raise KeyError(f"no pinned build provides {binary!r}")
