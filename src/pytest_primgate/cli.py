"""The ``primgate`` console script: a dispatcher over ``pytest_primgate.commands``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = ("done", "check_grow_only", "changed", "lint", "sandbox", "reap", "fetch", "gen")


def version() -> str:
    """The installed pytest-primgate version."""
    from importlib import metadata

    return metadata.version("pytest-primgate")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per command module."""
    parser = argparse.ArgumentParser(prog="primgate", description="pytest-primgate tools")
    parser.add_argument("--version", action="version", version=f"primgate {version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"pytest_primgate.commands.{name}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand and return its exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
