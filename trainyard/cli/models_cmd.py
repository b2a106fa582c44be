"""`trainyard register RUN PATH --name NAME` and `trainyard models [NAME]` — Azure ML's
`run.register_model(...)` and `Model.list(ws)` from a shell.

`register` creates the RegisteredModel (or points an existing one at the new source, which makes
its next version); the operator copies the file and records the version. `--wait` waits for that.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from trainyard.api import conditions as cond
from trainyard.api import registeredmodel as rm
from trainyard.api.constants import API_VERSION, GROUP, PLURALS, REGISTERED_MODEL, VERSION
from trainyard.cli import kube
from trainyard.cli.kube import CliError

FRAMEWORKS = ("ScikitLearn", "Custom")


def register(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("register", help="register a file from a run's outputs as a model version")
    r.add_argument("run", help="the TrainingRun")
    r.add_argument("path", help="the file in its outputs, e.g. outputs/sklearn_mnist_model.pkl")
    r.add_argument("--name", required=True, help="model name (a new version if it exists)")
    r.add_argument("--framework", choices=FRAMEWORKS, default="ScikitLearn")
    r.add_argument("--framework-version", help="scikit-learn version (default: detected from the file)")
    r.add_argument("--cpu", help="CPU per serving replica, e.g. 1 or 500m")
    r.add_argument("--memory", help="memory per serving replica, e.g. 512Mi")
    r.add_argument("--description")
    r.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    r.add_argument("--wait", action="store_true", help="wait until the version is recorded (or refused)")
    r.add_argument("--timeout", type=float, default=300.0, help="with --wait, seconds (default 300)")
    r.add_argument("-n", "--namespace", default=None)
    r.set_defaults(func=register_cmd)

    m = sub.add_parser("models", help="list registered models, or one model's versions and lineage")
    m.add_argument("name", nargs="?")
    m.add_argument("-o", "--output", choices=["table", "json"], default="table")
    m.add_argument("-n", "--namespace", default=None)
    m.set_defaults(func=models_cmd)


def model_body(
    name: str,
    namespace: str,
    run: str,
    path: str,
    *,
    framework: str = "ScikitLearn",
    framework_version: str | None = None,
    cpu: str | None = None,
    memory: str | None = None,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict:
    """The RegisteredModel `register` creates (pure)."""
    spec: dict = {"source": {"trainingRun": {"name": run, "path": path}}, "framework": framework}
    if framework_version:
        spec["frameworkVersion"] = framework_version
    res = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    if res:
        spec["resources"] = res
    if description:
        spec["description"] = description
    if tags:
        spec["tags"] = dict(tags)
    return {
        "apiVersion": API_VERSION,
        "kind": REGISTERED_MODEL,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def parse_tags(items: list[str]) -> dict[str, str]:
    tags = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--tag must be KEY=VALUE, got {item!r}")
        tags[key] = value
    return tags


def _api(method: str, *args, what: str = ""):
    return kube._call(getattr(kube.custom(), method), GROUP, VERSION, *args, what=what)


def get_model(namespace: str, name: str) -> dict:
    return _api(
        "get_namespaced_custom_object",
        namespace,
        PLURALS[REGISTERED_MODEL],
        name,
        what=f"RegisteredModel {name!r} in namespace {namespace!r} (list them with `trainyard models`)",
    )


def apply_model(body: dict) -> dict:
    """Create, or — the model exists — move its source (and settings) to `body`'s."""
    from kubernetes.client.rest import ApiException

    ns, name = body["metadata"]["namespace"], body["metadata"]["name"]
    try:
        return kube.custom().create_namespaced_custom_object(GROUP, VERSION, ns, PLURALS[REGISTERED_MODEL], body)
    except ApiException as exc:
        if exc.status != 409:
            detail = exc.body if isinstance(exc.body, str) else ""
            raise CliError(
                f"cannot create RegisteredModel {name!r} in namespace {ns!r}: {exc.status} {exc.reason} {detail[:300]}"
            ) from None
    return _api("patch_namespaced_custom_object", ns, PLURALS[REGISTERED_MODEL], name, {"spec": body["spec"]})


