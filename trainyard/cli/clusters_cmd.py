"""`trainyard clusters` — each ComputeCluster's nodes, queue and running runs at a glance."""

from __future__ import annotations

import argparse

from trainyard.api import trainingrun as tr
from trainyard.api.constants import COMPUTE_CLUSTER, GROUP, PLURALS, VERSION
from trainyard.cli import kube

SHOWN = 8  # names listed per line before "... and N more"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("clusters", help="ComputeClusters: nodes, queue and running runs")
    p.add_argument("name", nargs="?", help="one cluster (default: all in the namespace)")
    p.add_argument("-n", "--namespace", default=None, help="namespace (default: the kubeconfig's)")
    p.set_defaults(func=clusters)


def clusters(args) -> int:
    ns = args.namespace or kube.default_namespace()
    if args.name:
        items = [kube.get_compute(ns, args.name)]
    else:
        items = kube._call(
            kube.custom().list_namespaced_custom_object,
            GROUP,
            VERSION,
            ns,
            PLURALS[COMPUTE_CLUSTER],
            what=f"namespace {ns!r}",
        )["items"]
    if not items:
        print(f"no ComputeClusters in namespace {ns!r} (create one: see examples/)")
        return 0
    print(render(items, kube.list_runs(ns)))
    return 0


def _names(runs: list[str]) -> str:
    more = f" ... and {len(runs) - SHOWN} more" if len(runs) > SHOWN else ""
    return ", ".join(runs[:SHOWN]) + more


def _condition_line(status: dict) -> str:
    shown = []
    for c in status.get("conditions") or ():
        interesting = (c["type"] == "Ready" and c["status"] != "True") or (
            c["type"] != "Ready" and c["status"] == "True"
        )
        if interesting:
            shown.append(f"{c['type']}={c['status']} ({c['reason']}: {c.get('message', '')})")
    return "; ".join(shown) if shown else "Ready"


def render(clusters: list[dict], runs: list[dict]) -> str:
    """Pure: the text for a list of clusters and the namespace's runs."""
    out = []
    for cc in sorted(clusters, key=lambda c: c["metadata"]["name"]):
        name, spec, st = cc["metadata"]["name"], cc["spec"], cc.get("status") or {}
        mine = [
            r
            for r in runs
            if r["spec"].get("compute") == name and not tr.is_terminal((r.get("status") or {}).get("conditions"))
        ]
        queued = sorted(
            (r for r in mine if (r.get("status") or {}).get("phase", "Queued") in (tr.PHASE_QUEUED, tr.PHASE_SCALING)),
            key=lambda r: ((r.get("status") or {}).get("queuePosition") or 10**9, r["metadata"]["creationTimestamp"]),
        )
        active = sorted(r["metadata"]["name"] for r in mine if r not in queued)
        out.append(
            f"{name}  [{spec['provider']['type']}, {spec.get('priority', 'dedicated')}, "
            f"{spec.get('minNodes', 0)}..{spec['maxNodes']} nodes]  "
            f"nodes {st.get('currentNodes', 0)} (ready {st.get('readyNodes', 0)}, busy {st.get('busyNodes', 0)}, "
            f"desired {st.get('desiredNodes', 0)})  queued {len(queued)}  running {len(active)}"
        )
        out.append(f"  status: {_condition_line(st)}")
        for n in st.get("nodes") or ():
            state = "busy" if n.get("busy") else (f"idle since {n['idleSince']}" if n.get("idleSince") else "idle")
            out.append(
                f"  node {n['name']:<44} {'Ready' if n.get('ready') else 'NotReady':<9}{state}"
                f"{'  runs ' + str(n['runs']) if n.get('runs') else ''}"
            )
        if queued:
            out.append(
                "  queue: "
                + _names(
                    [
                        f"{r['metadata']['name']}"
                        + (
                            f" (#{r['status']['queuePosition']})"
                            if (r.get("status") or {}).get("queuePosition")
                            else ""
                        )
                        for r in queued
                    ]
                )
            )
        if active:
            out.append("  running: " + _names(active))
        if st.get("lastScaleTime"):
            out.append(f"  last scaled {st['lastScaleTime']}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
