"""ComputeCluster on the real API server with KWOK nodes: runs queue for capacity, the pool scales
between min and max and back, a run survives its spot node being deleted, deletion waits for runs."""

from __future__ import annotations

import time

import pytest

from tests.conftest import get_status, wait_for, wait_for_phase
from tests.integration.test_crd_validation import compute_cluster, training_run

NS_LABEL = "trainyard.dev/compute-namespace"


def pool_cluster(namespace: str, name: str = "pool", **spec) -> dict:
    """A kwok pool with a selector of its own (the session's shared KWOK nodes never match)."""
    base = dict(
        nodeSelector={"trainyard.dev/pool": namespace},
        minNodes=0,
        maxNodes=5,
        idleSecondsBeforeScaleDown=2,
        scaleCooldownSeconds=1,
        nodeResources={"cpu": "2", "memory": "4Gi"},
    )
    base.update(spec)
    cc = compute_cluster(name=name, **base)
    del cc["spec"]["instanceType"]
    return cc


def sim_run(name: str, compute: str = "pool", delay: str = "2s", **spec) -> dict:
    run = training_run(name=name, compute=compute, resources={"cpu": "1", "memory": "1Gi"}, **spec)
    run["metadata"]["annotations"] = {"pod-complete.stage.kwok.x-k8s.io/delay": delay}
    return run


def pool_nodes(kubectl, namespace: str) -> list[dict]:
    return kubectl.json("get", "nodes", "-l", f"{NS_LABEL}={namespace}")["items"]


@pytest.fixture
def node_cleanup(kubectl, namespace):
    """Simulated nodes are cluster-scoped: remove any a failed test left behind."""
    yield
    kubectl.run("delete", "nodes", "-l", f"{NS_LABEL}={namespace}", "--wait=false", check=False)


def conditions(status: dict) -> dict:
    return {c["type"]: c for c in status.get("conditions", [])}


def test_forty_runs_queue_scale_out_to_max_and_back_to_min(kubectl, namespace, operator, node_cleanup):
    kubectl.apply(pool_cluster(namespace), namespace)
    kubectl.apply([sim_run(f"r-{i:02d}", delay="4s") for i in range(40)], namespace)

    # Some run waits in the queue with its position and the reason.
    def a_queued_run():
        items = kubectl.json("get", "tr", "-n", namespace)["items"]
        return next((r["status"] for r in items if (r.get("status") or {}).get("queuePosition")), None)

    queued = wait_for(a_queued_run, what="a run with a queue position", timeout=30)
    # Queued while it waits for capacity; Scaling while it waits for a node being added for it.
    reason = {"Queued": "WaitingForCapacity", "Scaling": "WaitingForScaleUp"}[queued["phase"]]
    assert conditions(queued)["Queued"]["reason"] == reason and conditions(queued)["Admitted"]["status"] == "False"
    assert "in the queue of ComputeCluster 'pool'" in queued["message"]

    seen_nodes, at_max = 0, False
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        seen_nodes = max(seen_nodes, len(pool_nodes(kubectl, namespace)))
        cc = get_status(kubectl, "cc", "pool", namespace)
        at_max = at_max or conditions(cc).get("AtMaxCapacity", {}).get("status") == "True"
        runs = kubectl.json("get", "tr", "-n", namespace)["items"]
        if all((r.get("status") or {}).get("phase") == "Completed" for r in runs):
            break
        time.sleep(0.5)
    phases = sorted({(r.get("status") or {}).get("phase") for r in runs})
    assert phases == ["Completed"], phases
    assert seen_nodes == 5, f"the pool should reach maxNodes=5 and never exceed it, saw {seen_nodes}"
    assert at_max, "40 runs on 10 slots must report AtMaxCapacity while they wait"
    for r in runs:
        conds = conditions(r["status"])
        assert {"Queued", "Running", "Succeeded"} <= set(conds), (r["metadata"]["name"], sorted(conds))
        assert r["status"]["attempts"] == 1 and "queuePosition" not in r["status"]
    # Idle nodes go after idleSecondsBeforeScaleDown; the pool returns to minNodes=0.
    wait_for(lambda: not pool_nodes(kubectl, namespace), what="the pool back at 0 nodes", timeout=60)
    cc = wait_for(
        lambda: (lambda s: s if s.get("currentNodes") == 0 and s.get("runningRuns") == 0 else None)(
            get_status(kubectl, "cc", "pool", namespace)
        ),
        what="status back at 0 nodes",
        timeout=20,
    )
    conds = conditions(cc)
    assert conds["Ready"]["status"] == "True" and conds["ProviderError"]["status"] == "False"
    assert conds["AtMaxCapacity"]["status"] == "False" and cc["queuedRuns"] == 0 and cc["lastScaleTime"]


