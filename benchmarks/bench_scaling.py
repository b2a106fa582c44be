"""ComputeCluster scaling on simulated (KWOK) nodes: 200 runs of mixed durations, arriving in
waves, on an autoscaled 0..20 pool against a fixed pool of 20 nodes measured in the same run.

    python benchmarks/bench_scaling.py [--runs 200] [--waves 4] [--gap 25] [--seed 7]

Both pools get the same runs (1 CPU each; nodes of 2 CPU: 40 slots at most), submitted in the
same waves. Everything is observed from this process through watches, with its own clock:
- makespan: first submission -> last run Completed; against the ideal of a pool that is always 20
  nodes and starts a run the instant a slot frees (simulated for the same arrivals), and against the
  plain total work / max capacity (which ignores that runs arrive over time);
- node-seconds: the integral of the pool's node count from the first submission until the pool is
  back at minNodes (the idle tail counts), against 20 nodes x the fixed pool's makespan;
- decision latency: for each run, from the moment the slot its pod ended up in became free (its
  node turned Ready, or the previous pod in that slot ended) — but not before the run existed — to
  its Job appearing. Goals (issue 4): makespan <= 1.15x ideal, node-seconds <= 0.6x fixed,
  latency p95 and max <= 2 s. Figures and ratios are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import kubernetes

REPO = Path(__file__).resolve().parents[1]
API = ("trainyard.dev", "v1alpha1")
SLOTS_PER_NODE = 2
MAX_NODES = 20


def durations(n: int, rng: random.Random) -> list[int]:
    """Mixed: mostly short, some medium, a few long (seconds)."""
    return [rng.choice([2, 2, 3, 3, 4, 5, 6, 8, 10, 12]) for _ in range(n)]


def ideal_makespan(arrivals: list[float], work: list[int], slots: int) -> float:
    """FIFO list scheduling on `slots` always-present slots with zero overhead."""
    free = [0.0] * slots
    end = 0.0
    for a, w in sorted(zip(arrivals, work, strict=False)):
        t = max(a, heapq.heappop(free))
        heapq.heappush(free, t + w)
        end = max(end, t + w)
    return end


class Recorder:
    """Watches nodes, pods, Jobs and runs; stamps every event with this process's clock."""

    def __init__(self, api, namespace: str, node_selector: str):
        self.api, self.ns, self.sel = api, namespace, node_selector
        self.lock = threading.Lock()
        self.node_added, self.node_ready, self.node_deleted = {}, {}, {}
        self.pod_node, self.pod_done, self.pod_bound_at = {}, {}, {}
        self.job_added, self.run_done = {}, {}
        self.watches = []

    def _stream(self, fn, *args, on, **kw):
        w = kubernetes.watch.Watch()
        self.watches.append(w)

        def loop():
            # Raw dicts: the client's model objects would cost this process more CPU than the API.
            for ev in w.stream(fn, *args, timeout_seconds=3600, deserialize=False, **kw):
                with self.lock:
                    on(ev["type"], ev["object"], time.monotonic())

        threading.Thread(target=loop, daemon=True).start()

    def start(self):
        core, batch = kubernetes.client.CoreV1Api(self.api), kubernetes.client.BatchV1Api(self.api)
        custom = kubernetes.client.CustomObjectsApi(self.api)
        self._stream(core.list_node, label_selector=self.sel, on=self._node)
        self._stream(core.list_namespaced_pod, self.ns, on=self._pod)
        self._stream(batch.list_namespaced_job, self.ns, on=self._job)
        self._stream(custom.list_namespaced_custom_object, *API, self.ns, "trainingruns", on=self._run)
        time.sleep(1.0)  # let the four watches open before anything is created

    def stop(self):
        for w in self.watches:
            w.stop()

    def _node(self, kind, node, t):
        name = node["metadata"]["name"]
        self.node_added.setdefault(name, t)
        if kind == "DELETED":
            self.node_deleted.setdefault(name, t)
        elif any(
            c["type"] == "Ready" and c["status"] == "True" for c in (node.get("status") or {}).get("conditions") or ()
        ):
            self.node_ready.setdefault(name, t)

    def _pod(self, kind, pod, t):
        run = (pod["metadata"].get("labels") or {}).get("trainyard.dev/run")
        if not run:
            return
        node = (pod.get("spec") or {}).get("nodeName")
        if node and run not in self.pod_node:
            self.pod_node[run], self.pod_bound_at[run] = node, t
        if (pod.get("status") or {}).get("phase") == "Succeeded":
            self.pod_done.setdefault(run, t)

    def _job(self, kind, job, t):
        if kind == "ADDED":
            self.job_added.setdefault(job["metadata"]["name"], t)

    def _run(self, kind, run, t):
        if (run.get("status") or {}).get("phase") == "Completed":
            self.run_done.setdefault(run["metadata"]["name"], t)

    def latencies(self, submitted: dict[str, float]) -> list[float]:
        """Slot-free time -> Job created, per run, replaying each node's slots in time order."""
        frees: dict[str, list[float]] = {}
        for node, t in self.node_ready.items():
            frees.setdefault(node, []).extend([t] * SLOTS_PER_NODE)
        for run, node in self.pod_node.items():
            if run in self.pod_done:
                frees.setdefault(node, []).append(self.pod_done[run])
        out = []
        by_node: dict[str, list[str]] = {}
        for run, node in self.pod_node.items():
            by_node.setdefault(node, []).append(run)
        for node, runs in by_node.items():
            slots = sorted(frees.get(node, []))
            for run in sorted(runs, key=lambda r: self.pod_bound_at[r]):
                usable = [f for f in slots if f <= self.pod_bound_at[run]]
                f = usable[0] if usable else (slots[0] if slots else submitted[run])
                if f in slots:
                    slots.remove(f)
                out.append(max(0.0, self.job_added[run] - max(f, submitted[run])))
        return out

    def node_phases(self) -> dict[str, float]:
        """Where a node's seconds go, summed over the nodes that were added and removed: added ->
        Ready, Ready -> first pod bound, first bound -> last pod done (busy span), last done ->
        deleted (the idle tail)."""
        pods: dict[str, list[str]] = {}
        for run, node in self.pod_node.items():
            pods.setdefault(node, []).append(run)
        out = {
            "nodes": 0,
            "to_ready": 0.0,
            "to_first_pod": 0.0,
            "busy_span": 0.0,
            "idle_tail": 0.0,
            "pods": 0,
            "unused": 0,
            "unused_seconds": 0.0,
        }
        for node, added in self.node_added.items():
            runs = [r for r in pods.get(node, []) if r in self.pod_done]
            if node in self.node_deleted and not pods.get(node):
                out["unused"] += 1
                out["unused_seconds"] += self.node_deleted[node] - added
            if node not in self.node_deleted or node not in self.node_ready or not runs:
                continue
            first = min(self.pod_bound_at[r] for r in runs)
            last = max(self.pod_done[r] for r in runs)
            out["nodes"] += 1
            out["pods"] += len(runs)
            out["to_ready"] += self.node_ready[node] - added
            out["to_first_pod"] += first - self.node_ready[node]
            out["busy_span"] += last - first
            out["idle_tail"] += self.node_deleted[node] - last
        return out

    def node_seconds(self, start: float, end: float) -> float:
        total = 0.0
        for node, added in self.node_added.items():
            gone = self.node_deleted.get(node, end)
            total += max(0.0, min(gone, end) - max(added, start))
        return total


