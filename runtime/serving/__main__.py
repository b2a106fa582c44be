"""`python -m trainyard.runtime.serving --model PATH --name NAME` (what the serving image runs;
the same as `trainyard serve`)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from trainyard.runtime.serving.config import ServeConfig, add_arguments
    from trainyard.runtime.serving.server import run

    parser = argparse.ArgumentParser(
        prog="python -m trainyard.runtime.serving", description="Serve a scikit-learn model over HTTP and gRPC."
    )
    add_arguments(parser)
    return run(ServeConfig.from_args(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
