"""`primgate lint [PATHS]`: findings a valid manifest can still have.

Smoke manifests: scenarios without any ``expect_*`` key (exit-code-only, an "eyeball gate"),
unknown keys, owners that are not kebab-case task ids, scripts that are missing or unreadable.
Plans: unknown keys (forward compatible at load time, but probably typos), each at its own line
with its key path (``unknown key 'groups[1].bar'``). One line per finding, ``file:line:
message``; exit 1 with findings, 0 without, 2 when a manifest is invalid. Keys a plan may carry
that change nothing in a deterministic run (``canary_only``, ``interface``, ``setup``,
``cleanup`` on groups; ``generated`` on tests) are listed as ``note:`` lines, not findings.
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


CANARY_GROUP_KEYS = ("canary_only", "interface", "setup", "cleanup")
"""Group keys prim.sh's runner reads only in ``--canary`` mode."""
KNOWN_EXPECTED = frozenset({"status", "body", "body_equals"})


def lint_plan(path: Path, notes: list[str] | None = None) -> list[str]:
    """Unknown keys of a plan, its groups, tests and expectations, each at its own line with
    its key path (raises ManifestError when the plan is invalid). Inert keys go to ``notes``."""
    import json

    from pytest_primgate.manifests.jsonlines import LineIndex, pointer_offset
    from pytest_primgate.manifests.plan import KNOWN_GROUP, KNOWN_TEST, KNOWN_TOP, load_plan

    load_plan(path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    index = LineIndex(text)

    def line_of(parts: list[str | int]) -> int:
        try:
            return index.line(pointer_offset(text, parts)) + 1
        except ValueError:
            return 1

    out = [f"{path}:{line_of([key])}: unknown top-level key '{key}'"
           for key in data if key not in KNOWN_TOP]
    listed: list[tuple[int, str]] = []
    for kind, known in (("groups", KNOWN_GROUP), ("tests", KNOWN_TEST)):
        entries = data.get(kind)
        for position, entry in enumerate(entries if isinstance(entries, list) else []):
            if not isinstance(entry, dict):
                continue
            label = f"{kind[:-1]} '{entry.get('id', position)}'"
            keys: list[tuple[list[str | int], str]] = [
                ([kind, position, key], key) for key in entry if key not in known]
            expected = entry.get("expected") if kind == "tests" else None
            if isinstance(expected, dict):
                keys += [([kind, position, "expected", key], f"expected.{key}")
                         for key in expected if key not in KNOWN_EXPECTED]
            for parts, name in keys:
                out.append(f"{path}:{line_of(parts)}: unknown key "
                           f"'{kind}[{position}].{name}' ({label})")
            inert = [k for k in CANARY_GROUP_KEYS if k in entry] if kind == "groups" else []
            for key in inert:
                listed.append((line_of([kind, position, key]),
                               f"note: key '{kind}[{position}].{key}' ({label}) is used only "
                               "by --canary; a deterministic run ignores it"))
            if kind == "tests" and "generated" in entry:
                listed.append((line_of([kind, position, "generated"]),
                               f"note: key '{kind}[{position}].generated' ({label}) is "
                               "informational (set by prim.sh's gen-gate); it changes nothing"))
    if notes is not None:
        notes.extend(f"{path}:{line}: {message}" for line, message in listed)
    return out


def lint_paths(
    paths: Sequence[Path], notes: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """(findings, errors) for the given manifests and directories; ``note:`` lines (inert
    keys) are appended to ``notes`` when given."""
    findings: list[str] = []
    errors: list[str] = []
    for path in discover(paths):
        try:
            if path.suffix == ".json":
                findings.extend(lint_plan(path, notes))
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
    notes: list[str] = []
    findings, errors = lint_paths(paths, notes)
    for line in _iter_lines(findings, errors):
        print(line)
    for line in notes:
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
