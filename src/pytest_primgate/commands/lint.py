"""`primgate lint [PATHS]`: findings a valid manifest can still have.

Smoke manifests: scenarios without any ``expect_*`` key (exit-code-only, an "eyeball gate"),
unknown keys, owners that are not kebab-case task ids, scripts that are missing or unreadable.
Plans: unknown keys (forward compatible at load time, but probably typos). One line per finding,
``file:line: message``; exit 1 with findings, 0 without, 2 when a manifest is invalid.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pytest_primgate.grow_only import is_smoke_manifest
from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.smoke import load_smoke, owners_kebab_ok
from pytest_primgate.manifests.tomllines import TomlLines

SKIP_DIRS = frozenset({".git", ".hg", ".venv", "venv", "node_modules", "__pycache__", ".tox",
                       ".mypy_cache", ".ruff_cache", ".pytest_cache", "build", "dist"})


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser(
        "lint", help="report weak spots in smoke manifests and plans",
        description="Report scenarios without expect_* assertions, unknown keys, owners that "
        "are not kebab-case and missing scripts. Exit 1 when anything is found.",
    )
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                        help="manifests or directories (default: the current directory)")
    parser.set_defaults(run=run)


def is_plan(path: str) -> bool:
    """Default plan names: ``smoke-test-plan.json`` and ``*.plan.json``."""
    name = Path(path).name
    return name == "smoke-test-plan.json" or name.endswith(".plan.json")


def discover(paths: Sequence[Path]) -> list[Path]:
    """Files named on the command line, and manifests/plans found under directories."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            found.append(path)
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            for name in sorted(files):
                rel = os.path.join(root, name)
                if is_smoke_manifest(rel) or is_plan(rel):
                    found.append(Path(rel))
    return found


def lint_smoke(path: Path) -> list[str]:
    """Findings for one smoke manifest (raises ManifestError when it is invalid)."""
    manifest = load_smoke(path)
    lines = TomlLines.scan(path.read_text(encoding="utf-8"))
    base = path.parent
    out: list[str] = []

    def at(line: int | None, message: str) -> None:
        out.append(f"{path}:{(line or 0) + 1}: {message}")

    for key in manifest.unknown_fields:
        at(lines.top_key_line(key), f"unknown top-level key '{key}'")
    for index, scenario in enumerate(manifest.scenarios):
        name = scenario.name
        if not scenario.has_assertions:
            at(scenario.line, f"scenario '{name}' has no expect_* assertion (exit code only): "
               "state its expected output")
        for key in scenario.unknown_fields:
            at(lines.key_line("scenario", index, key) or scenario.line,
               f"scenario '{name}': unknown key '{key}'")
        for owner in scenario.owners:
            if not owners_kebab_ok(owner):
                at(lines.key_line("scenario", index, "owners") or scenario.line,
                   f"scenario '{name}': owner '{owner}' is not a kebab-case task id")
        script = Path(scenario.script)
        script = script if script.is_absolute() else base / script
        script_line = lines.key_line("scenario", index, "script") or scenario.line
        if not script.is_file():
            at(script_line, f"scenario '{name}': script not found: {script}")
        elif not os.access(script, os.R_OK):
            at(script_line, f"scenario '{name}': script not readable: {script}")
    return out


def _unknown(entry: Any) -> tuple[str, ...]:
    fields = getattr(entry, "unknown_fields", ()) or ()
    return tuple(str(f) for f in fields)


def lint_plan(path: Path) -> list[str]:
    """Unknown keys of a plan and of its tests (raises ManifestError when it is invalid)."""
    from pytest_primgate.manifests.jsonlines import LineIndex, pointer_offset
    from pytest_primgate.manifests.plan import load_plan

    plan = load_plan(path)
    text = path.read_text(encoding="utf-8")
    index = LineIndex(text)

    def line_of(parts: list[str | int], fallback: int) -> int:
        try:
            found = index.line(pointer_offset(text, parts))
        except ValueError:
            return fallback + 1
        return (found if found >= fallback else fallback) + 1

    out = [f"{path}:{line_of([key], 0)}: unknown top-level key '{key}'"
           for key in _unknown(plan)]
    for position, group in enumerate(getattr(plan, "groups", ())):
        for key in _unknown(group):
            line = line_of(["groups", position, key], int(getattr(group, "line", 0)))
            out.append(f"{path}:{line}: group '{group.id}': unknown key '{key}'")
    for position, test in enumerate(plan.tests.values()):
        for key in _unknown(test):
            line = line_of(["tests", position, key], int(getattr(test, "line", 0)))
            out.append(f"{path}:{line}: test '{test.id}': unknown key '{key}'")
    return out


def lint_paths(paths: Sequence[Path]) -> tuple[list[str], list[str]]:
    """(findings, errors) for the given manifests and directories."""
    findings: list[str] = []
    errors: list[str] = []
    for path in discover(paths):
        try:
            if path.suffix == ".json":
                findings.extend(lint_plan(path))
            else:
                findings.extend(lint_smoke(path))
        except ManifestError as exc:
            errors.append(str(exc))
    return findings, errors


def _iter_lines(findings: list[str], errors: list[str]) -> Iterator[str]:
    yield from errors
    yield from findings


def run(args: argparse.Namespace) -> int:
    """2 when a manifest is invalid, 1 with findings, 0 when clean."""
    paths: list[Path] = list(args.paths) or [Path(".")]
    findings, errors = lint_paths(paths)
    for line in _iter_lines(findings, errors):
        print(line)
    print(summary_line(len(discover(paths)), len(findings), len(errors)))
    if errors:
        return 2
    return 1 if findings else 0


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def summary_line(files: int, findings: int, invalid: int) -> str:
    """Last line of every run: ``primgate lint: 3 files, 0 findings`` (+ ``, 1 invalid``)."""
    line = f"primgate lint: {_count(files, 'file')}, {_count(findings, 'finding')}"
    return f"{line}, {invalid} invalid" if invalid else line
