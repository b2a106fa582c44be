"""Fixtures shared by every tier.

Integration tests get a real control plane + MinIO from `trainyard local` (one per session),
the CRDs applied once, a fresh namespace per test, and the operator run in-process by
kopf.testing.KopfRunner against that API server.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CRD_DIR = REPO / "crds"


def pytest_collection_modifyitems(items):
    # Every test carries exactly one tier marker, taken from its folder.
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in ("unit", "integration", "e2e") and not any(m.name == tier for m in item.iter_markers()):
            item.add_marker(getattr(pytest.mark, tier))


def reap_left_behind(tmp_path_factory) -> None:
    """Stop the clusters of earlier test sessions that were killed before their teardown ran."""
    import sys

    from trainyard.local.cluster import reap_orphans

    for d in reap_orphans(tmp_path_factory.getbasetemp().parent, out=sys.stderr):
        print(f"stopped a cluster left running by a killed test session: {d}", file=sys.stderr)


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory):
    """A control plane with 2 KWOK nodes and MinIO, built from upstream and cached."""
    import sys

    from trainyard.local.cluster import LocalCluster

    reap_left_behind(tmp_path_factory)
    cluster = LocalCluster(tmp_path_factory.mktemp("cluster"), out=sys.stderr)
    state = cluster.up(nodes=2, owner=os.getpid())
    old = {k: os.environ.get(k) for k in state.env()}
    os.environ.update(state.env())
    # kubernetes reads $KUBECONFIG once, at import; a unit test may have imported it already.
    import kubernetes.config.kube_config as kube_config

    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = os.environ["KUBECONFIG"]
    try:
        yield cluster
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        cluster.down()


class Kubectl:
    """kubectl against the test cluster; returns parsed JSON where asked."""

    def __init__(self, binary: str, kubeconfig: Path):
        self.binary, self.kubeconfig = binary, kubeconfig

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [self.binary, "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr}")
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(
        self, obj: dict | list[dict], namespace: str | None = None, *extra: str, check: bool = True
    ) -> subprocess.CompletedProcess:
        docs = obj if isinstance(obj, list) else [obj]
        ns = ["-n", namespace] if namespace else []
        return self.run("apply", *ns, *extra, "-f", "-", input=yaml.safe_dump_all(docs), check=check)


@pytest.fixture(scope="session")
def kubectl(local_cluster) -> Kubectl:
    st = local_cluster.state()
    return Kubectl(st.binaries["kubectl"], st.kubeconfig)


@pytest.fixture(scope="session")
def crds(kubectl) -> list[str]:
    names = []
    for path in sorted(CRD_DIR.glob("*.yaml")):
        kubectl.run("apply", "--server-side", "-f", str(path))
        names.append(yaml.safe_load(path.read_text())["metadata"]["name"])
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])
    return names


@pytest.fixture
def namespace(kubectl, crds, request) -> str:
    name = f"t-{request.node.name[:40].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:5]}"
    name = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in name)
    kubectl.run("create", "namespace", name)
    yield name
    kubectl.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def operator(local_cluster, crds, namespace):
    """The kopf operator, in-process, watching the test's namespace."""
    from kopf.testing import KopfRunner

    args = ["run", "--standalone", "--namespace", namespace, "--verbose", "-m", "trainyard.operator.main"]
    # Objects created before kopf's watch opens are still handled: it lists, then watches.
    with KopfRunner(args, timeout=60) as runner:
        yield runner
    assert runner.exception is None, runner.exception
    assert runner.exit_code == 0, runner.output


def wait_for(check, *, what: str, timeout: float = 30.0, interval: float = 0.1):
    """Poll `check` until it returns a truthy value; bounded, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    """A real MinIO server (pinned upstream build) with the `trainyard` bucket, for tests of the
    storage layer and the runtime that need no Kubernetes API."""
    from trainyard.local import objectstore

    store = objectstore.start(tmp_path_factory.mktemp("minio") / "data")
    try:
        yield store
    finally:
        store.stop()


@pytest.fixture(scope="session")
def process_kubelet(local_cluster, tmp_path_factory):
    """A Node (label trainyard.dev/pool=default, the examples' pool) whose pods run as local processes."""
    import kubernetes

    from tests.support.process_kubelet import ProcessKubelet

    st = local_cluster.state()
    api = kubernetes.config.new_client_from_config(config_file=str(st.kubeconfig))
    kubelet = ProcessKubelet(
        api,
        "process-node-0",
        tmp_path_factory.mktemp("process-kubelet"),
        api_url=st.server,
        ca_file=st.dir / "pki" / "ca.crt",
        labels={"trainyard.dev/pool": "default"},
    ).start()
    try:
        yield kubelet
    finally:
        kubelet.stop()


def get_status(kubectl, kind: str, name: str, namespace: str) -> dict:
    return kubectl.json("get", kind, name, "-n", namespace).get("status") or {}


def wait_for_phase(kubectl, name: str, namespace: str, phases, timeout: float = 60.0) -> dict:
    phases = (phases,) if isinstance(phases, str) else tuple(phases)
    return wait_for(
        lambda: (lambda s: s if s.get("phase") in phases else None)(get_status(kubectl, "tr", name, namespace)),
        what=f"run {name} to reach {phases}",
        timeout=timeout,
    )
