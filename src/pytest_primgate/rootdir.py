"""Keep rootdir where the project is when a primgate option's value is a path.

pytest chooses rootdir and the ini file before it loads plugins, so ``--primgate-holdout DIR``
(two arguments) reaches it as an unknown option followed by a path: DIR counts as a test path
and rootdir becomes a common parent of DIR and the project. Once our options are known (in
``pytest_load_initial_conftests``, before any conftest is loaded) the corrected free arguments
are in ``known_args_namespace.file_or_dir``; this module redoes pytest's choice with them.

pytest has no public way to do that (its docs call it a limitation, pytest#1435), so this is the
one place that uses pytest internals: ``determine_setup`` and the config's rootdir attributes,
guarded, so that a pytest without them gets a one-line usage error advising the ``--opt=DIR``
form instead of a wrong rootdir (docs/decisions.md).
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


def repair(config: pytest.Config, args: list[str], parser: pytest.Parser) -> None:
    """Redo pytest's rootdir choice without our option values, if they took part in it."""
    pairs = moved_by(args, value_options(parser))
    ns: Any = config.known_args_namespace
    if not pairs or ns.rootdir or ns.inifilename:
        return
    try:
        from _pytest.config.findpaths import determine_setup

        rootpath, inipath, inicfg, ignored = determine_setup(
            inifile=None, override_ini=ns.override_ini, args=list(ns.file_or_dir),
            rootdir_cmd_arg=None, invocation_dir=config.invocation_params.dir,
        )
        if (rootpath, inipath) == (config.rootpath, config.inipath):
            return
        derived = str(config.inipath.parent if config.inipath else config.rootpath)
        had_ini = config.inipath is not None
        config._rootpath = rootpath
        config._inipath = inipath
        config._inicfg = inicfg
        config._ignored_config_files = ignored
        config._inicache.clear()
        parser.extra_info["rootdir"] = str(rootpath)
        parser.extra_info["inifile"] = str(inipath)
        if ns.confcutdir == derived:
            ns.confcutdir = str(inipath.parent if inipath else rootpath)
        if not had_ini:  # the addopts of the ini file pytest missed
            args[:] = [*config.getini("addopts"), *args]
    except (ImportError, AttributeError, TypeError, ValueError):
        flag, value = pairs[0]
        raise pytest.UsageError(
            f"{flag} {value}: pytest took {value} for a test path when choosing rootdir; "
            f"write {flag}={value}"
        ) from None
