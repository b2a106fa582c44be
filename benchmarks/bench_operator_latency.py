"""Operator latency on simulated (KWOK) nodes, against Kubernetes' own Job controller as baseline.

For N TrainingRuns (default 100) on a `trainyard local` control plane with the operator running
as its own process, one watcher records when each object event is seen (one clock):

  ours      apply -> Job created              (the operator turning a run into a Job)
  baseline  Job created -> pod created        (kube-controller-manager's Job controller)
  ours      pod Succeeded -> run Completed    (the operator noticing and recording the end)
  baseline  pod Succeeded -> Job Complete     (the Job controller noticing the same end)

Prints median and p95 of each and our ratio to the baseline. Goal: p95 < 1 s for both of ours.

    python benchmarks/bench_operator_latency.py [--runs 100] [--rate 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import kubernetes
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Recorder:
    """Watches jobs, pods and trainingruns of one namespace and keeps first-seen times."""

    def __init__(self, api, namespace: str):
        self.api, self.ns = api, namespace
        self.t: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def mark(self, key: tuple[str, str]) -> None:
        with self.lock:
            self.t.setdefault(key, time.monotonic())

    def _watch(self, list_fn, handle) -> None:
        w = kubernetes.watch.Watch()
        while not self.stop.is_set():
            try:
                for ev in w.stream(list_fn, self.ns, timeout_seconds=5):
                    handle(ev["object"])
                    if self.stop.is_set():
                        break
            except Exception as exc:  # keep watching; a gap shows up as a missing sample
                print(f"watch: {exc}", file=sys.stderr)

    def start(self) -> None:
        core, batch = kubernetes.client.CoreV1Api(self.api), kubernetes.client.BatchV1Api(self.api)
        custom = kubernetes.client.CustomObjectsApi(self.api)

        def on_job(job):
            run = (job.metadata.labels or {}).get("trainyard.dev/run")
            if run:
                self.mark(("job", run))
                if any(c.type == "Complete" and c.status == "True" for c in (job.status.conditions or [])):
                    self.mark(("job-complete", run))

        def on_pod(pod):
            run = (pod.metadata.labels or {}).get("trainyard.dev/run")
            if run:
                self.mark(("pod", run))
                if pod.status.phase == "Succeeded":
                    self.mark(("pod-succeeded", run))

        def on_run(obj):
            if (obj.get("status") or {}).get("phase") == "Completed":
                self.mark(("run-completed", obj["metadata"]["name"]))

        def list_runs(ns, **kw):
            return custom.list_namespaced_custom_object("trainyard.dev", "v1alpha1", ns, "trainingruns", **kw)

        for fn, h in ((batch.list_namespaced_job, on_job), (core.list_namespaced_pod, on_pod), (list_runs, on_run)):
            threading.Thread(target=self._watch, args=(fn, h), daemon=True).start()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--rate", type=float, default=10.0, help="runs applied per second")
    args = ap.parse_args()

    from trainyard.local.cluster import LocalCluster

    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    cluster = LocalCluster(work / "cluster", out=sys.stderr)
    st = cluster.up(nodes=4)
    operator = None
    try:
        env = {**os.environ, **st.env()}
        kubectl = [st.binaries["kubectl"], "--kubeconfig", str(st.kubeconfig)]
        subprocess.run([*kubectl, "apply", "--server-side", "-f", str(REPO / "crds")], check=True, capture_output=True)
        subprocess.run(
            [*kubectl, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"],
            check=True,
            capture_output=True,
        )
        ns = "bench"
        subprocess.run([*kubectl, "create", "namespace", ns], check=True, capture_output=True)
        # The runs' code ConfigMap must exist: the operator fails a run whose code is missing
        # (KWOK simulates the pods, so its contents are never read).
        subprocess.run(
            [*kubectl, "create", "configmap", "none", "-n", ns, "--from-literal=t.py=pass"],
            check=True,
            capture_output=True,
        )
        cc = {
            "apiVersion": "trainyard.dev/v1alpha1",
            "kind": "ComputeCluster",
            "metadata": {"name": "kwok"},
            "spec": {
                "maxNodes": 4,
                "minNodes": 4,
                "nodeSelector": {"trainyard.dev/pool": "kwok"},
                "provider": {"type": "static"},
                "defaultRunResources": {"cpu": "100m", "memory": "128Mi"},
                "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
            },
        }
        subprocess.run(
            [*kubectl, "apply", "-n", ns, "-f", "-"],
            input=yaml.safe_dump(cc),
            text=True,
            check=True,
            capture_output=True,
        )
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kopf",
                "run",
                "--standalone",
                "--namespace",
                ns,
                "--verbose",
                "-m",
                "trainyard.operator.main",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(work / "operator.log", "w"),
        )
        api = kubernetes.config.new_client_from_config(config_file=str(st.kubeconfig))
        rec = Recorder(api, ns)
        rec.start()
        time.sleep(3)  # let the operator's and our watches open before the first run
        custom = kubernetes.client.CustomObjectsApi(api)
        applied: dict[str, float] = {}
        for i in range(args.runs):
            name = f"lat-{i:03d}"
            body = {
                "apiVersion": "trainyard.dev/v1alpha1",
                "kind": "TrainingRun",
                "metadata": {"name": name, "annotations": {"pod-complete.stage.kwok.x-k8s.io/delay": "1s"}},
                "spec": {"compute": "kwok", "source": {"configMap": {"name": "none"}}, "entryScript": "t.py"},
            }
            applied[name] = time.monotonic()
            custom.create_namespaced_custom_object("trainyard.dev", "v1alpha1", ns, "trainingruns", body)
            time.sleep(1.0 / args.rate)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and sum(1 for k in rec.t if k[0] == "run-completed") < args.runs:
            time.sleep(0.5)
        rec.stop.set()

        def series(a: str, b: str, names=applied) -> list[float]:
            out = []
            for n in names:
                ta = applied[n] if a == "applied" else rec.t.get((a, n))
                tb = rec.t.get((b, n))
                if ta is not None and tb is not None:
                    out.append(tb - ta)
            return out

        rows = [
            ("apply -> Job created (ours)", series("applied", "job")),
            ("Job -> pod created (Job controller)", series("job", "pod")),
            ("pod Succeeded -> run Completed (ours)", series("pod-succeeded", "run-completed")),
            ("pod Succeeded -> Job Complete (Job controller)", series("pod-succeeded", "job-complete")),
        ]
        print(f"\noperator latency, {args.runs} runs at {args.rate:g}/s on KWOK nodes")
        print(f"{'measure':48} {'n':>4} {'median ms':>10} {'p95 ms':>10}")
        for label, vals in rows:
            if vals:
                print(
                    f"{label:48} {len(vals):>4} {1000 * statistics.median(vals):>10.0f} {1000 * pct(vals, 95):>10.0f}"
                )
            else:
                print(f"{label:48} {0:>4} {'-':>10} {'-':>10}")
        for (l1, ours), (l2, base) in ((rows[0], rows[1]), (rows[2], rows[3])):
            if ours and base:
                print(
                    f"ratio p95 {l1.split(' (')[0]} / {l2.split(' (')[0]}: "
                    f"{pct(ours, 95) / max(pct(base, 95), 1e-3):.2f}x"
                )
        goal = all(v and pct(v, 95) < 1.0 for v in (rows[0][1], rows[2][1]))
        print(f"goal p95 < 1 s for both of ours: {'met' if goal else 'NOT met'}")
    finally:
        if operator:
            operator.terminate()
            operator.wait(timeout=30)
        cluster.down()
        print(f"operator log: {work / 'operator.log'}")


if __name__ == "__main__":
    main()
