"""A real node: pods from the locally built runtime image run, log, resolve cluster DNS, reach the
API server through the `kubernetes` Service and other pods through theirs; `down` leaves nothing."""

from __future__ import annotations

import json
import subprocess

from tests.conftest import wait_for
from trainyard.local.images import SKLEARN_VERSION

PROBE = r"""
import json, socket, ssl, sys, time, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
out = {"kubernetes": socket.gethostbyname("kubernetes.default.svc.cluster.local"),
       "web": socket.gethostbyname(sys.argv[1])}
ctx = ssl.create_default_context(cafile=f"{sa}/ca.crt")
req = urllib.request.Request("https://kubernetes.default.svc.cluster.local/version",
                             headers={"Authorization": "Bearer " + open(f"{sa}/token").read()})
out["api_version"] = json.load(urllib.request.urlopen(req, context=ctx, timeout=10))["gitVersion"]
# kube-proxy programs a new Service's rules a moment after its endpoint turns ready: a client
# retries a refused connection for a bounded while, as any client of a fresh Service must.
for attempt in range(30):
    try:
        with urllib.request.urlopen(f"http://{sys.argv[1]}/hello.txt", timeout=10) as resp:
            out["web_body"] = resp.read().decode().strip()
        break
    except OSError:
        if attempt == 29:
            raise
        time.sleep(1)
out["web_attempts"] = attempt + 1
print(json.dumps(out))
"""


def _pod(name: str, image: str, command: list[str], **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "restartPolicy": "Never",
            "enableServiceLinks": False,
            "containers": [{"name": name, "image": image, "imagePullPolicy": "Never", "command": command}],
            **spec,
        },
    }


def _phase(kubectl, ns: str, name: str) -> str:
    return kubectl.json("get", "pod", name, "-n", ns).get("status", {}).get("phase", "")


def _finished(kubectl, ns: str, name: str, timeout: float = 120) -> str:
    phase = wait_for(
        lambda: _phase(kubectl, ns, name) in ("Succeeded", "Failed") and _phase(kubectl, ns, name),
        what=f"pod {name} to finish",
        timeout=timeout,
        interval=0.5,
    )
    return phase


def test_node_is_ready_with_the_images(real_cluster, real_kubectl):
    node = real_kubectl.json("get", "node", "trainyard-node")
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert not [t for t in node["spec"].get("taints", []) if t["key"].startswith("node.kubernetes.io/")]
    names = {n for img in node["status"]["images"] for n in img["names"]}
    st = real_cluster.state()
    assert st.images["runtime"] in names and st.images["pause"] in names


def test_runtime_image_runs_sklearn_and_logs(real_cluster, real_kubectl, real_namespace):
    image = real_cluster.state().images["runtime"]
    real_kubectl.apply(
        _pod("sk", image, ["python", "-c", "import sklearn; print(sklearn.__version__)"]), real_namespace
    )
    assert _finished(real_kubectl, real_namespace, "sk") == "Succeeded"
    logs = real_kubectl.run("logs", "sk", "-n", real_namespace).stdout.strip()
    assert logs == SKLEARN_VERSION


def test_pods_get_cluster_dns_and_reach_api_and_services(real_cluster, real_kubectl, real_namespace):
    image = real_cluster.state().images["runtime"]
    ns = real_namespace
    web = _pod(
        "web",
        image,
        ["sh", "-c", "echo hello-from-web > /tmp/hello.txt && exec python -m http.server 8080 --directory /tmp"],
    )
    web["spec"]["restartPolicy"] = "Always"
    web["spec"]["containers"][0]["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    real_kubectl.apply([web, svc], ns)
    real_kubectl.run("wait", "--for=condition=Ready", "pod/web", "-n", ns, "--timeout=90s")
    fqdn = f"web.{ns}.svc.cluster.local"
    real_kubectl.apply(_pod("probe", image, ["python", "-c", PROBE, fqdn]), ns)
    phase = _finished(real_kubectl, ns, "probe")
    logs = real_kubectl.run("logs", "probe", "-n", ns).stdout
    assert phase == "Succeeded", logs
    got = json.loads(logs.strip().splitlines()[-1])
    assert got["kubernetes"] == "10.96.0.1"
    assert got["web"] == real_kubectl.json("get", "service", "web", "-n", ns)["spec"]["clusterIP"]
    assert got["api_version"].startswith("v1.36.")
    assert got["web_body"] == "hello-from-web"


def test_down_leaves_no_process_port_interface_or_mount(real_cluster, real_kubectl, real_namespace):
    """Runs last in this module: tears the session's cluster down while a pod still runs."""
    from trainyard.local import nodeclean
    from trainyard.local.node import RealNode
    from trainyard.local.processes import alive, port_listening

    image = real_cluster.state().images["runtime"]
    real_kubectl.apply(_pod("sleeper", image, ["sleep", "3600"]), real_namespace)
    wait_for(
        lambda: _phase(real_kubectl, real_namespace, "sleeper") == "Running",
        what="sleeper running",
        timeout=90,
        interval=0.5,
    )
    st = real_cluster.state()
    pids, ports = dict(st.pids), dict(st.ports)
    real_cluster.down()
    assert [n for n, p in pids.items() if alive(p)] == []
    assert [p for p in ports.values() if port_listening(p)] == []
    left = nodeclean.leftovers(RealNode(real_cluster.dir))
    assert left == {"interfaces": [], "mounts": [], "shims": [], "iptables": []}
    procs = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(real_cluster.dir) not in procs
