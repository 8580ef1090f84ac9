"""`primgate gen PRIM_FILES... --plan PATH [--check] [--status live,new]`: plan tests for the
``routes_map`` routes no test covers (prim.sh's ``gen:gate``), written into the plan in place;
``--check`` lists them and exits 1 without writing."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from pytest_primgate.gate import status_class
from pytest_primgate.generate.plan_edit import apply_generation
from pytest_primgate.generate.routes import Generation, plan_generation
from pytest_primgate.generate.shapes import load_route_schemas
from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.plan import load_plan
from pytest_primgate.manifests.prims import STATUSES, Prim, load_prims
from pytest_primgate.manifests.routes_map import load_routes_map

DEFAULT_STATUS = "live"
CLASSES = ("live", "new", "off")
NO_PRIM = "No prim selected by --status"


def default_schema_dir() -> Path:
    """``pytest_primgate/sandbox/schemas`` (the sandbox's conformance schemas)."""
    return Path(str(resources.files("pytest_primgate"))) / "sandbox" / "schemas"


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser(
        "gen", help="add plan tests for routes_map routes that no test covers",
        description="For each routes_map route of the selected prims that no plan test covers, "
                    "add a generated test to the plan (hand-written tests are never changed). "
                    "--check lists the uncovered routes and exits 1 instead.",
    )
    parser.add_argument("prim_files", nargs="+", type=Path, metavar="PRIM_FILE",
                        help="prim.yaml / prims/*.yaml / primitives.yaml files")
    parser.add_argument("--plan", required=True, type=Path, metavar="PATH",
                        help="smoke-test-plan.json to extend")
    parser.add_argument("--check", action="store_true",
                        help="list uncovered routes and exit 1; change nothing")
    parser.add_argument("--status", default=DEFAULT_STATUS, metavar="LIST",
                        help="prims to cover: comma-separated gate classes (live, new, off), "
                             "prim.yaml statuses (testnet, hold, ...) or 'all' "
                             f"(default: {DEFAULT_STATUS})")
    parser.add_argument("--schemas", type=Path, default=None, metavar="DIR",
                        help="directory of <prim>.json response schemas "
                             "(default: the sandbox's)")
    parser.set_defaults(run=run)


def parse_status(value: str) -> frozenset[str]:
    """The selection words of ``--status`` (lower-cased, empty entries dropped)."""
    return frozenset(w.strip().lower() for w in value.split(",") if w.strip())


def selected(prim: Prim, words: frozenset[str]) -> bool:
    """Whether ``--status`` selects a prim (by gate class or by its exact status)."""
    return "all" in words or prim.status in words or status_class(prim.status) in words


def _lines(gen: Generation, plan: Path, check: bool) -> list[str]:
    if not gen.routes and gen.notes[:1] and gen.notes[0].startswith(NO_PRIM):
        return [gen.notes[0]]
    if not gen.routes:
        return ["All routes of the selected prims have test coverage."]
    by_id = {t["id"]: t for t in gen.tests}
    head = (f"Missing {len(gen.routes)} test(s) for routes_map routes:" if check
            else f"Generated {len(gen.routes)} test(s) in {plan}:")
    lines = [head]
    for route, test_id in gen.routes:
        endpoint = by_id[test_id]["endpoint"]
        lines.append(f"  {test_id}  {route.method} {endpoint}  ({route.file}:{route.line})")
    lines.extend(f"note: {note}" for note in gen.notes)
    return lines


def generate(prim_files: Sequence[Path], plan: Path, status: str,
             schema_dir: Path | None = None, write: bool = True) -> tuple[str, str, Generation]:
    """(plan text now, plan text with the generated tests, what was generated); with
    ``write=False`` the second text is the first (nothing is rendered)."""
    words = parse_status(status)
    unknown = sorted(words - {"all", *CLASSES, *STATUSES})
    if unknown or not words:
        raise ManifestError("--status", None, "", f"unknown status {', '.join(unknown)!r} "
                            f"(use {', '.join(CLASSES)}, a prim.yaml status or all)")
    load_plan(plan)
    text = plan.read_bytes().decode("utf-8")
    data: dict[str, Any] = json.loads(text)
    prims = [p for p in load_prims(prim_files) if selected(p, words)]
    routes = load_routes_map(prim_files)
    directory = schema_dir or default_schema_dir()
    cache: dict[str, Mapping[str, Mapping[str, Any]]] = {}

    def schemas(prim: str) -> Mapping[str, Mapping[str, Any]]:
        if prim not in cache:
            cache[prim] = load_route_schemas(directory, prim)
        return cache[prim]

    gen = plan_generation(data, prims, routes, schemas)
    if not prims:
        found = sorted({p.status or "(none)" for p in load_prims(prim_files)})
        gen.notes.insert(0, f"{NO_PRIM} {status} (statuses found: {', '.join(found) or '-'}).")
    return text, apply_generation(text, data, gen) if write else text, gen


def run(args: argparse.Namespace) -> int:
    """0: covered (or tests written); 1: ``--check`` found uncovered routes; 2: bad input."""
    try:
        before, after, gen = generate(args.prim_files, args.plan, args.status, args.schemas,
                                     write=not args.check)
    except (ManifestError, OSError) as exc:
        print(f"primgate gen: {exc}")
        return 2
    if not args.check and after != before:
        args.plan.write_bytes(after.encode("utf-8"))
    print("\n".join(_lines(gen, args.plan, args.check)))
    if args.check:
        return 1 if gen.routes else 0
    return 0
