"""Which prim a repository path belongs to: ini ``primgate_prim_paths`` globs (pure).

An entry is ``GLOB`` with an ``{id}`` placeholder (one path segment naming the prim, e.g. the
default ``packages/{id}/**``) or ``PRIM=GLOB`` for a folder not named after its prim
(``store=services/store-api/**``). ``**`` spans directories, ``*`` and ``?`` stay in one.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PRIM_PATHS = ("packages/{id}/**",)
INI_KEY = "primgate_prim_paths"


@dataclass(frozen=True)
class PrimPath:
    """One compiled ``primgate_prim_paths`` entry."""

    text: str
    prim: str | None
    """The prim of a ``PRIM=GLOB`` entry; None when the glob's ``{id}`` names it."""
    pattern: re.Pattern[str]


def _regex(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        if glob.startswith("{id}", i):
            out.append(r"(?P<id>[^/]+)")
            i += 4
        elif glob.startswith("**/", i):
            out.append(r"(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(r".*")
            i += 2
        elif glob[i] == "*":
            out.append(r"[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append(r"[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def compile_prim_paths(entries: Iterable[str]) -> list[PrimPath]:
    """Compile entries; ValueError names an entry that has neither ``{id}`` nor ``PRIM=``."""
    out: list[PrimPath] = []
    for raw in entries:
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        prim, sep, glob = text.partition("=")
        if not sep:
            prim, glob = "", text
        prim, glob = prim.strip(), glob.strip().lstrip("/")
        if not prim and "{id}" not in glob:
            raise ValueError(f"{INI_KEY} entry {text!r} needs an {{id}} segment or PRIM=GLOB")
        out.append(PrimPath(text, prim or None, re.compile(_regex(glob) + r"\Z")))
    return out


def prims_of_path(path: str, prim_paths: Sequence[PrimPath], known: Iterable[str]) -> set[str]:
    """Known prim ids a repository path (``a/b/c``, forward slashes) belongs to."""
    ids = set(known)
    found: set[str] = set()
    for entry in prim_paths:
        match = entry.pattern.match(path)
        if match is None:
            continue
        prim = entry.prim or match.group("id")
        if prim in ids:
            found.add(prim)
    return found


def read_ini_lines(root: Path, key: str = INI_KEY) -> list[str] | None:
    """A linelist ini value from the repository's pytest configuration (pytest's order:
    pytest.ini, pyproject.toml ``[tool.pytest.ini_options]``, tox.ini, setup.cfg)."""
    for name, section in (("pytest.ini", "pytest"), ("pyproject.toml", None),
                          ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        path = root / name
        if not path.is_file():
            continue
        if section is None:
            try:
                data = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            options = data.get("tool", {}).get("pytest", {}).get("ini_options")
            if not isinstance(options, dict):
                continue
            value = options.get(key)
            if value is None:
                return None
            return [str(v) for v in value] if isinstance(value, list) else str(value).split("\n")
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        if not parser.has_section(section):
            if name == "pytest.ini":
                return None
            continue
        value = parser.get(section, key, fallback=None)
        return None if value is None else [v for v in value.splitlines() if v.strip()]
    return None
