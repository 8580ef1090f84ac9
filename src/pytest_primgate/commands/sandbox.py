"""``primgate sandbox``: serve the embedded prim.sh-compatible sandbox in the foreground."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pytest_primgate.sandbox.config import add_arguments, from_args
from pytest_primgate.sandbox.faults import FaultSpecError


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser(
        "sandbox",
        help="serve the prim.sh-compatible sandbox on loopback",
        description="Serve every prim under /<id>/ on loopback until interrupted. The first "
        "line of output is 'sandbox listening on http://HOST:PORT'.",
    )
    add_arguments(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; exit 2 on a bad option or an unusable address."""
    from pytest_primgate.sandbox.__main__ import serve

    try:
        config = from_args(args)
    except (FaultSpecError, ValueError) as exc:
        print(f"primgate sandbox: {exc}", file=sys.stderr)
        return 2
    return serve(config)
