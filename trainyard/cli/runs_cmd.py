"""`trainyard submit | runs | logs | metrics | files | download | wait` — the Azure ML Run workflow
from a shell: submit a directory as a TrainingRun, watch it, and fetch what it produced."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from trainyard.cli import kube, run_spec
from trainyard.cli.kube import CliError


def register(sub: argparse._SubParsersAction) -> None:
    def ns_arg(p):
        p.add_argument("-n", "--namespace", default=None, help="namespace (default: the kubeconfig's)")

    s = sub.add_parser(
        "submit",
        help="snapshot DIR to the object store and submit it as a TrainingRun",
        description="Everything after `--` is passed to the script.",
    )
    s.add_argument("dir", type=Path, help="source directory (honours .trainyardignore)")
    s.add_argument("--script", required=True, help="entry script, relative to DIR")
    s.add_argument("--compute", required=True, help="ComputeCluster to run on")
    s.add_argument("--experiment", default="default")
    s.add_argument("--name", help="run name (default: <experiment>-<time>-<id>)")
    s.add_argument("--input", action="append", metavar="NAME=s3://BUCKET/PREFIX[:download|:mount]")
    s.add_argument("--pip", action="append", metavar="REQUIREMENT", help="extra pip requirement (repeatable)")
    s.add_argument("--image", help="runtime image (default: the operator's curated image)")
    s.add_argument("--cpu")
    s.add_argument("--memory")
    s.add_argument("--max-retries", type=int)
    s.add_argument("--timeout", type=int, help="seconds before the run is stopped")
    s.add_argument("--primary-metric")
    s.add_argument("--wait", action="store_true", help="wait for the run to end (exit status = its result)")
    s.add_argument("--dry-run", action="store_true", help="print the TrainingRun instead of creating it")
    ns_arg(s)
    s.set_defaults(func=submit, script_args=[])  # main() hands over everything after `--`

    r = sub.add_parser("runs", help="list TrainingRuns")
    r.add_argument("--experiment")
    ns_arg(r)
    r.set_defaults(func=runs)

    for name, fn, helptext in (
        ("metrics", metrics, "a run's metrics (latest values; --history for all)"),
        ("files", files, "a run's output files (path, size, sha256)"),
        ("wait", wait, "wait for a run to end; exit status 0 Completed, 1 Failed, 2 Canceled"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("run")
        ns_arg(p)
        p.set_defaults(func=fn)
        if name == "metrics":
            p.add_argument("--history", action="store_true", help="every record, from the object store")
            p.add_argument("-o", "--output", choices=["table", "json"], default="table")
        if name == "wait":
            p.add_argument("--timeout", type=float, default=None, help="give up after this many seconds")

    lg = sub.add_parser("logs", help="a run's script output")
    lg.add_argument("run")
    lg.add_argument("-f", "--follow", action="store_true")
    ns_arg(lg)
    lg.set_defaults(func=logs)

    d = sub.add_parser("download", help="download a run's outputs and logs from the object store")
    d.add_argument("run")
    d.add_argument("path", nargs="?", default="", help="a file or folder within the run (e.g. outputs/)")
    d.add_argument("-o", "--output-dir", type=Path, default=None, help="target directory (default ./<run>)")
    ns_arg(d)
    d.set_defaults(func=download)


def _ns(args) -> str:
    return args.namespace or kube.default_namespace()


def _store():
    from trainyard.storage.config import StoreConfig, StoreError

    try:
        cfg = StoreConfig.from_env()
        client = cfg.client(connect_timeout=3.0, read_timeout=30.0)
        cfg.check(client)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    return cfg, client


class _Progress:
    """The minio progress protocol, drawn as one line on stderr."""

    def __init__(self):
        self.total, self.done, self.name = 0, 0, ""

    def set_meta(self, object_name: str, total_length: int) -> None:
        self.name, self.total = object_name, total_length

    def update(self, size: int) -> None:
        self.done += size
        pct = 100 * self.done / self.total if self.total else 100
        bar = "#" * int(pct / 5)
        sys.stderr.write(f"\r  uploading snapshot [{bar:<20}] {pct:5.1f}% {run_spec.human_size(self.done)}")
        if self.done >= self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def submit(args) -> int:
    from trainyard.storage import snapshot

    if not args.dir.is_dir():
        raise CliError(f"{args.dir} is not a directory")
    if not (args.dir / args.script).is_file():
        raise CliError(f"{args.script} not found in {args.dir}")
    script_args = list(args.script_args)
    ns = _ns(args)
    name = args.name or run_spec.run_name(args.experiment)
    inputs = run_spec.parse_inputs(args.input)
    if args.dry_run:
        source = {"snapshot": f"s3://<bucket>/snapshots/<sha256 of {args.dir}>.tar.gz"}
    else:
        kube.get_compute(ns, args.compute)
        cfg, client = _store()
        uri, uploaded = snapshot.upload(client, cfg.bucket, args.dir, progress=_Progress())
        print(f"snapshot {uri} ({'uploaded' if uploaded else 'unchanged, reused'})", file=sys.stderr)
        source = {"snapshot": str(uri)}
    body = run_spec.training_run(
        name=name,
        namespace=ns,
        experiment=args.experiment,
        compute=args.compute,
        source=source,
        entry_script=args.script,
        args=script_args,
        inputs=inputs,
        pip=args.pip,
        image=args.image,
        cpu=args.cpu,
        memory=args.memory,
        max_retries=args.max_retries,
        timeout=args.timeout,
        primary_metric=args.primary_metric,
    )
    if args.dry_run:
        import yaml

        print(yaml.safe_dump(body, sort_keys=False), end="")
        return 0
    kube.create_run(body)
    print(name)
    if args.wait:
        args.run, args.timeout = name, None
        return wait(args)
    return 0


def runs(args) -> int:
    selector = f"trainyard.dev/experiment={args.experiment}" if args.experiment else ""
    items = kube.list_runs(_ns(args), selector)
    print(f"{'NAME':40} {'EXPERIMENT':16} {'COMPUTE':14} {'PHASE':11} {'METRIC':22} {'STARTED'}")
    for r in sorted(items, key=lambda r: r["metadata"]["creationTimestamp"]):
        st = r.get("status") or {}
        print(
            f"{r['metadata']['name']:40} {r['spec'].get('experiment', ''):16} {r['spec']['compute']:14} "
            f"{st.get('phase', '-'):11} {st.get('primaryMetric', '-'):22} {st.get('startTime', '-')}"
        )
    return 0


def metrics(args) -> int:
    ns = _ns(args)
    run = kube.get_run(ns, args.run)
    if args.history:
        return _metric_history(ns, args)
    values = (run.get("status") or {}).get("metrics") or {}
    if args.output == "json":
        print(json.dumps(values, indent=2, sort_keys=True))
    elif not values:
        print(f"run {args.run} has logged no metrics yet")
    else:
        width = max(len(k) for k in values)
        for k, v in values.items():
            print(f"{k:{width}}  {v}")
    return 0


def _metric_history(ns: str, args) -> int:
    from trainyard.runtime.metrics import parse_lines
    from trainyard.storage import layout

    cfg, client = _store()
    try:
        resp = client.get_object(cfg.bucket, layout.run_metrics_key(ns, args.run))
    except Exception:
        raise CliError(f"no metric history for run {args.run} in the object store yet") from None
    try:
        records = parse_lines(resp.read().decode(errors="replace"))
    finally:
        resp.close()
        resp.release_conn()
    if args.output == "json":
        print(json.dumps(records, indent=2))
        return 0
    for rec in records:
        value = rec.get("value", rec.get("values", rec.get("row")))
        print(f"{rec.get('kind', 'metric'):6} {rec.get('name', rec.get('key', '')):24} {value}")
    return 0


def files(args) -> int:
    run = kube.get_run(_ns(args), args.run)
    st = run.get("status") or {}
    outputs = st.get("outputs")
    if outputs is None:
        print(f"run {args.run} is {st.get('phase', 'Queued')}: its outputs are recorded when it ends")
        return 0
    for f in outputs:
        print(f"{f['path']:50} {run_spec.human_size(f['size']):>10}  {f['sha256'][:16]}")
    return 0


def wait(args) -> int:
    ns = _ns(args)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    last = None
    while True:
        st = kube.get_run(ns, args.run).get("status") or {}
        phase = st.get("phase")
        if phase != last:
            print(
                f"{args.run}: {phase or 'Queued'}" + (f" — {st['message']}" if st.get("message") else ""),
                file=sys.stderr,
            )
            last = phase
        if phase in ("Completed", "Failed", "Canceled"):
            return run_spec.exit_code_for(phase)
        if deadline and time.monotonic() > deadline:
            raise CliError(f"run {args.run} is still {phase} after {args.timeout:.0f}s")
        time.sleep(1.0)


def logs(args) -> int:
    ns = _ns(args)
    run = kube.get_run(ns, args.run)
    pods = kube.run_pods(ns, args.run)
    if pods:
        try:
            if args.follow:
                resp = kube.pod_log(ns, pods[-1]["metadata"]["name"], follow=True)
                for chunk in resp.stream(amt=4096):
                    sys.stdout.write(chunk.decode(errors="replace"))
                    sys.stdout.flush()
                return 0
            sys.stdout.write(kube.pod_log(ns, pods[-1]["metadata"]["name"]))
            return 0
        except Exception:
            pass  # no kubelet to ask (or the pod is gone): the runner's copy in the object store
    cfg, client = _store()
    from trainyard.storage import layout

    key = layout.run_logs_prefix(ns, args.run) + "std_log.txt"
    try:
        resp = client.get_object(cfg.bucket, key)
    except Exception:
        phase = (run.get("status") or {}).get("phase", "Queued")
        raise CliError(f"no logs for run {args.run} yet (it is {phase})") from None
    try:
        sys.stdout.write(resp.read().decode(errors="replace"))
    finally:
        resp.close()
        resp.release_conn()
    return 0


def download(args) -> int:
    from trainyard.storage import layout

    ns = _ns(args)
    kube.get_run(ns, args.run)
    cfg, client = _store()
    prefix = layout.run_prefix(ns, args.run) + args.path.lstrip("/")
    target = args.output_dir or Path(args.run)
    count = 0
    for obj in client.list_objects(cfg.bucket, prefix=prefix, recursive=True):
        rel = obj.object_name[len(layout.run_prefix(ns, args.run)) :]
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        client.fget_object(cfg.bucket, obj.object_name, str(dest))
        count += 1
    if not count:
        raise CliError(f"nothing under {args.path or 'the run'} for run {args.run} in the object store")
    print(f"downloaded {count} file(s) to {target}/")
    return 0
