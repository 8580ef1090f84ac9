"""Which files are manifests: glob matching of paths against the ini globs (pure, light)."""

from __future__ import annotations

import fnmatch
from pathlib import Path


def matches(path: Path, patterns: tuple[str, ...], rootpath: Path) -> bool:
    """True when ``path`` (by name or rootdir-relative path) matches one of ``patterns``."""
    try:
        rel = path.relative_to(rootpath).as_posix()
    except ValueError:
        rel = path.as_posix()
    return any(
        fnmatch.fnmatch(path.name, pat) or fnmatch.fnmatch(rel, pat)
        or (pat.startswith("**/") and fnmatch.fnmatch(rel, pat[3:]))
        for pat in patterns
    )


def missed_hint(path: Path, rootpath: Path) -> str:
    """The one-line hint when a manifest was among the paths of a run without ``--primgate``."""
    shown = path.relative_to(rootpath) if path.is_relative_to(rootpath) else path
    return f"primgate: {shown.as_posix()} is a smoke manifest; add --primgate to run it"