def kwok_node(name: str, pool: str) -> dict:
    from trainyard.local.cluster import kwok_node as base

    return base(name, cpu="2", memory="8Gi", labels={"trainyard.dev/pool": pool})


def run_manifest(name: str, compute: str, seconds: int) -> dict:
    return {
        "apiVersion": "/".join(API),
        "kind": "TrainingRun",
        "metadata": {"name": name, "annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": f"{seconds}s"}},
        "spec": {
            "experiment": "bench",
            "compute": compute,
            "entryScript": "train.py",
            "source": {"snapshot": "s3://trainyard/snapshots/bench.tar.gz"},
            "resources": {"cpu": "1", "memory": "1Gi"},
        },
    }


def cluster_manifest(name: str, pool: str, provider: str) -> dict:
    spec = {
        "nodeSelector": {"trainyard.dev/pool": pool},
        "maxNodes": MAX_NODES,
        "minNodes": MAX_NODES if provider == "static" else 0,
        "provider": {"type": provider},
        "idleSecondsBeforeScaleDown": 3,
        "scaleCooldownSeconds": 1,
        "maxScaleStep": MAX_NODES,
        "nodeResources": {"cpu": "2", "memory": "8Gi"},
        # The fixed baseline is KWOK nodes under the static provider: tolerate their taint.
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
    }
    return {"apiVersion": "/".join(API), "kind": "ComputeCluster", "metadata": {"name": name}, "spec": spec}


