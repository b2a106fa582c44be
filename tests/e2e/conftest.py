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


REAL_NODE_LOCK = "/run/lock/trainyard-real-node.lock"
_held = []


def _lock_the_real_node(timeout: float = 3600) -> None:
    """A real node owns machine-wide names (NODE_IP, its interfaces, iptables chains, the CNI
    bridge): two sessions at once break each other. Wait (bounded) for any other session's node."""
    import fcntl
    import time

    fh = open(REAL_NODE_LOCK, "w")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            _held.append(fh)  # released when this process exits
            return
        except BlockingIOError:
            if time.monotonic() > deadline:
                pytest.fail(f"another session held {REAL_NODE_LOCK} (a real node) for {timeout:.0f}s")
            time.sleep(2)


@pytest.fixture(scope="session")
def real_cluster(tmp_path_factory):
    """`trainyard local up --real-node --nodes 0`; torn down (idempotently) at session end."""
    reason = _prerequisites_missing()
    if reason:
        if os.environ.get("CI") == "true":  # CI must run every tier: a skip there would read as green
            pytest.fail(f"CI=true but the e2e tier cannot run: {reason}")
        pytest.skip(reason)
    from tests.conftest import reap_left_behind
    from trainyard.local.cluster import LocalCluster

    _lock_the_real_node()
    reap_left_behind(tmp_path_factory)  # a killed session's node would hold the node's addresses
    cluster = LocalCluster(tmp_path_factory.mktemp("real-cluster"), out=sys.stderr)
    cluster.up(nodes=0, real_node=True, timeout=180, owner=os.getpid())
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


DEFAULT_TEST_TIMEOUT = 600


def pytest_collection_modifyitems(items):
    # test_real_node's teardown test stops the session's cluster: it must run after every other.
    last = [i for i in items if i.name == "test_down_leaves_no_process_port_interface_or_mount"]
    items[:] = [i for i in items if i not in last] + last
    # Each e2e test's timeout is its own waits (its `timeout` mark, else the default); the
    # session fixtures (the real-node lock, image builds, helm install) are bounded by their own
    # timeouts, so they are not counted against the first test that happens to set them up.
    for item in items:
        if "/e2e/" not in str(item.fspath):
            continue
        mark = item.get_closest_marker("timeout")
        seconds = mark.args[0] if mark and mark.args else DEFAULT_TEST_TIMEOUT
        item.add_marker(pytest.mark.timeout(seconds, func_only=True), append=False)


@pytest.fixture(scope="session")
def trainyard_release(real_cluster):
    """The Helm chart installed on the real node with the locally built images (as the main job
    does); uninstalled at session end if a test left it installed."""
    from trainyard.local import appimages, chart
    from trainyard.local.build import binary_path
    from trainyard.local.images import import_into_containerd
    from trainyard.local.nodeconfig import NodePaths

    built = appimages.chart_images(sys.stderr)
    import_into_containerd(
        [tar for _, tar in built.values()], address=str(NodePaths(real_cluster.dir / "node").containerd_socket)
    )
    st = real_cluster.state()
    helm = chart.Helm(str(binary_path("helm")), st.binaries["kubectl"], st.kubeconfig)
    values = chart.local_values(appimages.chart_values({k: ref for k, (ref, _) in built.items()}), real_cluster.dir)
    helm.install(values, timeout_s=600)
    helm.values = values
    try:
        yield helm
    finally:
        import subprocess

        subprocess.run(helm.helm_cmd("uninstall", helm.release, "--wait", "--timeout=120s"), capture_output=True)
