"""`trainyard` — the Azure Machine Learning workflow on Kubernetes, from a shell.

One console script; each command group lives in its own module."""

from __future__ import annotations

import argparse
import sys

from trainyard.cli import clusters_cmd, local_cmd, models_cmd, operator_cmd, runs_cmd, serve_cmd


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trainyard",
        description="The Azure Machine Learning workflow on "
        "Kubernetes: submit runs, watch them, fetch their outputs, serve models.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    local_cmd.register(sub)
    runs_cmd.register(sub)
    serve_cmd.register(sub)
    clusters_cmd.register(sub)
    operator_cmd.register(sub)
    models_cmd.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after the first `--` belongs to the training script (`trainyard submit ... -- ARGS`);
    # argparse would otherwise try to read it, or swallow options placed after DIR.
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    # `--sort -accuracy`: argparse would read the descending key as an unknown option.
    argv = [
        f"{a}={argv[i + 1]}" if a == "--sort" and i + 1 < len(argv) and argv[i + 1].startswith("-") else a
        for i, a in enumerate(argv)
        if not (i > 0 and argv[i - 1] == "--sort" and a.startswith("-"))
    ]
    args = parser.parse_args(argv)
    if passthrough:
        if not hasattr(args, "script_args"):
            parser.error("arguments after `--` are only accepted by `trainyard submit`")
        args.script_args = passthrough
    if args.version:
        from trainyard import __version__

        print(__version__)
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # every command error reaches the user as one line
        if getattr(args, "debug", False) or isinstance(exc, AssertionError):
            raise
        print(f"trainyard: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