def run_mode(api, env, kubectl, mode: str, work: list[int], waves: int, gap: float) -> dict:
    ns, pool = f"bench-{mode}", f"bench-{mode}"
    kubectl("create", "namespace", ns)
    core = kubernetes.client.CoreV1Api(api)
    custom = kubernetes.client.CustomObjectsApi(api)
    if mode == "fixed":
        for i in range(MAX_NODES):
            core.create_node(kwok_node(f"fixed-{i:02d}", pool))
    rec = Recorder(api, ns, f"trainyard.dev/pool={pool}")
    rec.start()
    if mode == "fixed":
        deadline = time.monotonic() + 60
        while len(rec.node_ready) < MAX_NODES and time.monotonic() < deadline:
            time.sleep(0.2)
    log = open(Path(env["BENCH_LOGS"]) / f"operator-{mode}.log", "w")
    op = subprocess.Popen(
        [sys.executable, "-m", "kopf", "run", "--standalone", "--namespace", ns, "-m", "trainyard.operator.main"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        custom.create_namespaced_custom_object(
            *API, ns, "computeclusters", cluster_manifest("pool", pool, "static" if mode == "fixed" else "kwok")
        )
        # The operator is up once it has written the cluster's status (startup is not measured).
        deadline = time.monotonic() + 60
        while (
            not (custom.get_namespaced_custom_object(*API, ns, "computeclusters", "pool").get("status") or {}).get(
                "conditions"
            )
            and time.monotonic() < deadline
        ):
            time.sleep(0.2)
        submitted: dict[str, float] = {}
        per_wave = (len(work) + waves - 1) // waves
        t0 = time.monotonic()
        for w in range(waves):
            while time.monotonic() < t0 + w * gap:
                time.sleep(0.05)
            for i in range(w * per_wave, min(len(work), (w + 1) * per_wave)):
                name = f"b-{i:03d}"
                custom.create_namespaced_custom_object(*API, ns, "trainingruns", run_manifest(name, "pool", work[i]))
                submitted[name] = time.monotonic()
        deadline = time.monotonic() + 300
        while len(rec.run_done) < len(work) and time.monotonic() < deadline:
            time.sleep(0.2)
        end = max(rec.run_done.values()) if rec.run_done else time.monotonic()
        tail_end = end
        if mode != "fixed":  # until the pool is back at minNodes=0 (bounded)
            deadline = time.monotonic() + 60
            while len(rec.node_deleted) < len(rec.node_added) and time.monotonic() < deadline:
                time.sleep(0.2)
            tail_end = max([end, *rec.node_deleted.values()])
        start = min(submitted.values())
        lat = rec.latencies(submitted)
        return {
            "mode": mode,
            "completed": len(rec.run_done),
            "start": start,
            "arrivals": [submitted[f"b-{i:03d}"] - start for i in range(len(work))],
            "makespan": end - start,
            "node_seconds": (MAX_NODES * (end - start)) if mode == "fixed" else rec.node_seconds(start, tail_end),
            "node_seconds_to_last_run": rec.node_seconds(start, end),
            "peak_nodes": len(rec.node_added),
            "latency": lat,
            "phases": rec.node_phases(),
        }
    finally:
        rec.stop()
        op.terminate()
        try:
            op.wait(20)
        except subprocess.TimeoutExpired:
            op.kill()
        log.close()
        for name in [n for n in rec.node_added if n not in rec.node_deleted]:
            try:
                core.delete_node(name)
            except kubernetes.client.ApiException:
                pass


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--waves", type=int, default=4)
    ap.add_argument("--gap", type=float, default=25.0, help="seconds between waves")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    from trainyard.local.cluster import LocalCluster

    work = durations(args.runs, random.Random(args.seed))
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster", out=sys.stderr)
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
            logs = Path(os.environ.get("BENCH_LOGS", tempfile.gettempdir())) / "bench-scaling-logs"
            logs.mkdir(parents=True, exist_ok=True)
            print(f"operator logs: {logs}", file=sys.stderr)
            env = {**os.environ, **st.env(), "BENCH_LOGS": str(logs)}
            api = kubernetes.config.new_client_from_config(config_file=str(st.kubeconfig))
            results = [
                run_mode(api, env, cluster.kubectl, mode, work, args.waves, args.gap)
                for mode in ("fixed", "autoscaled")
            ]
        finally:
            cluster.down()
    report(work, results)
    return 0


def report(work: list[int], results: list[dict]) -> None:
    slots = MAX_NODES * SLOTS_PER_NODE
    total = sum(work)
    plain = total / slots
    fixed, auto = results
    ideal = ideal_makespan(auto["arrivals"], work, slots)
    print(
        f"\n{len(work)} runs, {total} run-seconds of work (durations {min(work)}-{max(work)} s), "
        f"max capacity {MAX_NODES} nodes x {SLOTS_PER_NODE} runs"
    )
    print(
        f"ideal makespan for these arrivals (always {MAX_NODES} nodes, zero overhead): {ideal:.1f} s; "
        f"total work / max capacity: {plain:.1f} s"
    )
    print(
        f"{'pool':<12}{'done':>6}{'makespan s':>12}{'x ideal':>9}{'x work/cap':>11}{'node-s':>9}"
        f"{'x fixed':>9}{'peak nodes':>11}{'lat p50':>9}{'p95':>7}{'max':>7}"
    )
    for r in results:
        lat = r["latency"]
        print(
            f"{r['mode']:<12}{r['completed']:>6}{r['makespan']:>12.1f}{r['makespan'] / ideal:>9.2f}"
            f"{r['makespan'] / plain:>11.2f}{r['node_seconds']:>9.0f}{r['node_seconds'] / fixed['node_seconds']:>9.2f}"
            f"{r['peak_nodes']:>11}{statistics.median(lat) if lat else float('nan'):>9.2f}"
            f"{pct(lat, 0.95):>7.2f}{max(lat) if lat else float('nan'):>7.2f}"
        )
    print(
        f"autoscaled node-seconds up to the last run's end (without the idle tail): "
        f"{auto['node_seconds_to_last_run']:.0f} "
        f"({auto['node_seconds_to_last_run'] / fixed['node_seconds']:.2f}x fixed)"
    )
    print(
        "goals: makespan <= 1.15x ideal: {:.2f}x; node-seconds <= 0.6x fixed: {:.2f}x; latency p95/max <= 2 s: "
        "{:.2f}/{:.2f} s".format(
            auto["makespan"] / ideal,
            auto["node_seconds"] / fixed["node_seconds"],
            pct(auto["latency"], 0.95),
            max(auto["latency"] or [float("nan")]),
        )
    )
    ph = auto["phases"]
    if ph["nodes"]:
        n = ph["nodes"]
        print(
            f"autoscaled nodes' seconds, mean over {n} added and removed ({ph['pods'] / n:.1f} runs each): "
            f"added->Ready {ph['to_ready'] / n:.2f}, Ready->first run {ph['to_first_pod'] / n:.2f}, "
            f"busy span {ph['busy_span'] / n:.2f}, last run done->removed {ph['idle_tail'] / n:.2f}; "
            f"{ph['unused']} node(s) removed without running anything ({ph['unused_seconds']:.0f} node-s)"
        )
    print(
        json.dumps(
            {
                r["mode"]: {
                    k: round(v, 2) if isinstance(v, float) else v
                    for k, v in r.items()
                    if k not in ("arrivals", "latency", "start", "phases")
                }
                for r in results
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
