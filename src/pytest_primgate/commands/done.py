"""`primgate done` (not yet implemented)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser("done", help="(not yet implemented)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Not implemented yet."""
    print("primgate done: not implemented yet")
    return 2
