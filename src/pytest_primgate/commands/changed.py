"""`primgate changed --base REF`: the prims a change touches, their plan groups and whether
each is ``new`` (moved into a live-class status), ``live`` (live-class at REF) or ``other``.

A prim is touched by its prim.yaml entry, by a path under its package folder (ini
``primgate_prim_paths``, default ``packages/{id}/**``) and by plan tests that exercise it.
``--all`` lists every live-class prim instead (push to main, nightly). The gate workflow runs
the printed groups."""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from pytest_primgate.gate import status_class
from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.prim_paths import (
    DEFAULT_PRIM_PATHS,
    PrimPath,
    compile_prim_paths,
    prims_of_path,
    read_ini_lines,
)

PLAN_PATTERNS = ("smoke-test-plan.json", "*.plan.json")
GIT_TIMEOUT = 30.0
Category = Literal["new", "live", "other"]


class ChangedError(Exception):
    """A problem the user must fix (bad ref, not a repository, invalid file)."""


@dataclass(frozen=True)
class ChangedPrim:
    """One prim whose prim.yaml entry changed since the base."""

    id: str
    category: Category
    base_status: str | None
    """Status at the base (None: the prim did not exist there)."""
    status: str | None
    """Status now (None: the prim was removed)."""
    groups: tuple[str, ...]
    reasons: tuple[str, ...] = ()
    """Why it is listed: ``prim.yaml``, ``code`` (a path under its folder), ``plan``, ``all``."""


def is_prim_file(path: str) -> bool:
    """Whether a repository path is a prim.yaml, ``prims/*.yaml`` or ``primitives.yaml``."""
    p = PurePosixPath(path)
    return p.name in ("prim.yaml", "primitives.yaml") or (
        p.parent.name == "prims" and p.suffix == ".yaml"
    )


def is_plan_file(path: str) -> bool:
    """Whether a repository path is a smoke test plan."""
    return any(fnmatch.fnmatch(PurePosixPath(path).name, pat) for pat in PLAN_PATTERNS)


def _git(repo: Path, *args: str) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True,
            timeout=GIT_TIMEOUT, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ChangedError(f"git {args[0]} failed: {exc}") from None
    if out.returncode != 0:
        first = (out.stderr.strip().splitlines() or ["(no output)"])[0]
        raise ChangedError(f"git {args[0]} failed: {first}")
    return out.stdout


def base_commit(repo: Path, ref: str) -> str:
    """The merge base of ``ref`` and HEAD (``ref`` itself when they share no history)."""
    try:
        commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
    except ChangedError:
        raise ChangedError(f"cannot resolve base {ref!r} (fetch it first?)") from None
    try:
        return _git(repo, "merge-base", commit, "HEAD").strip() or commit
    except ChangedError:
        return commit


def changed_files(repo: Path, base: str) -> list[str]:
    """Every path that differs between ``base`` and the work tree, untracked files included."""
    out = _git(repo, "diff", "--name-only", "--no-renames", base)
    out += _git(repo, "ls-files", "--others", "--exclude-standard")
    return sorted({line for line in out.splitlines() if line})


