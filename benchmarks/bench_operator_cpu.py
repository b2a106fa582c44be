"""The operator's CPU while 200 running runs have their live metrics patched every 2 s, as their pods
do — the operator of a baseline commit against the current one, in the same run.

    python benchmarks/bench_operator_cpu.py [--runs 200] [--window 60] [--baseline-ref ea85ba6]

One control plane (`trainyard local`-style, KWOK nodes); for each operator in turn, a namespace and
a static pool of its own, `--runs` TrainingRuns whose KWOK pods run for an hour, and the operator as
its own process. Once every run is Running, this process patches each run's status.metrics and
status.primaryMetric every `--interval` seconds (the runtime reporter's patch), and after a short
warm-up reads the operator's CPU seconds (utime + stime, /proc/PID/stat) over a fixed window, and
the API server's. The baseline operator is the tree of `--baseline-ref`, checked out with
`git worktree add` into a temporary directory and made importable as `trainyard.*` by a farm of
symlinks on PYTHONPATH. Prints both figures and their ratio; nothing is asserted.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import kubernetes

REPO = Path(__file__).resolve().parents[1]
API = ("trainyard.dev", "v1alpha1")
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # fields 14 and 15 of stat(5)


def baseline_tree(ref: str, tmp: Path) -> Path:
    """`ref` checked out, and a PYTHONPATH entry under which `trainyard.*` imports from it."""
    tree = tmp / "baseline"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref], check=True, capture_output=True
    )
    farm = tmp / "pythonpath" / "trainyard"
    farm.mkdir(parents=True)
    for entry in (tree / "trainyard").iterdir():
        (farm / entry.name).symlink_to(entry)
    (farm / "operator").symlink_to(tree / "operator")
    (farm / "runtime").symlink_to(tree / "runtime")
    return farm.parent


def run_manifest(name: str, compute: str) -> dict:
    return {
        "apiVersion": "/".join(API),
        "kind": "TrainingRun",
        "metadata": {"name": name, "annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "1h"}},
        "spec": {
            "experiment": "bench",
            "compute": compute,
            "entryScript": "train.py",
            "source": {"snapshot": "s3://trainyard/snapshots/bench.tar.gz"},
            "resources": {"cpu": "100m", "memory": "128Mi"},
        },
    }


def cluster_manifest(pool: str, nodes: int) -> dict:
    spec = {
        "nodeSelector": {"trainyard.dev/pool": pool},
        "minNodes": nodes,
        "maxNodes": nodes,
        "provider": {"type": "static"},
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
    }
    return {"apiVersion": "/".join(API), "kind": "ComputeCluster", "metadata": {"name": "pool"}, "spec": spec}


class Patcher:
    """Patches every run's live metrics once per `interval`, spread evenly, as N pods would. At most
    INFLIGHT patches wait at once: a patch that would queue behind more is skipped (and counted),
    so a slow API server lowers the rate instead of building a backlog."""

    WORKERS = INFLIGHT = 32

    def __init__(self, kubeconfig: str, namespace: str, names: list[str], interval: float):
        cfg = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)
        cfg.connection_pool_maxsize = self.WORKERS
        self.custom = kubernetes.client.CustomObjectsApi(kubernetes.client.ApiClient(cfg))
        self.ns, self.names, self.interval = namespace, names, interval
        self.stop, self.done, self.failed, self.skipped = threading.Event(), 0, 0, 0
        self.slots = threading.BoundedSemaphore(self.INFLIGHT)
        self.pool = concurrent.futures.ThreadPoolExecutor(self.WORKERS)

    def _one(self, name: str, step: int) -> None:
        loss = round(1.0 / (step + 1), 6)
        body = {"status": {"metrics": {"loss": loss, "step": step}, "primaryMetric": f"loss={loss}"}}
        try:
            self.custom.patch_namespaced_custom_object_status(
                *API, self.ns, "trainingruns", name, body, _preload_content=False
            )
            self.done += 1
        except kubernetes.client.ApiException:
            self.failed += 1
        finally:
            self.slots.release()

    def _loop(self) -> None:
        gap, step, due = self.interval / len(self.names), 0, time.monotonic()
        while not self.stop.is_set():
            for name in self.names:
                due += gap
                rest = due - time.monotonic()
                if rest > 0 and self.stop.wait(rest):
                    return
                if self.slots.acquire(blocking=False):
                    self.pool.submit(self._one, name, step)
                else:
                    self.skipped += 1
            step += 1

    def start(self) -> None:
        threading.Thread(target=self._loop, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


def measure(api, env: dict, st, mode: str, args, logs: Path) -> dict:
    ns = pool = f"cpu-{mode}"
    core = kubernetes.client.CoreV1Api(api)
    custom = kubernetes.client.CustomObjectsApi(api)
    core.create_namespace({"metadata": {"name": ns}})
    from trainyard.local.cluster import kwok_node

    nodes = [f"{pool}-{i}" for i in range(args.nodes)]
    for n in nodes:
        core.create_node(kwok_node(n, labels={"trainyard.dev/pool": pool}))
    log = open(logs / f"operator-{mode}.log", "w")
    op = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", ns, "-m", "trainyard.operator.main"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=logs,  # not the repository: `-m` puts the working directory first on sys.path
    )
    patcher = None
    try:
        custom.create_namespaced_custom_object(*API, ns, "computeclusters", cluster_manifest(pool, args.nodes))
        names = [f"m-{i:03d}" for i in range(args.runs)]
        began = time.monotonic()
        for name in names:
            custom.create_namespaced_custom_object(*API, ns, "trainingruns", run_manifest(name, "pool"))
        deadline = time.monotonic() + args.start_timeout
        running = 0
        while time.monotonic() < deadline:
            items = custom.list_namespaced_custom_object(*API, ns, "trainingruns")["items"]
            running = sum(1 for r in items if (r.get("status") or {}).get("phase") == "Running")
            if running == len(names):
                break
            time.sleep(1.0)
        to_running = time.monotonic() - began
        patcher = Patcher(str(st.kubeconfig), ns, names, args.interval)
        patcher.start()
        time.sleep(args.warmup)
        op0, api0, patches0, t0 = cpu_seconds(op.pid), cpu_seconds(st.pids["apiserver"]), patcher.done, time.monotonic()
        time.sleep(args.window)
        op1, api1, patches1, t1 = cpu_seconds(op.pid), cpu_seconds(st.pids["apiserver"]), patcher.done, time.monotonic()
        result = {
            "mode": mode,
            "running": running,
            "to_running": to_running,
            "window": t1 - t0,
            "operator_cpu": op1 - op0,
            "apiserver_cpu": api1 - api0,
            "patches": patches1 - patches0,
            "patches_per_s": (patches1 - patches0) / (t1 - t0),
            "patch_failures": patcher.failed,
            "patches_skipped": patcher.skipped,
            "alive": op.poll() is None,
        }
        print(f"{mode}: {result}", file=sys.stderr, flush=True)
        return result
    finally:
        if patcher:
            patcher.close()
        op.terminate()
        try:
            op.wait(20)
        except subprocess.TimeoutExpired:
            op.kill()
        log.close()
        core.delete_namespace(ns)
        for n in nodes:
            try:
                core.delete_node(n)
            except kubernetes.client.ApiException:
                pass
        deadline = time.monotonic() + 90  # the next operator's passes would list these pods too
        while core.list_namespaced_pod(ns).items and time.monotonic() < deadline:
            time.sleep(1.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--nodes", type=int, default=4, help="KWOK nodes per pool (32 CPU, 110 pods each)")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between two patches of one run")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--window", type=float, default=60.0, help="seconds over which CPU is measured")
    ap.add_argument("--start-timeout", type=float, default=120.0)
    ap.add_argument("--baseline-ref", default="ea85ba6", help="commit of the 'before' operator")
    args = ap.parse_args(argv)
    from trainyard.local.cluster import LocalCluster

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the control plane on the way out

    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        tmp = Path(tmp)
        pythonpath = baseline_tree(args.baseline_ref, tmp)
        cluster = LocalCluster(tmp / "cluster", out=sys.stderr)
        st = cluster.up(nodes=0)
        try:
            for crd in sorted((REPO / "crds").glob("*.yaml")):
                cluster.kubectl("apply", "--server-side", "-f", str(crd))
            deadline = time.monotonic() + 60  # `kubectl wait` fails on a CRD without conditions yet
            while (
                cluster.kubectl(
                    "wait", "--for=condition=Established", "--timeout=5s", "crd", "--all", check=False
                ).returncode
                != 0
                and time.monotonic() < deadline
            ):
                time.sleep(0.5)
            logs = Path(os.environ.get("BENCH_LOGS", tempfile.gettempdir())) / "bench-operator-cpu-logs"
            logs.mkdir(parents=True, exist_ok=True)
            print(f"operator logs: {logs}", file=sys.stderr)
            env = {**os.environ, **st.env()}
            before_env = {
                **env,
                "PYTHONPATH": os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            }
            check = subprocess.run(
                [sys.executable, "-c", "import trainyard.operator.main as m; print(m.__file__)"],
                env=before_env,
                cwd=logs,
                capture_output=True,
                text=True,
                check=True,
            )
            assert str(tmp / "pythonpath") in check.stdout, f"the baseline imports from {check.stdout}"
            api = kubernetes.config.new_client_from_config(config_file=str(st.kubeconfig))
            results = [
                measure(api, before_env, st, "before", args, logs),
                measure(api, env, st, "after", args, logs),
            ]
        finally:
            cluster.down()
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "baseline")], check=False
            )
    report(args, results)
    return 0


def report(args, results: list[dict]) -> None:
    before, after = results
    print(
        f"\noperator CPU, {args.runs} Running runs, each run's metrics patched every {args.interval:g} s, "
        f"over {args.window:g} s (before = {args.baseline_ref})"
    )
    print(
        f"{'operator':<9}{'running':>8}{'to Running s':>13}{'patches/s':>10}{'operator CPU s':>15}"
        f"{'% of a core':>12}{'apiserver CPU s':>16}"
    )
    for r in results:
        print(
            f"{r['mode']:<9}{r['running']:>8}{r['to_running']:>13.1f}{r['patches_per_s']:>10.1f}"
            f"{r['operator_cpu']:>15.1f}{100 * r['operator_cpu'] / r['window']:>12.0f}"
            f"{1000 * r['operator_cpu'] / max(r['patches'], 1):>13.2f}{r['apiserver_cpu']:>16.1f}"
            + ("" if r["alive"] else "  (operator exited!)")
        )
    ratio = after["operator_cpu"] / max(before["operator_cpu"], 1e-9)
    less = before["operator_cpu"] / max(after["operator_cpu"], 1e-9)
    print(f"operator CPU after / before: {ratio:.3f} ({less:.1f}x less)")
    per = [r["operator_cpu"] / max(r["patches"], 1) for r in results]
    print(f"operator CPU per patch after / before: {per[1] / max(per[0], 1e-12):.3f}")
    print(f"apiserver CPU after / before: {after['apiserver_cpu'] / max(before['apiserver_cpu'], 1e-9):.3f}")
    target = args.runs / args.interval
    print(
        f"target {target:.0f} patches/s; skipped (API too slow to keep up): "
        + ", ".join(f"{r['mode']} {r['patches_skipped']}" for r in results)
    )


if __name__ == "__main__":
    sys.exit(main())
