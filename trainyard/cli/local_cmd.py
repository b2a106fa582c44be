"""`trainyard local up|down|status|kubeconfig|build`: a throwaway cluster without Docker."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local", help="a throwaway local cluster built from upstream sources")
    local.add_argument(
        "--dir", type=Path, default=None, help="state directory (default ~/.local/state/trainyard/local/default)"
    )
    cmds = local.add_subparsers(dest="local_command", metavar="SUBCOMMAND", required=True)

    up = cmds.add_parser("up", help="build (once) and start etcd, the control plane, KWOK and MinIO")
    up.add_argument("--nodes", type=int, default=2, help="simulated (KWOK) nodes to create (default 2)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each component")
    up.add_argument(
        "--real-node",
        action="store_true",
        help="also start a real node (containerd, kubelet, kube-proxy, CoreDNS) with images built "
        "locally; needs root and scripts/install-node-deps",
    )
    up.set_defaults(func=_up)

    cmds.add_parser("down", help="stop every process `up` started").set_defaults(func=_down)
    st = cmds.add_parser("status", help="show each component's PID, port and health")
    st.add_argument("-o", "--output", choices=["table", "json"], default="table")
    st.set_defaults(func=_status)
    cmds.add_parser("kubeconfig", help="print the kubeconfig path").set_defaults(func=_kubeconfig)
    cmds.add_parser("env", help="print shell exports for KUBECONFIG and the object store").set_defaults(func=_env)
    b = cmds.add_parser("build", help="build and cache every pinned binary (nothing is started)")
    b.set_defaults(func=_build)


def _cluster(args):
    from trainyard.local.cluster import LocalCluster

    return LocalCluster(args.dir, out=sys.stderr)


def _up(args) -> int:
    st = _cluster(args).up(nodes=args.nodes, timeout=args.timeout, real_node=args.real_node)
    print(f"export KUBECONFIG={st.kubeconfig}")
    print(f"source {st.env_file}   # object-store endpoint and credentials")
    ws = {"namespace": "default", "kubeconfig": str(st.kubeconfig), "store": {"env_file": str(st.env_file)}}
    print(f"# notebooks (trainyard.core): write this to .trainyard/config.json: {json.dumps(ws)}")
    return 0


def _down(args) -> int:
    cluster = _cluster(args)
    stopped = cluster.down()
    left = cluster.listening_ports()
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    if left:
        print(f"still listening: {left}", file=sys.stderr)
        return 1
    return 0


def _status(args) -> int:
    report = _cluster(args).status()
    if args.output == "json":
        print(json.dumps(report, indent=2))
    elif not report:
        print("no local cluster (run `trainyard local up`)")
    else:
        print(f"{'COMPONENT':20} {'PID':>8} {'PORT':>6}  STATE")
        for name, r in report.items():
            state = "running" if r["running"] else "stopped"
            if r["running"] and r["port"] and not r["listening"]:
                state += " (not listening)"
            print(f"{name:20} {r['pid']:>8} {r['port'] or '-':>6}  {state}")
    return 0 if report and all(r["running"] for r in report.values()) else 1


def _kubeconfig(args) -> int:
    st = _cluster(args).state()
    if st is None:
        raise RuntimeError("no local cluster; run `trainyard local up` first")
    print(st.kubeconfig)
    return 0


def _env(args) -> int:
    st = _cluster(args).state()
    if st is None:
        raise RuntimeError("no local cluster; run `trainyard local up` first")
    print(st.env_file.read_text(), end="")
    return 0


def _build(args) -> int:
    from trainyard.local.build import ensure_all

    for name, path in ensure_all(out=sys.stderr).items():
        print(f"{name}: {path}")
    return 0
