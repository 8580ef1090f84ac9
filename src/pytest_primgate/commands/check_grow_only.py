"""`primgate check-grow-only --base REF [PATHS]`: no smoke scenario may disappear."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pytest_primgate.grow_only import (
    GrowOnlyError,
    count_scenarios,
    discover,
    missing_scenarios,
    repo_root,
    verify_ref,
)


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser(
        "check-grow-only",
        help="fail when a smoke scenario present at git REF is missing now",
        description="Smoke manifests are grow-only: a scenario present at REF that is gone "
        "(deleted or renamed) fails the check.",
    )
    parser.add_argument("--base", required=True, metavar="REF", help="git ref to compare with")
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="manifests to check (default: **/smoke/manifest.toml, "
                        "*.smoke.toml in the repository, now and at REF)")
    parser.set_defaults(run=run)


def removed_line(base: str, manifest: str, name: str) -> str:
    """The line printed for each scenario that disappeared."""
    return f"removed since {base}: {manifest}::{name}"


def run(args: argparse.Namespace) -> int:
    """0 when nothing was removed, 1 when something was, 2 when git cannot answer."""
    base: str = args.base
    try:
        root = repo_root(Path.cwd())
        verify_ref(root, base)
        paths: list[Path] = list(args.paths) or [root / p for p in discover(root, base)]
        missing = missing_scenarios(root, paths, base)
    except GrowOnlyError as exc:
        print(f"primgate check-grow-only: {exc}", file=sys.stderr)
        return 2
    for manifest, name in missing:
        print(removed_line(base, manifest, name))
    if missing:
        print(f"Grow-only check failed: {len(missing)} scenario(s) removed since {base} "
              "(smoke manifests are grow-only; restore them or keep the old name)")
        return 1
    total = count_scenarios(root, paths)
    print(f"Grow-only check passed: {total} scenario(s) in {len(paths)} manifest(s), "
          f"none removed since {base}")
    return 0
