"""Option values must not move rootdir: ``--primgate-holdout DIR`` as two arguments.

pytest chooses rootdir and the ini file before it loads plugins, so ``--primgate-holdout DIR``
(two arguments) reaches that choice as an unknown option followed by a path: DIR counts as a
test path, and rootdir (with the ini file, node ids and where results go) can move to a common
parent of DIR and the project. pytest has no public way to redo that choice (pytest#1435), and
this plugin uses no pytest internals, so a value that could have moved rootdir is a usage error
that says how to write it (``--primgate-holdout=DIR``), before anything runs. A value inside the
directory pytest was started from cannot move rootdir and is accepted (docs/decisions.md).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest


def value_options(parser: pytest.Parser) -> frozenset[str]:
    """Long names of primgate options that take a value (``--primgate-holdout`` and the like)."""
    names: set[str] = set()
    for group in getattr(parser, "_groups", []):
        if getattr(group, "name", "") != "primgate":
            continue
        for opt in getattr(group, "options", []):
            attrs = opt.attrs()
            if attrs.get("action") in ("store_true", "store_false", "count"):
                continue
            names.update(n for n in opt.names() if n.startswith("--primgate-"))
    return frozenset(names)


def moved_by(args: list[str], options: frozenset[str]) -> list[tuple[str, str]]:
    """``(option, value)`` pairs among ``args`` written as two arguments, value an existing path."""
    return [
        (flag, value) for flag, value in itertools.pairwise(args)
        if flag in options and not value.startswith("-") and Path(value).exists()
    ]


def check(config: pytest.Config, args: list[str], parser: pytest.Parser) -> None:
    """Refuse an option value written as a separate path argument that could move rootdir."""
    ns: Any = config.known_args_namespace
    if getattr(ns, "rootdir", None) or getattr(ns, "inifilename", None):
        return
    start = config.invocation_params.dir.resolve()
    for flag, value in moved_by(args, value_options(parser)):
        path = (start / value).resolve()
        if path == start or start in path.parents:
            continue
        raise pytest.UsageError(
            f"{flag} {value}: written as two arguments, pytest takes {value} for a test path "
            f"when it chooses rootdir and the ini file; write {flag}={value}"
        )