def test_min_nodes_are_kept_and_a_busy_node_is_never_removed(kubectl, namespace, operator, node_cleanup):
    kubectl.apply(pool_cluster(namespace, minNodes=1, maxNodes=3), namespace)
    wait_for(lambda: len(pool_nodes(kubectl, namespace)) == 1, what="minNodes=1 node", timeout=30)
    kubectl.apply(
        [
            sim_run("long", delay="12s"),
            sim_run("short-1", delay="1s"),
            sim_run("short-2", delay="1s"),
            sim_run("short-3", delay="1s"),
        ],
        namespace,
    )
    status = wait_for_phase(kubectl, "long", namespace, "Running", timeout=40)
    node = kubectl.json("get", "pods", "-n", namespace, "-l", "trainyard.dev/run=long")["items"][0]["spec"]["nodeName"]
    for name in ("short-1", "short-2", "short-3"):
        wait_for_phase(kubectl, name, namespace, "Completed", timeout=40)
    # The shorts' nodes go idle and are removed down to minNodes; the long run's node stays.
    wait_for(
        lambda: [n["metadata"]["name"] for n in pool_nodes(kubectl, namespace)] == [node],
        what=f"only the busy node {node} left",
        timeout=40,
    )
    assert get_status(kubectl, "tr", "long", namespace)["phase"] in ("Running", "Finalizing", "Completed")
    assert status["attempts"] == 1
    wait_for_phase(kubectl, "long", namespace, "Completed", timeout=40)
    cc = wait_for(
        lambda: (lambda s: s if s.get("busyNodes") == 0 else None)(get_status(kubectl, "cc", "pool", namespace)),
        what="the node idle",
        timeout=20,
    )
    assert cc["currentNodes"] == 1 and len(pool_nodes(kubectl, namespace)) == 1


def test_spot_node_deleted_under_a_running_run_is_retried_and_completes(kubectl, namespace, operator, node_cleanup):
    kubectl.apply(pool_cluster(namespace, name="spot", priority="spot", maxNodes=2), namespace)
    kubectl.apply(sim_run("spot-1", compute="spot", delay="6s", maxRetries=0), namespace)
    wait_for_phase(kubectl, "spot-1", namespace, "Running", timeout=40)
    node = kubectl.json("get", "pods", "-n", namespace, "-l", "trainyard.dev/run=spot-1")["items"][0]["spec"][
        "nodeName"
    ]
    taints = kubectl.json("get", "node", node)["spec"]["taints"]
    assert {"key": "trainyard.dev/spot", "value": "true", "effect": "NoSchedule"} in taints
    started = time.monotonic()
    kubectl.run("delete", "node", node)  # the cloud reclaims the spot VM
    status = wait_for_phase(kubectl, "spot-1", namespace, ("Completed", "Failed"), timeout=60)
    assert status["phase"] == "Completed", status.get("message")
    assert status["preemptions"] >= 1 and status["attempts"] >= 2, status
    # Handled by the operator, not by the pod GC's 40 s quarantine.
    assert time.monotonic() - started < 35


def test_deleting_a_cluster_waits_for_its_runs(kubectl, namespace, operator, node_cleanup):
    kubectl.apply(pool_cluster(namespace, maxNodes=1), namespace)
    kubectl.apply(sim_run("hold", delay="8s"), namespace)
    wait_for_phase(kubectl, "hold", namespace, "Running", timeout=40)
    kubectl.run("delete", "cc", "pool", "-n", namespace, "--wait=false")
    blocked = wait_for(
        lambda: (lambda c: c if c.get("Ready", {}).get("reason") == "DeletionBlockedByRuns" else None)(
            conditions(get_status(kubectl, "cc", "pool", namespace))
        ),
        what="DeletionBlockedByRuns",
        timeout=20,
    )
    assert "hold" in blocked["Ready"]["message"] and blocked["Ready"]["status"] == "False"
    wait_for_phase(kubectl, "hold", namespace, "Completed", timeout=40)
    wait_for(
        lambda: kubectl.run("get", "cc", "pool", "-n", namespace, check=False).returncode != 0,
        what="the cluster gone after its run ended",
        timeout=30,
    )
    wait_for(lambda: not pool_nodes(kubectl, namespace), what="its simulated nodes released", timeout=20)