def register_outcome(model: dict) -> tuple[str, str] | None:
    """('ok'|'failed', line) once the current generation's source is dealt with; None while not."""
    st = model.get("status") or {}
    reg = cond.find(st.get("conditions"), rm.REGISTERED)
    if not reg or reg.get("observedGeneration") != model["metadata"].get("generation"):
        return None
    if reg["status"] == cond.TRUE:
        v = next(v for v in st["versions"] if v["version"] == st["version"])
        return "ok", (
            f"{model['metadata']['name']} version {v['version']} ({v.get('framework')} "
            f"{v.get('frameworkVersion') or ''}) {v['uri']} sha256 {v['sha256']}"
        )
    if reg["reason"] in rm.WAITING_REASONS:
        return None
    return "failed", f"{reg['reason']}: {reg['message']}"


def register_cmd(args) -> int:
    ns = args.namespace or kube.default_namespace()
    kube.get_run(ns, args.run)  # one clear line if the run does not exist
    body = model_body(
        args.name,
        ns,
        args.run,
        args.path,
        framework=args.framework,
        framework_version=args.framework_version,
        cpu=args.cpu,
        memory=args.memory,
        description=args.description,
        tags=parse_tags(args.tag),
    )
    model = apply_model(body)
    if not args.wait:
        print(f"registeredmodel/{args.name} applied; `trainyard models {args.name}` shows its versions")
        return 0
    deadline = time.monotonic() + args.timeout
    while True:
        outcome = register_outcome(model)
        if outcome:
            print(outcome[1], file=sys.stdout if outcome[0] == "ok" else sys.stderr)
            return 0 if outcome[0] == "ok" else 1
        if time.monotonic() > deadline:
            st = model.get("status") or {}
            raise CliError(
                f"timed out after {args.timeout:.0f}s: {st.get('message') or 'the operator has not answered'}"
            )
        time.sleep(1.0)
        model = get_model(ns, args.name)


def models_cmd(args) -> int:
    ns = args.namespace or kube.default_namespace()
    if args.name:
        model = get_model(ns, args.name)
        if args.output == "json":
            print(json.dumps(model.get("status") or {}, indent=2, sort_keys=True))
        else:
            print(describe(model))
        return 0
    items = _api("list_namespaced_custom_object", ns, PLURALS[REGISTERED_MODEL])["items"]
    if args.output == "json":
        print(json.dumps([{"name": m["metadata"]["name"], **(m.get("status") or {})} for m in items], indent=2))
        return 0
    rows = [
        (
            m["metadata"]["name"],
            m["spec"].get("framework", ""),
            str((m.get("status") or {}).get("version", "")),
            (m.get("status") or {}).get("phase", ""),
            (m.get("status") or {}).get("endpoint", ""),
        )
        for m in items
    ]
    print(table(("NAME", "FRAMEWORK", "VERSION", "PHASE", "ENDPOINT"), rows))
    return 0


def describe(model: dict) -> str:
    """One model: its versions with lineage, then its conditions (pure)."""
    st = model.get("status") or {}
    lines = [
        f"{model['metadata']['name']}: {st.get('phase', 'Pending')}"
        + (f", version {st['version']}" if st.get("version") else "")
        + (f", {st['endpoint']}" if st.get("endpoint") else "")
    ]
    rows = []
    for v in st.get("versions") or ():
        metrics = ", ".join(f"{k}={v['metrics'][k]:g}" for k in sorted(v.get("metrics") or {}))
        mark = "*" if v["version"] == st.get("version") else " "
        rows.append(
            (
                f"{mark}{v['version']}",
                v.get("run") or v.get("sourceUri", ""),
                v.get("experiment", ""),
                f"{v.get('framework', '')} {v.get('frameworkVersion', '')}".strip(),
                str(v.get("size", "")),
                v.get("sha256", "")[:12],
                v.get("registeredAt", ""),
                metrics,
            )
        )
    if rows:
        lines.append(
            table(("VERSION", "SOURCE", "EXPERIMENT", "FRAMEWORK", "SIZE", "SHA256", "REGISTERED", "METRICS"), rows)
        )
    for t in st.get("traffic") or ():
        lines.append(
            f"traffic: version {t['version']}: {t.get('percent', '?')}% asked, {t['replicas']} ready "
            f"replica(s), {t['effectivePercent']}% of endpoints"
        )
    for c in st.get("conditions") or ():
        lines.append(f"{c['type']}={c['status']} {c['reason']}: {c['message']}")
    return "\n".join(lines)


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)).rstrip() for r in [header, *rows]
    )
