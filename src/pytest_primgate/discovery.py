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
