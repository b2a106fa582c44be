"""The notebook client's overhead on a warm real node: from `exp.submit()` to the script's first
output line printed by `run.wait_for_completion(show_output=True)`, against running the same
script with `python` directly; and how far the streamed lines lag behind the pod's writes.

    python benchmarks/bench_client.py [--runs 20] [--config .trainyard/config.json]

With --config, it uses that workspace (a cluster with trainyard installed and a real node, e.g.
after `trainyard local up --real-node` and the chart); without, it starts one as the e2e tier does
(`trainyard local up --real-node --nodes 0`, the locally built images, `helm install`), needs
root and the node prerequisites, and stops it at the end. One warm-up run is not counted.

The script prints `BENCH first <t>` at once, then `BENCH tick <t>` every 50 ms for 1 s, each with
`time.time()` at the write; the node is this machine, so one clock serves both ends. Goals
(issue 12): overhead p50 <= 3 s; streamed-line lag p95 <= 1 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SCRIPT = """
import time
print("BENCH first", repr(time.time()), flush=True)
for _ in range(20):
    time.sleep(0.05)
    print("BENCH tick", repr(time.time()), flush=True)
"""


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Recorder(io.TextIOBase):
    """A stdout that notes when each complete line arrives."""

    def __init__(self):
        self.lines: list[tuple[float, str]] = []
        self._buf = ""

    def write(self, s: str) -> int:
        now = time.time()
        self._buf += s
        *done, self._buf = self._buf.split("\n")
        self.lines += [(now, line) for line in done]
        return len(s)

    def flush(self) -> None:
        pass


def direct_first_line(src: Path) -> float:
    """Seconds from spawning `python script.py` to its first line."""
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, "-u", str(src / "bench.py")], stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    first = time.time() - t0
    proc.communicate()
    return first


def one_run(exp, config) -> tuple[float, list[float]]:
    rec = Recorder()
    real = sys.stdout
    t0 = time.time()
    run = exp.submit(config)
    sys.stdout = rec
    try:
        run.wait_for_completion(show_output=True)
    finally:
        sys.stdout = real
    first = next(t for t, line in rec.lines if line.startswith("BENCH first"))
    lags = [t - float(line.split()[2]) for t, line in rec.lines if line.startswith("BENCH tick")]
    if len(lags) != 20:
        raise SystemExit(f"run {run.id}: {len(lags)} tick lines streamed, expected 20 (pod logs not followed?)")
    return first - t0, lags


def start_cluster(work: Path):
    """As tests/e2e/conftest.py: a real node, the locally built images, the chart installed."""
    from trainyard.local import appimages, chart
    from trainyard.local.build import binary_path
    from trainyard.local.cluster import LocalCluster
    from trainyard.local.images import import_into_containerd
    from trainyard.local.nodeconfig import NodePaths

    cluster = LocalCluster(work / "cluster", out=sys.stderr)
    cluster.up(nodes=0, real_node=True, timeout=180, owner=os.getpid())
    built = appimages.chart_images(sys.stderr)
    import_into_containerd(
        [tar for _, tar in built.values()], address=str(NodePaths(cluster.dir / "node").containerd_socket)
    )
    st = cluster.state()
    helm = chart.Helm(str(binary_path("helm")), st.binaries["kubectl"], st.kubeconfig)
    helm.install(
        chart.local_values(appimages.chart_values({k: ref for k, (ref, _) in built.items()}), cluster.dir),
        timeout_s=600,
    )
    return cluster, helm


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--config", type=Path, help="an existing workspace config (skips starting a cluster)")
    p.add_argument("--compute", default="cpu-cluster")
    args = p.parse_args()

    from trainyard.core import Experiment, ScriptRunConfig, Workspace

    work = Path(tempfile.mkdtemp(prefix="bench-client-"))
    cluster = forward = None
    try:
        if args.config:
            ws = Workspace.from_config(str(args.config))
        else:
            from trainyard.local.chart import PortForward

            cluster, helm = start_cluster(work)
            access, secret = helm.store_credentials()
            forward = PortForward(helm.kubectl_cmd(), "trainyard", "svc/trainyard-minio", 9000).__enter__()
            cfg = {
                "namespace": "default",
                "kubeconfig": str(cluster.state().kubeconfig),
                "store": {"endpoint": forward.url, "access_key": access, "secret_key": secret},
            }
            (work / "config.json").write_text(json.dumps(cfg))
            ws = Workspace.from_config(str(work / "config.json"))
        src = work / "src"
        src.mkdir()
        (src / "bench.py").write_text(SCRIPT)
        exp = Experiment(ws, "bench-client")
        config = ScriptRunConfig(source_directory=str(src), script="bench.py", compute_target=args.compute)
        print("warm-up run (not counted) ...", file=sys.stderr)
        one_run(exp, config)
        direct, overhead, lags = [], [], []
        for i in range(args.runs):
            d = direct_first_line(src)
            first, run_lags = one_run(exp, config)
            direct.append(d)
            overhead.append(first - d)
            lags += run_lags
            print(
                f"run {i + 1}/{args.runs}: first line after {first:.2f} s (direct python {d:.2f} s), "
                f"lag p95 {pct(run_lags, 95):.3f} s",
                file=sys.stderr,
            )
        print(
            f"submit -> first streamed line, minus direct python: p50 {pct(overhead, 50):.2f} s, "
            f"p95 {pct(overhead, 95):.2f} s   (goal p50 <= 3 s: {'met' if pct(overhead, 50) <= 3 else 'NOT met'})"
        )
        print(f"direct python to first line: p50 {pct(direct, 50):.3f} s, p95 {pct(direct, 95):.3f} s")
        print(
            f"streamed line lag behind the pod's write: p50 {pct(lags, 50):.3f} s, p95 {pct(lags, 95):.3f} s "
            f"over {len(lags)} lines   (goal p95 <= 1 s: {'met' if pct(lags, 95) <= 1 else 'NOT met'})"
        )
    finally:
        if forward is not None:
            forward.__exit__(None, None, None)
        if cluster is not None:
            cluster.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
