"""The main job, end to end: a cluster, the images, the Helm chart, and the Iris how-to run to a
registered, deployed model whose endpoint answers a prediction.

    python -m trainyard.local.mainjob        (scripts/quickstart installs trainyard, then runs this)

Cluster: kind (`kind create cluster --config kind-config.yaml`) where the `kind` command and a
Docker engine exist; otherwise `trainyard local up --real-node` (root; scripts/install-node-deps).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from trainyard.local import appimages, chart
from trainyard.local.build import binary_path

REPO = chart.REPO
IRIS = REPO / "examples" / "sklearn-iris"
KIND_CLUSTER = "trainyard"
EXAMPLE_NAMESPACE = "default"
IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]


def say(msg: str) -> None:
    print(f"trainyard main job: {msg}", file=sys.stderr, flush=True)


def docker_and_kind() -> bool:
    if not shutil.which("kind") or not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0


# ---- clusters ----------------------------------------------------------------------------------
def kind_cluster() -> tuple[chart.Helm, callable]:
    """A kind cluster from kind-config.yaml; returns the Helm handle and an image loader."""
    have = subprocess.run(["kind", "get", "clusters"], capture_output=True, text=True).stdout.split()
    if KIND_CLUSTER not in have:
        subprocess.run(
            [
                "kind",
                "create",
                "cluster",
                "--name",
                KIND_CLUSTER,
                "--config",
                str(REPO / "kind-config.yaml"),
                "--wait",
                "300s",
            ],
            check=True,
        )
    kubeconfig = Path.home() / ".kube" / f"kind-{KIND_CLUSTER}.yaml"
    kubeconfig.parent.mkdir(exist_ok=True)
    kubeconfig.write_text(
        subprocess.run(
            ["kind", "get", "kubeconfig", "--name", KIND_CLUSTER], capture_output=True, text=True, check=True
        ).stdout
    )
    kubectl = shutil.which("kubectl") or str(binary_path("kubectl"))

    def load(tarballs: list[Path]) -> None:
        for tar in tarballs:
            subprocess.run(["kind", "load", "image-archive", str(tar), "--name", KIND_CLUSTER], check=True)

    return chart.Helm(str(binary_path("helm")), kubectl, kubeconfig), load


def local_cluster(fresh: bool = True):
    """`trainyard local up --real-node --nodes 0` (down first when `fresh`)."""
    import fcntl

    from trainyard.local.cluster import LocalCluster
    from trainyard.local.images import import_into_containerd
    from trainyard.local.nodeconfig import NodePaths

    lock = open("/run/lock/trainyard-real-node.lock", "w")  # one real node per machine (see tests/e2e)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit("another real local node is running (an e2e session?); retry when it is done") from None
    local_cluster.lock = lock
    cluster = LocalCluster(out=sys.stderr)
    st = cluster.state()
    if fresh or st is None or not st.pids:
        cluster.down()
        st = cluster.up(nodes=0, real_node=True, timeout=180)
    socket = NodePaths(cluster.dir / "node").containerd_socket

    def load(tarballs: list[Path]) -> None:
        import_into_containerd(tarballs, address=str(socket))

    return chart.Helm(str(binary_path("helm")), st.binaries["kubectl"], st.kubeconfig), load, cluster.dir


# ---- the Iris how-to ---------------------------------------------------------------------------
def wait_phase(
    helm: chart.Helm,
    kind: str,
    name: str,
    want: str,
    *,
    fail: tuple[str, ...] = ("Failed",),
    timeout: float = 900,
    namespace: str = EXAMPLE_NAMESPACE,
) -> dict:
    """Poll (bounded) until `.status.phase` is `want`; raise with the status on a failing phase."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        proc = subprocess.run(
            helm.kubectl_cmd("get", kind, name, "-n", namespace, "-o", "json"), capture_output=True, text=True
        )
        if proc.returncode == 0:
            obj = json.loads(proc.stdout)
            phase = (obj.get("status") or {}).get("phase")
            if phase != last:
                say(f"{kind}/{name}: {phase or '(no status yet)'}")
                last = phase
            if phase == want:
                return obj
            if phase in fail:
                raise RuntimeError(f"{kind}/{name} is {phase}: {json.dumps(obj.get('status'), indent=1)[:3000]}")
        time.sleep(2)
    raise TimeoutError(f"{kind}/{name} did not reach {want} within {timeout:.0f}s (last phase {last})")


def predict(helm: chart.Helm, model: dict, rows: list[list[float]]) -> list:
    """POST {"data": rows} to the model's endpoint through the API server's service proxy."""
    endpoint = model["status"]["endpoint"]  # http://<service>.<ns>.svc/score
    host, path = endpoint.removeprefix("http://").split("/", 1)
    service, namespace = host.split(".")[:2]
    with subprocess.Popen(
        helm.kubectl_cmd(
            "create", "--raw", f"/api/v1/namespaces/{namespace}/services/http:{service}:80/proxy/{path}", "-f", "-"
        ),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        out, err = proc.communicate(json.dumps({"data": rows}), timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"prediction request to {endpoint} failed: {err.strip()}")
    return json.loads(out)


def run_iris(helm: chart.Helm) -> list:
    subprocess.run(
        helm.kubectl_cmd(
            "delete", "-k", str(IRIS), "-n", EXAMPLE_NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=120s"
        ),
        capture_output=True,
    )
    subprocess.run(helm.kubectl_cmd("apply", "-k", str(IRIS), "-n", EXAMPLE_NAMESPACE), check=True)
    run = wait_phase(helm, "trainingrun", "sklearn-iris-1", "Completed", timeout=900)
    say(f"metrics: {json.dumps(run['status'].get('metrics'))}")
    model = wait_phase(helm, "registeredmodel", "sklearn-iris", "Ready", timeout=600)
    say(f"registered sklearn-iris version {model['status'].get('version')}, endpoint {model['status']['endpoint']}")
    return predict(helm, model, IRIS_ROWS)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m trainyard.local.mainjob", description=__doc__.split("\n\n")[0])
    p.add_argument("--reuse-cluster", action="store_true", help="keep a running local cluster instead of a fresh one")
    args = p.parse_args(argv)
    t0 = time.monotonic()
    timings = {}
    if docker_and_kind():
        say("Docker and kind found: kind create cluster --config kind-config.yaml")
        helm, load = kind_cluster()
        make_values = chart.kind_values
    else:
        say("no Docker engine: trainyard local up --real-node")
        helm, load, state_dir = local_cluster(fresh=not args.reuse_cluster)
        make_values = lambda v: chart.local_values(v, state_dir)  # noqa: E731
    timings["cluster"] = time.monotonic() - t0
    built = appimages.chart_images(sys.stderr)
    load([tar for _, tar in built.values()])
    timings["images"] = time.monotonic() - t0 - sum(timings.values())
    values = make_values(appimages.chart_values({k: ref for k, (ref, _) in built.items()}))
    say(f"helm upgrade --install {chart.RELEASE} charts/trainyard -n {chart.NAMESPACE}")
    helm.install(values)
    timings["helm"] = time.monotonic() - t0 - sum(timings.values())
    predictions = run_iris(helm)
    timings["iris"] = time.monotonic() - t0 - sum(timings.values())
    named = [IRIS_CLASSES[int(p)] if str(p).isdigit() else p for p in predictions]
    print(f"prediction for {IRIS_ROWS}: {predictions} ({', '.join(map(str, named))})")
    say("done in " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items()) + f" — total {time.monotonic() - t0:.0f}s")
    print(f"export KUBECONFIG={helm.kubeconfig}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
