"""Line positions in a smoke manifest's TOML text, found by a light scan (tomllib gives none).

The scan knows just enough TOML to be right for real manifests: table headers, ``key =`` lines,
comments and multi-line strings (whose content never counts as a header or key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\"' -]+?)\s*(\]\]?)\s*(#.*)?$")
_KEY = re.compile(r"^\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)\s*(?:\.|=)")
_TRIPLE = re.compile(r'"""|\'\'\'')


@dataclass(frozen=True)
class TomlLines:
    """Headers and key lines of a TOML text, 0-based."""

    headers: tuple[tuple[int, str, bool], ...]
    """(line, dotted table name, is array-of-tables) for every table header."""
    keys: tuple[tuple[int, str], ...]
    """(line, first segment of the key) for every ``key = value`` line outside strings."""

    @classmethod
    def scan(cls, text: str) -> TomlLines:
        """Scan ``text`` once."""
        headers: list[tuple[int, str, bool]] = []
        keys: list[tuple[int, str]] = []
        open_quote: str | None = None
        for number, line in enumerate(text.splitlines()):
            if open_quote is not None:
                if line.count(open_quote) % 2 == 1:
                    open_quote = None
                continue
            header = _HEADER.match(line)
            if header and len(header.group(1)) == len(header.group(3)):
                name = re.sub(r"\s*\.\s*", ".", header.group(2)).replace('"', "").replace("'", "")
                headers.append((number, name, header.group(1) == "[["))
                continue
            key = _KEY.match(line)
            if key:
                keys.append((number, key.group(1).strip("\"'")))
            triples = _TRIPLE.findall(line)
            if len(triples) % 2 == 1:
                open_quote = triples[-1]
        return cls(tuple(headers), tuple(keys))

    def array_headers(self, name: str) -> list[int]:
        """Lines of every ``[[name]]`` header, in order."""
        return [line for line, table, is_array in self.headers if is_array and table == name]

    def table_span(self, name: str, index: int) -> tuple[int, int] | None:
        """First and last line (exclusive end) of the ``index``-th ``[[name]]`` table,
        including its sub-tables (``[name.env]``, ``[[name.expect_file]]``)."""
        starts = self.array_headers(name)
        if index >= len(starts):
            return None
        start = starts[index]
        end = 1 << 30
        for line, table, is_array in self.headers:
            if line <= start:
                continue
            if (table == name and is_array) or not table.startswith(name + "."):
                end = line
                break
        return start, end

    def key_line(self, name: str, index: int, key: str, nth: int = 0) -> int | None:
        """0-based line of ``key`` inside the ``index``-th ``[[name]]`` table (or its sub-table
        ``[name.key]``); ``nth`` picks among repeated occurrences (e.g. expect_file entries)."""
        span = self.table_span(name, index)
        if span is None:
            return None
        start, end = span
        found = [line for line, k in self.keys if start < line < end and k == key]
        found += [
            line for line, table, _ in self.headers
            if start < line < end and table == f"{name}.{key}"
        ]
        found.sort()
        if not found:
            return None
        return found[min(nth, len(found) - 1)]

    def top_key_line(self, key: str) -> int | None:
        """0-based line of a top-level ``key`` (before the first table header)."""
        first = self.headers[0][0] if self.headers else 1 << 30
        for line, k in self.keys:
            if line < first and k == key:
                return line
        return None
