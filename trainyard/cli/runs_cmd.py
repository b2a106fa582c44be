"""`trainyard submit | runs | logs | metrics | files | download | wait` — the Azure ML Run workflow
from a shell: submit a directory as a TrainingRun, watch it, and fetch what it produced."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from trainyard.cli import kube, logs_cmd, run_list, run_spec, store_check
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

    r = sub.add_parser(
        "runs",
        help="list TrainingRuns (filter by experiment and phase, sort by a metric)",
        description="e.g. `trainyard runs --experiment sklearn-mnist --phase Completed --sort -accuracy`",
    )
    r.add_argument("--experiment", help="only runs whose spec.experiment is this")
    r.add_argument("--phase", help="only runs in this phase (comma-separated for several), e.g. Completed")
    r.add_argument(
        "--sort", metavar="[-]KEY", help="sort by a metric in status.metrics, or by name or age; a leading - descends"
    )
    ns_arg(r)
    r.set_defaults(func=runs)

    for name, fn, helptext in (
        ("metrics", metrics, "a run's metrics (latest values; --history for all)"),
        ("files", files, "a run's output files (path, size, sha256)"),
        ("wait", wait, "wait for a run to end; exit status 0 Completed, 1 Failed, 2 Canceled, 3 timed out"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("run")
        ns_arg(p)
        p.set_defaults(func=fn)
        if name == "metrics":
            p.add_argument("--history", action="store_true", help="every record, from the object store")
            p.add_argument("-o", "--output", choices=["table", "json"], default="table")
        if name == "wait":
            p.add_argument(
                "--timeout",
                type=float,
                default=None,
                metavar="SECONDS",
                help="give up after this many seconds (exit 3)",
            )

    logs_cmd.register(sub)

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
        store_check.check(cfg, client)  # the operator must be able to read what is uploaded
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
    import datetime

    try:
        phases = run_list.parse_phases(args.phase)  # before any API call: a typo needs no cluster
        chosen = run_list.select(kube.list_runs(_ns(args)), experiment=args.experiment, phases=phases, sort=args.sort)
    except run_list.SelectError as exc:
        raise CliError(str(exc)) from None
    for line in run_list.table(chosen, sort=args.sort, now=datetime.datetime.now(datetime.UTC)):
        print(line)
    return 0


def metrics(args) -> int:
    ns = _ns(args)
    run = kube.get_run(ns, args.run)
    if args.history:
        return _metric_history(run, args)
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


def _metric_history(run: dict, args) -> int:
    from trainyard.runtime.metrics import parse_lines
    from trainyard.storage import layout

    cfg, client = _store()
    try:
        resp = client.get_object(cfg.bucket, layout.run_prefix_of(run) + "metrics.jsonl")
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


WAIT_TIMED_OUT = 3


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
        if deadline and time.monotonic() >= deadline:
            now = run_list.describe_status(st)
            print(f"trainyard: error: run {args.run} did not end in {args.timeout:g}s; it is {now}", file=sys.stderr)
            return WAIT_TIMED_OUT
        time.sleep(1.0 if deadline is None else max(0.05, min(1.0, deadline - time.monotonic())))


def download(args) -> int:
    from trainyard.storage import layout

    run = kube.get_run(_ns(args), args.run)
    cfg, client = _store()
    root = layout.run_prefix_of(run)
    prefix = root + args.path.lstrip("/")
    target = args.output_dir or Path(args.run)
    count = 0
    for obj in client.list_objects(cfg.bucket, prefix=prefix, recursive=True):
        rel = obj.object_name[len(root) :]
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        client.fget_object(cfg.bucket, obj.object_name, str(dest))
        count += 1
    if not count:
        raise CliError(f"nothing under {args.path or 'the run'} for run {args.run} in the object store")
    print(f"downloaded {count} file(s) to {target}/")
    warning = run_spec.framework_mismatch(args.run, _run_environment(cfg, client, run), _local_versions())
    if warning:
        print(f"trainyard: warning: {warning}", file=sys.stderr)
    return 0


def _local_versions() -> dict[str, str | None]:
    import importlib.metadata as md

    try:
        return {"scikit-learn": md.version("scikit-learn")}
    except md.PackageNotFoundError:
        return {}


def _run_environment(cfg, client, run: dict) -> dict | None:
    """The `environment` the run's manifest records (None if it has no manifest yet, or it
    predates the field); a manifest that cannot be read is said in one line."""
    from trainyard.storage import layout
    from trainyard.storage.config import describe

    key = layout.run_prefix_of(run) + "manifest.json"
    try:
        resp = client.get_object(cfg.bucket, key)
    except Exception as exc:
        if getattr(exc, "code", None) not in ("NoSuchKey", "NoSuchObject"):
            print(f"trainyard: warning: cannot read s3://{cfg.bucket}/{key}: {describe(exc)}", file=sys.stderr)
        return None
    try:
        return json.loads(resp.read()).get("environment")
    except ValueError:
        print(f"trainyard: warning: s3://{cfg.bucket}/{key} is not JSON", file=sys.stderr)
        return None
    finally:
        resp.close()
        resp.release_conn()
