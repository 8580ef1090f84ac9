"""Grow-only check: every smoke scenario present at a git ref must still exist (by name).

A renamed scenario counts as removed: the name is what owners, history and dashboards track.
No pytest import; used by ``primgate check-grow-only`` and ``--primgate-grow-only-base``.
"""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any


class GrowOnlyError(Exception):
    """git could not answer (bad ref, not a repository); the message is git's."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False,
        timeout=60,
    )


def _fail(proc: subprocess.CompletedProcess[str]) -> GrowOnlyError:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return GrowOnlyError(lines[0] if lines else f"git exited with {proc.returncode}")


def repo_root(path: Path) -> Path:
    """The git top level containing ``path``."""
    proc = _git(path, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise _fail(proc)
    return Path(proc.stdout.strip())


def verify_ref(repo: Path, base: str) -> str:
    """The commit ``base`` names; GrowOnlyError with git's message when it names none."""
    if base.startswith("-"):
        raise GrowOnlyError(f"fatal: bad revision '{base}'")
    proc = _git(repo, "log", "-1", "--format=%H", base, "--")
    if proc.returncode != 0:
        raise _fail(proc)
    return proc.stdout.strip()


def scenario_names(text: str) -> list[str]:
    """Scenario names in manifest text, leniently (an invalid manifest yields what it can)."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    scenarios = data.get("scenario", [])
    if not isinstance(scenarios, list):
        return []
    return [s["name"] for s in scenarios if isinstance(s, dict) and isinstance(s.get("name"), str)]


def is_smoke_manifest(path: str) -> bool:
    """Default smoke manifest names: ``**/smoke/manifest.toml`` and ``*.smoke.toml``."""
    pure = PurePosixPath(path)
    return (pure.name == "manifest.toml" and pure.parent.name == "smoke") or pure.name.endswith(
        ".smoke.toml")


def _lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stdout.splitlines() if line]


def discover(repo: Path, base: str | None = None) -> list[str]:
    """Repo-relative smoke manifests: in the work tree now, and (with ``base``) at that ref,
    so that a deleted manifest file is checked too."""
    found: set[str] = set()
    proc = _git(repo, "ls-files", "--cached", "--others", "--exclude-standard")
    if proc.returncode != 0:
        raise _fail(proc)
    found.update(p for p in _lines(proc) if is_smoke_manifest(p))
    if base is not None:
        proc = _git(repo, "ls-tree", "-r", "--name-only", base)
        if proc.returncode != 0:
            raise _fail(proc)
        found.update(p for p in _lines(proc) if is_smoke_manifest(p))
    return sorted(found)


def _relative(repo: Path, manifest: Path) -> str:
    path = manifest if manifest.is_absolute() else Path.cwd() / manifest
    try:
        return path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError:
        raise GrowOnlyError(f"{manifest} is outside the repository {repo}") from None


def names_at(repo: Path, rel: str, base: str) -> list[str]:
    """Scenario names of repo-relative ``rel`` at ``base`` ([] when the file is absent there)."""
    proc = _git(repo, "show", f"{base}:{rel}")
    if proc.returncode != 0:
        return []
    return scenario_names(proc.stdout)


def missing_scenarios(repo: Path, manifests: Sequence[Path], base: str) -> list[tuple[str, str]]:
    """(manifest path, scenario name) for each scenario present at ``base`` and missing now.

    ``manifests`` are paths (absolute or relative to the cwd) inside ``repo``; the returned
    manifest paths are relative to the repository root. Raises GrowOnlyError for a bad ref.
    """
    root = repo_root(repo)
    verify_ref(root, base)
    missing: list[tuple[str, str]] = []
    for manifest in manifests:
        rel = _relative(root, manifest)
        before = names_at(root, rel, base)
        if not before:
            continue
        current = root / rel
        now = set(scenario_names(current.read_text(encoding="utf-8")) if current.is_file() else [])
        missing.extend((rel, name) for name in before if name not in now)
    return missing


def count_scenarios(repo: Path, manifests: Iterable[Path]) -> int:
    """How many scenarios the given manifests hold now."""
    root = repo_root(repo)
    total = 0
    for manifest in manifests:
        current = root / _relative(root, manifest)
        if current.is_file():
            total += len(scenario_names(current.read_text(encoding="utf-8")))
    return total
