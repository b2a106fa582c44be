"""Fixtures of the e2e tier: a control plane with a real node (containerd, kubelet, kube-proxy,
CoreDNS) and the locally built images, one per session."""

from __future__ import annotations

import os
import shutil
import sys

import pytest


def _prerequisites_missing() -> str | None:
    if os.geteuid() != 0:
        return "a real node needs root"
    from trainyard.local.node import REQUIRED_TOOLS

    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing {', '.join(missing)}: run scripts/install-node-deps"
    return None


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory):
    """`trainyard local up --real-node --nodes 0`; torn down (idempotently) at session end."""
    reason = _prerequisites_missing()
    if reason:
        pytest.skip(reason)
    from trainyard.local.cluster import LocalCluster

    cluster = LocalCluster(tmp_path_factory.mktemp("real-cluster"), out=sys.stderr)
    cluster.up(nodes=0, real_node=True, timeout=180)
    try:
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="session")
def real_kubectl(real_cluster):
    from tests.conftest import Kubectl

    st = real_cluster.state()
    return Kubectl(st.binaries["kubectl"], st.kubeconfig)


@pytest.fixture
def real_namespace(real_kubectl, request):
    name = f"e2e-{request.node.name[:30].lower().replace('_', '-').strip('-')}"
    real_kubectl.run("create", "namespace", name)
    yield name
    real_kubectl.run("delete", "namespace", name, "--wait=false", check=False)