def test_a_queued_run_gets_its_identity_while_it_waits_and_stale_credentials_are_renewed_at_start(
    kubectl, namespace, operator, node_cleanup
):
    import base64
    import datetime

    kubectl.apply(pool_cluster(namespace, maxNodes=1), namespace)  # one node: two slots
    kubectl.apply([sim_run("busy-1", delay="8s"), sim_run("busy-2", delay="8s")], namespace)
    wait_for_phase(kubectl, "busy-1", namespace, "Running", timeout=40)
    wait_for_phase(kubectl, "busy-2", namespace, "Running", timeout=40)
    # Credentials made long ago (e.g. before an operator restart) that expire in two minutes.
    soon = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kubectl.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "late-store", "annotations": {"trainyard.dev/credentials-expire": soon}},
            "stringData": {"TRAINYARD_S3_ACCESS_KEY": "stale"},
        },
        namespace,
    )
    kubectl.apply(sim_run("late", delay="1s"), namespace)

    queued = wait_for(
        lambda: (lambda s: s if s.get("queuePosition") else None)(get_status(kubectl, "tr", "late", namespace)),
        what="the run queued",
        timeout=30,
    )
    assert queued["phase"] == "Queued"
    # While it waits: its ServiceAccount, Role and RoleBinding exist, no Job yet, and the Secret
    # is left alone (good enough to wait with).
    for kind in ("serviceaccount", "role", "rolebinding"):
        wait_for(
            lambda k=kind: kubectl.run("get", k, "late-run", "-n", namespace, check=False).returncode == 0,
            what=f"the queued run's {kind}",
            timeout=10,
        )
    assert kubectl.run("get", "job", "late", "-n", namespace, check=False).returncode != 0
    secret = kubectl.json("get", "secret", "late-store", "-n", namespace)
    assert base64.b64decode(secret["data"]["TRAINYARD_S3_ACCESS_KEY"]) == b"stale"

    # At its start the credentials would not last the run: they are minted again.
    wait_for_phase(kubectl, "late", namespace, "Completed", timeout=60)
    secret = kubectl.json("get", "secret", "late-store", "-n", namespace)
    expires = datetime.datetime.strptime(
        secret["metadata"]["annotations"]["trainyard.dev/credentials-expire"], "%Y-%m-%dT%H:%M:%SZ"
    ).replace(tzinfo=datetime.UTC)
    assert expires - datetime.datetime.now(datetime.UTC) > datetime.timedelta(hours=1)
    assert base64.b64decode(secret["data"]["TRAINYARD_S3_ACCESS_KEY"]) != b"stale"


def test_a_restarted_operator_keeps_the_queue_decisions(kubectl, namespace, local_cluster, crds, node_cleanup):
    """The decisions live on the runs (status.admission), not in the operator's memory. A quota on
    Jobs holds the third admitted run without its Job while the first operator runs; the second
    operator creates that Job exactly once, and the queued run keeps its place and position."""
    from kopf.testing import KopfRunner

    args = ["run", "--standalone", "--namespace", namespace, "-m", "trainyard.operator.main"]
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "jobs"},
        "spec": {"hard": {"count/jobs.batch": "2"}},
    }
    kubectl.apply(quota, namespace)
    wait_for(
        lambda: (kubectl.json("get", "resourcequota", "jobs", "-n", namespace).get("status") or {}).get("hard"),
        what="the quota counted by its controller",
        timeout=30,
    )
    # One node of three 1-CPU slots; four runs that run for minutes: r-1..r-3 are admitted, r-4 waits.
    cluster = pool_cluster(namespace, minNodes=1, maxNodes=1, nodeResources={"cpu": "3", "memory": "8Gi"})

    def admission(name):
        return get_status(kubectl, "tr", name, namespace).get("admission") or {}

    def jobs():
        return {
            j["metadata"]["name"]: j["metadata"]["uid"] for j in kubectl.json("get", "jobs", "-n", namespace)["items"]
        }

    with KopfRunner(args, timeout=60) as first:
        kubectl.apply(cluster, namespace)
        wait_for(lambda: len(pool_nodes(kubectl, namespace)) == 1, what="the pool's node", timeout=30)
        kubectl.apply([sim_run(f"r-{i}", delay="5m") for i in range(1, 5)], namespace)
        wait_for(lambda: admission("r-3").get("admitted"), what="r-3 admitted", timeout=30)
        held = wait_for(
            lambda: (lambda a: a if a.get("position") else None)(admission("r-4")), what="r-4 queued", timeout=30
        )
        wait_for(lambda: set(jobs()) == {"r-1", "r-2"}, what="the two Jobs the quota allows", timeout=30)
    assert first.exception is None, first.exception
    assert held == {**held, "admitted": False, "position": 1}
    assert set(jobs()) == {"r-1", "r-2"}, "r-3 was admitted, but its Job was refused by the quota"
    before = jobs()
    kubectl.run("delete", "resourcequota", "jobs", "-n", namespace)

    with KopfRunner(args, timeout=60) as second:
        status = wait_for_phase(kubectl, "r-3", namespace, ("Preparing", "Running"), timeout=40)
        # r-3 held its slot through the restart: r-4 is not admitted in its place, and keeps its
        # position — also after a pass of the new operator has seen r-3's pod on the node.
        cc = wait_for(
            lambda: (lambda s: s if [n.get("runs") for n in s.get("nodes") or ()] == [3] else None)(
                get_status(kubectl, "cc", "pool", namespace)
            ),
            what="a pass counting the three runs' pods on the node",
            timeout=20,
        )
        assert (cc["runningRuns"], cc["queuedRuns"]) == (3, 1)
        after = jobs()
        r4 = get_status(kubectl, "tr", "r-4", namespace)
    assert second.exception is None, second.exception
    assert set(after) == {"r-1", "r-2", "r-3"} and {k: after[k] for k in before} == before
    assert status["attempts"] <= 1 and admission("r-3")["admitted"] is True
    assert r4["phase"] == "Queued" and r4["queuePosition"] == 1 and r4["admission"]["position"] == 1
    assert r4["admission"]["admitted"] is False and "r-4" not in after
