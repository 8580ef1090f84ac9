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
    parser.add_argument("--routes", action="store_true",
                        help="list every route the sandbox serves (method, path, price) and exit")
    parser.set_defaults(run=run)


def print_routes() -> int:
    """``--routes``: one line per served route, prims in table order, then the count."""
    from pytest_primgate.sandbox.app import SandboxApp
    from pytest_primgate.sandbox.route_schemas import served_routes

    app = SandboxApp()
    try:
        routes = served_routes(app)
        for route in routes:
            print(route.line())
    finally:
        app.close()
    own = [r for r in routes if r.prim != "*"]
    print(f"{len(own)} routes of {len({r.prim for r in own})} prims, "
          f"{len(routes) - len(own)} more under every prim id")
    return 0


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; exit 2 on a bad option or an unusable address."""
    from pytest_primgate.sandbox.__main__ import serve

    if getattr(args, "routes", False):
        return print_routes()
    try:
        config = from_args(args)
    except (FaultSpecError, ValueError) as exc:
        print(f"primgate sandbox: {exc}", file=sys.stderr)
        return 2
    return serve(config)
