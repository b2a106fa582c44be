"""`trainyard operator`: run the operator (kopf) against the current kubeconfig's cluster.

The CLI never imports kopf: this command replaces its own process with `python -m kopf run`."""

from __future__ import annotations

import argparse
import os
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("operator", help="run the trainyard operator (needs the `operator` extra: kopf)")
    p.add_argument("-n", "--namespace", action="append", help="watch only these namespaces (default: all)")
    p.add_argument("--liveness", default=None, help="serve kopf's liveness probe, e.g. http://0.0.0.0:8080/healthz")
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=run)


def kopf_argv(args) -> list[str]:
    argv = [sys.executable, "-m", "kopf", "run", "--standalone"]
    argv += [f"--namespace={ns}" for ns in args.namespace or []] or ["--all-namespaces"]
    if args.liveness:
        argv.append(f"--liveness={args.liveness}")
    if args.verbose:
        argv.append("--verbose")
    return argv + ["-m", "trainyard.operator.main"]


def run(args) -> int:
    import importlib.util

    if importlib.util.find_spec("kopf") is None:
        raise RuntimeError("kopf is not installed: pip install 'trainyard[operator]'")
    argv = kopf_argv(args)
    os.execv(argv[0], argv)
    return 0  # not reached