def _entries(text: str | None, path: str) -> dict[str, Any]:
    """Prim entries of one file by id (``primitives:`` list or a single prim mapping)."""
    if not text:
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ChangedError(f"{path}: invalid YAML: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("primitives"), list):
        return {str(e["id"]): e for e in data["primitives"] if isinstance(e, dict) and "id" in e}
    if isinstance(data, dict) and "id" in data:
        return {str(data["id"]): data}
    return {}


def _show(repo: Path, base: str, path: str) -> str | None:
    try:
        return _git(repo, "show", f"{base}:{path}")
    except ChangedError:
        return None


def _read(repo: Path, path: str) -> str | None:
    try:
        return (repo / path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def changed_prim_ids(repo: Path, base: str, paths: Sequence[str]) -> list[str]:
    """Ids whose entry in a changed file differs (all ids of a single-prim file that changed)."""
    ids: set[str] = set()
    for path in paths:
        before, after = _entries(_show(repo, base, path), path), _entries(_read(repo, path), path)
        ids |= {i for i in set(before) | set(after) if before.get(i) != after.get(i)}
    return sorted(ids)


def _files_at_base(repo: Path, base: str) -> list[str]:
    return _git(repo, "ls-tree", "-r", "--name-only", base).splitlines()


def _files_now(repo: Path) -> list[str]:
    return _git(repo, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()


def _statuses(files: dict[str, str | None]) -> dict[str, Any]:
    """Merged registry (``load_prims``) of the given prim files' texts, by prim id."""
    from pytest_primgate.manifests.prims import load_prims

    with tempfile.TemporaryDirectory(prefix="primgate-changed-") as tmp:
        paths = []
        for rel, text in sorted(files.items()):
            if text is None:
                continue
            target = Path(tmp, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            paths.append(target)
        try:
            registry = load_prims(paths)
        except ManifestError as exc:
            raise ChangedError(str(exc).replace(tmp + os.sep, "")) from None
    return {p.id: p for p in registry}


def categorize(base_status: str | None, status: str | None) -> Category:
    """``new`` when the status moved into a live class, ``live`` when live-class at the base
    and still now, else ``other`` (idea/building/testing changes, demotions, removals)."""
    if status is None:
        return "other"
    now_live = status_class(status) == "live"
    if base_status is None or status_class(base_status) != "live":
        return "new" if now_live else "other"
    return "live" if now_live else "other"


def plan_groups(repo: Path, plans: Sequence[Path], registry: dict[str, Any],
                fallback: dict[str, Any]) -> dict[str, list[str]]:
    """Plan groups per prim id (plan order): groups holding a test whose service is the prim."""
    from pytest_primgate.manifests.plan import load_plan
    from pytest_primgate.manifests.prims import PrimRegistry

    lookups = [PrimRegistry(list(registry.values())), PrimRegistry(list(fallback.values()))]
    groups: dict[str, list[str]] = {}
    for plan_path in plans:
        try:
            plan = load_plan(plan_path)
        except ManifestError as exc:
            raise ChangedError(str(exc)) from None
        order = [g.id for g in plan.groups]
        for test in sorted(plan.tests.values(), key=lambda t: order.index(t.group)
                           if t.group in order else len(order)):
            if not test.group:
                continue
            host = urlsplit(test.endpoint).hostname or ""
            prim = next((found for reg in lookups
                         if (found := reg.lookup(service=test.service, host=host)) is not None),
                        None)
            if prim is not None and test.group not in groups.setdefault(prim.id, []):
                groups[prim.id].append(test.group)
    return groups


def _plan_tests(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return {}
    tests = data.get("tests") if isinstance(data, dict) else None
    return {str(t["id"]): t for t in tests or [] if isinstance(t, dict) and "id" in t}


def plan_test_prims(repo: Path, base: str, paths: Sequence[str],
                    registries: Sequence[dict[str, Any]]) -> set[str]:
    """Prims exercised by plan tests added, changed or removed in the changed plan files."""
    from pytest_primgate.manifests.prims import PrimRegistry

    lookups = [PrimRegistry(list(r.values())) for r in registries]
    found: set[str] = set()
    for path in paths:
        before, after = _plan_tests(_show(repo, base, path)), _plan_tests(_read(repo, path))
        for tid in set(before) | set(after):
            if before.get(tid) == after.get(tid):
                continue
            test = after.get(tid) or before[tid]
            host = urlsplit(str(test.get("endpoint", ""))).hostname or ""
            for reg in lookups:
                prim = reg.lookup(service=str(test.get("service") or ""), host=host)
                if prim is not None:
                    found.add(prim.id)
                    break
    return found


def configured_prim_paths(repo: Path, override: Sequence[str] = ()) -> list[PrimPath]:
    """``--prim-paths`` entries, else ini ``primgate_prim_paths``, else the default."""
    entries = list(override) or read_ini_lines(repo) or list(DEFAULT_PRIM_PATHS)
    try:
        return compile_prim_paths(entries)
    except ValueError as exc:
        raise ChangedError(str(exc)) from None


def _registries(repo: Path, base: str) -> tuple[dict[str, Any], dict[str, Any]]:
    before = _statuses({p: _show(repo, base, p) for p in _files_at_base(repo, base)
                        if is_prim_file(p)})
    after = _statuses({p: _read(repo, p) for p in _files_now(repo) if is_prim_file(p)})
    return before, after


def _plan_paths(repo: Path, plans: Sequence[Path]) -> list[Path]:
    return list(plans) or [repo / p for p in _files_now(repo)
                           if is_plan_file(p) and (repo / p).is_file()]


def find_changed(repo: Path, ref: str, plans: Sequence[Path] = (),
                 prim_paths: Sequence[str] = ()) -> list[ChangedPrim]:
    """The prims a change since ``ref`` touches, with their categories and plan groups."""
    repo = Path(_git(repo, "rev-parse", "--show-toplevel").strip())
    base = base_commit(repo, ref)
    files = changed_files(repo, base)
    compiled = configured_prim_paths(repo, prim_paths)
    by_yaml = set(changed_prim_ids(repo, base, [p for p in files if is_prim_file(p)]))
    code_candidates = [p for p in files if any(e.pattern.match(p) for e in compiled)]
    plan_files = [p for p in files if is_plan_file(p)]
    if not (by_yaml or code_candidates or plan_files):
        return []
    before, after = _registries(repo, base)
    known = set(before) | set(after)
    by_code = {i for p in code_candidates for i in prims_of_path(p, compiled, known)}
    by_plan = plan_test_prims(repo, base, plan_files, [after, before])
    ids = sorted(by_yaml | by_code | by_plan)
    if not ids:
        return []
    groups = plan_groups(repo, _plan_paths(repo, plans), after, before)
    result = []
    for prim_id in ids:
        old = before[prim_id].status if prim_id in before else None
        new = after[prim_id].status if prim_id in after else None
        reasons = tuple(name for name, hit in (("prim.yaml", by_yaml), ("code", by_code),
                                                ("plan", by_plan)) if prim_id in hit)
        result.append(ChangedPrim(prim_id, categorize(old, new), old, new,
                                  tuple(groups.get(prim_id, ())), reasons))
    return result


def find_all_live(repo: Path, plans: Sequence[Path] = ()) -> list[ChangedPrim]:
    """Every prim whose status is live-class now (push to main, nightly), as ``live``."""
    repo = Path(_git(repo, "rev-parse", "--show-toplevel").strip())
    after = _statuses({p: _read(repo, p) for p in _files_now(repo) if is_prim_file(p)})
    live = sorted(i for i, p in after.items() if p.status and status_class(p.status) == "live")
    groups = plan_groups(repo, _plan_paths(repo, plans), after, {})
    return [ChangedPrim(i, "live", after[i].status, after[i].status,
                        tuple(groups.get(i, ())), ("all",)) for i in live]


def all_groups(prims: Sequence[ChangedPrim], *categories: Category) -> list[str]:
    """Union of the prims' groups (first-seen order), optionally for some categories only."""
    out: list[str] = []
    for prim in prims:
        if categories and prim.category not in categories:
            continue
        out.extend(g for g in prim.groups if g not in out)
    return out


def split_groups(prims: Sequence[ChangedPrim]) -> tuple[list[str], list[str]]:
    """(hard, soft): groups of already-live prims, and the other groups (new/other prims)."""
    hard = all_groups(prims, "live")
    soft = [g for g in all_groups(prims, "new", "other") if g not in hard]
    return hard, soft


def text_lines(prims: Sequence[ChangedPrim], ref: str) -> list[str]:
    """One line per prim (``store  live  live -> live  groups: store  via: code``), then
    ``groups: ...``."""
    if not prims:
        return [f"no prim changes since {ref}", "groups: "]
    width = max(len(p.id) for p in prims)
    lines = []
    for p in prims:
        move = f"{p.base_status or '(absent)'} -> {p.status or '(removed)'}"
        groups = ",".join(p.groups) or "-"
        via = ",".join(p.reasons) or "-"
        lines.append(f"{p.id:<{width}}  {p.category:<5}  {move}  groups: {groups}  via: {via}")
    lines.append("groups: " + ",".join(all_groups(prims)))
    return lines


def json_doc(prims: Sequence[ChangedPrim], ref: str) -> dict[str, Any]:
    """Machine-readable result."""
    hard, soft = split_groups(prims)
    return {"base": ref, "prims": [asdict(p) for p in prims], "groups": all_groups(prims),
            "hard_groups": hard, "soft_groups": soft}


def github_output(prims: Sequence[ChangedPrim]) -> str:
    """``key=value`` lines for ``$GITHUB_OUTPUT``."""
    hard, soft = split_groups(prims)
    groups = all_groups(prims)
    return (f"groups={','.join(groups)}\nhard_groups={','.join(hard)}\n"
            f"soft_groups={','.join(soft)}\nany={'true' if groups else 'false'}\n")


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser(
        "changed", help="prims a change touches since a base ref, and their plan groups",
        description="List the prims a change since REF touches (their prim.yaml, a path under "
                    "their package folder, plan tests that exercise them), new or live, and "
                    "the plan groups that exercise them. --all lists every live prim.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--base", metavar="REF", help="git ref to compare with")
    which.add_argument("--all", action="store_true",
                       help="every prim whose status is live-class (push to main, nightly)")
    parser.add_argument("--prim-paths", action="append", default=[], metavar="GLOB",
                        help="a prim's files, e.g. 'packages/{id}/**' or 'store=svc/**' "
                             "(repeatable; default: ini primgate_prim_paths, else "
                             "packages/{id}/**)")
    parser.add_argument("--repo", default=".", metavar="DIR", help="repository (default: .)")
    parser.add_argument("--plan", action="append", default=[], metavar="PATH",
                        help="plan file(s); default: smoke-test-plan.json and *.plan.json in git")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--github-output", action="store_true",
                        help="also append groups=, hard_groups=, soft_groups=, any= to "
                             "$GITHUB_OUTPUT")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the changed prims; 0 on success, 2 when git or a file cannot be read."""
    repo = Path(args.repo)
    plans = [Path(p) for p in args.plan]
    try:
        prims = (find_all_live(repo, plans) if args.all
                 else find_changed(repo, args.base, plans, args.prim_paths))
    except ChangedError as exc:
        print(f"primgate changed: {exc}")
        return 2
    label = "--all" if args.all else args.base
    if args.json:
        print(json.dumps(json_doc(prims, label), indent=2))
    elif args.all and not prims:
        print("\n".join(["no live prims", "groups: "]))
    else:
        print("\n".join(text_lines(prims, label)))
    target = os.environ.get("GITHUB_OUTPUT")
    if args.github_output and target:
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(github_output(prims))
    return 0
