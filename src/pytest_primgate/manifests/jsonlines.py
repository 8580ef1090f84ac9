"""Positions in JSON text: the line of a key or of any JSON pointer.

``json`` gives values but no positions. Walking the text with the C decoder (``raw_decode``
per child value, ``scanstring`` per key) gives both at close to ``json.loads`` speed, so a
10,000-test plan gets every test's line without a Python-level character loop.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Sequence
from json.decoder import scanstring  # type: ignore[attr-defined]

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_ID_KEY = re.compile(r'"id"\s*:')


class LineIndex:
    """Maps character offsets to 0-based line numbers."""

    def __init__(self, text: str) -> None:
        self._newlines = [m.start() for m in re.finditer("\n", text)]

    def line(self, offset: int) -> int:
        """0-based line of ``offset``."""
        return bisect.bisect_left(self._newlines, offset)


def lines_at(text: str, offsets: Sequence[int]) -> list[int]:
    """0-based lines of ascending ``offsets``, counting newlines once from the start.

    A plan's test and group offsets come in text order; counting between neighbours is one
    pass in C, where a ``LineIndex`` would first list every newline of the file.
    """
    lines: list[int] = []
    line = pos = 0
    count = text.count
    for offset in offsets:
        if offset < pos:  # not ascending: start again from the top for this one
            line, pos = 0, 0
        line += count("\n", pos, offset)
        pos = offset
        lines.append(line)
    return lines


def _skip(text: str, i: int) -> int:
    match = _WS.match(text, i)
    return match.end() if match else i


def iter_object(text: str, i: int) -> Iterator[tuple[str, int, int, int]]:
    """Members of the object starting at ``text[i] == "{"``: key, key pos, value pos, end."""
    i = _skip(text, i + 1)
    if text[i : i + 1] == "}":
        return
    while True:
        key_pos = i
        key, i = scanstring(text, i + 1)
        i = _skip(text, i)
        i = _skip(text, i + 1)  # the colon
        value_pos = i
        _, end = _DECODER.raw_decode(text, i)
        yield key, key_pos, value_pos, end
        i = _skip(text, end)
        if text[i : i + 1] != ",":
            return
        i = _skip(text, i + 1)


def iter_array(text: str, i: int) -> Iterator[tuple[int, int, int]]:
    """Elements of the array starting at ``text[i] == "["``: index, value pos, end."""
    i = _skip(text, i + 1)
    if text[i : i + 1] == "]":
        return
    index = 0
    while True:
        _, end = _DECODER.raw_decode(text, i)
        yield index, i, end
        index += 1
        i = _skip(text, end)
        if text[i : i + 1] != ",":
            return
        i = _skip(text, i + 1)


def pointer_offset(text: str, parts: Sequence[str | int]) -> int:
    """Offset of the deepest reachable member named by ``parts`` (key position for objects)."""
    pos = _skip(text, 0)
    best = pos
    for part in parts:
        char = text[pos : pos + 1]
        found = None
        if char == "{":
            for key, key_pos, value_pos, _ in iter_object(text, pos):
                if key == str(part):
                    found = (key_pos, value_pos)
                    break
        elif char == "[" and isinstance(part, int | str) and str(part).isdigit():
            for index, value_pos, _ in iter_array(text, pos):
                if index == int(part):
                    found = (value_pos, value_pos)
                    break
        if found is None:
            return best
        best, pos = found
    return best


def _balanced(text: str, start: int, end: int) -> bool:
    """Whether ``text[start:end]`` opens as many brackets as it closes (strings ignored)."""
    depth = 0
    for match in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text[start:end]):
        token = match.group()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
    return depth == 0


_ID_VALUE = re.compile(r'"id"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _top_level(text: str) -> tuple[int | None, list[int]]:
    """Start of the top-level ``tests`` array and the offsets of the group objects.

    Values are skipped with the C decoder, except ``tests`` when nothing is needed after it.
    """
    tests_pos: int | None = None
    groups: list[int] = []
    pos = _skip(text, 0)
    if text[pos : pos + 1] != "{":
        return None, groups
    i = _skip(text, pos + 1)
    while text[i : i + 1] == '"':
        key, i = scanstring(text, i + 1)
        i = _skip(text, _skip(text, i) + 1)
        if key == "groups" and text[i : i + 1] == "[":
            groups = [start for _, start, _ in iter_array(text, i)]
        elif key == "tests":
            tests_pos = i
            if groups:
                return tests_pos, groups
        _, end = _DECODER.raw_decode(text, i)
        i = _skip(text, end)
        if text[i : i + 1] != ",":
            break
        i = _skip(text, i + 1)
    return tests_pos, groups


def plan_positions(text: str, test_ids: Sequence[str] = ()) -> tuple[list[int], list[int]]:
    """Offsets of each test's ``"id"`` key (tests array order) and of each group object.

    Fast path: one regex pass over the tests array, matching ``"id": "<value>"`` occurrences
    against the expected ids in order. When that does not line up (an ``"id"`` inside a
    nested value, escapes), the precise walk below takes over.
    """
    tests_pos, groups = _top_level(text)
    if tests_pos is None:
        return [], groups
    if test_ids:
        offsets: list[int] = []
        matches = _ID_VALUE.finditer(text, tests_pos)
        for tid in test_ids:
            for match in matches:
                if match.group(1) == tid:
                    offsets.append(match.start())
                    break
            else:
                break
        if len(offsets) == len(test_ids):
            return offsets, groups
    return _precise_positions(text), groups


def _precise_positions(text: str) -> list[int]:
    tests: list[int] = []
    pos = _skip(text, 0)
    for key, _, value_pos, _ in iter_object(text, pos):
        if text[value_pos : value_pos + 1] != "[":
            continue
        if key == "tests":
            for _, start, end in iter_array(text, value_pos):
                match = _ID_KEY.search(text, start, end)
                if match is not None and _balanced(text, start + 1, match.start()):
                    tests.append(match.start())
                    continue
                offset = start
                if text[start : start + 1] == "{":
                    for member, key_pos, _, _ in iter_object(text, start):
                        if member == "id":
                            offset = key_pos
                            break
                tests.append(offset)
    return tests
