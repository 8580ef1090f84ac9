"""Write a ``Generation`` into plan JSON text by textual insertion (pure).

Everything already in the file keeps its bytes: new tests are appended to ``tests``, new ids
inserted into group arrays, new groups appended, and only the ``captures`` value of an earlier
generated test is rewritten when a new test needs it. New text copies the file's indent unit,
separators and newlines. The result is checked against the same change applied to the parsed
data; should they ever differ, the whole document is re-serialized with the detected indent.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from typing import Any

from pytest_primgate.generate.routes import Generation
from pytest_primgate.manifests.jsonlines import iter_array, iter_object

_WS = re.compile(r"[ \t\n\r]*")
Edit = tuple[int, int, str]


def _skip(text: str, i: int) -> int:
    match = _WS.match(text, i)
    return match.end() if match else i


def _line_indent(text: str, pos: int) -> str:
    start = text.rfind("\n", 0, pos) + 1
    line = text[start:pos]
    return line[: len(line) - len(line.lstrip(" \t"))]


def indent_unit(text: str) -> str:
    """Whitespace before the first top-level key (two spaces when the file is one line)."""
    first = _skip(text, _skip(text, 0) + 1)
    ws = _line_indent(text, first) if "\n" in text[:first] else ""
    return ws or "  "


_SPACED = (", ", ": ")
_TIGHT = (",", ":")


def _render(value: Any, indent: str | None, unit: str, newline: str,
            separators: tuple[str, str] = _SPACED) -> str:
    if indent is None:
        return json.dumps(value, ensure_ascii=False, separators=separators)
    return json.dumps(value, indent=unit, ensure_ascii=False,
                      separators=(",", separators[1])).replace("\n", newline + indent)


def _separators(text: str) -> tuple[str, str]:
    """``(", ", ": ")`` unless the file writes ``"key":value`` without a space."""
    return _TIGHT if '":' in text and '": ' not in text else _SPACED


def _array_edits(text: str, pos: int, inserts: Sequence[tuple[Any, int | None]], unit: str,
                 newline: str) -> list[Edit]:
    """Edits inserting values into the array at ``pos`` (index to insert before, or None)."""
    seps = _separators(text)
    elements = [(start, end) for _, start, end in iter_array(text, pos)]
    if not elements:
        close = _skip(text, pos + 1)
        outer = _line_indent(text, pos)
        inner = outer + unit
        body = ("," + newline + inner).join(_render(v, inner, unit, newline, seps)
                                            for v, _ in inserts)
        return [(pos, close + 1, f"[{newline}{inner}{body}{newline}{outer}]")]
    if len(elements) >= 2:
        sep = text[elements[0][1]:elements[1][0]]
    else:
        lead = text[pos + 1:elements[0][0]]
        sep = "," + lead if "\n" in lead else seps[0]
    indent = sep[sep.rfind("\n") + 1:] if "\n" in sep else None
    multiline = indent is not None and "\n" in text[elements[-1][0]:elements[-1][1]]
    value_indent = indent if multiline else None
    edits: list[Edit] = []
    grouped: dict[int | None, list[str]] = {}
    for value, before in inserts:
        key = before if before is not None and before < len(elements) else None
        grouped.setdefault(key, []).append(_render(value, value_indent, unit, newline, seps))
    for before, rendered in grouped.items():
        if before is None:
            end = elements[-1][1]
            edits.append((end, end, "".join(sep + r for r in rendered)))
        else:
            start = elements[before][0]
            edits.append((start, start, "".join(r + sep for r in rendered)))
    return edits


def _members(text: str, pos: int) -> dict[str, tuple[int, int]]:
    return {key: (value_pos, end) for key, _, value_pos, end in iter_object(text, pos)}


def apply_to_data(data: dict[str, Any], gen: Generation) -> dict[str, Any]:
    """The same change on parsed plan data (a new object; ``data`` is not modified)."""
    out = dict(data)
    groups: list[Any] = []
    for group in data.get("groups") or []:
        placed = gen.placements.get(str(group.get("id"))) if isinstance(group, dict) else None
        if placed:
            ids = list(group.get("tests") or [])
            for test_id, before in placed:
                ids.insert(ids.index(before) if before in ids else len(ids), test_id)
            group = {**group, "tests": ids}
        groups.append(group)
    out["groups"] = groups + copy.deepcopy(gen.new_groups)
    out["tests"] = [
        {**t, "captures": dict(gen.captures[t["id"]])}
        if isinstance(t, dict) and t.get("id") in gen.captures else t
        for t in data.get("tests") or []
    ] + copy.deepcopy(gen.tests)
    return out


def _edits(text: str, expected: dict[str, Any], gen: Generation, unit: str,
           newline: str) -> list[Edit]:
    top = _members(text, _skip(text, 0))
    edits: list[Edit] = []
    groups_pos, tests_pos = top["groups"][0], top["tests"][0]
    final = {str(g.get("id")): g.get("tests") for g in expected["groups"]}
    for _, gpos, _ in iter_array(text, groups_pos):
        group = _members(text, gpos)
        gid = json.loads(text[group["id"][0]:group["id"][1]]) if "id" in group else None
        if gid is None or not gen.placements.get(str(gid)) or "tests" not in group:
            continue
        arr = group["tests"][0]
        ids = [json.loads(text[s:e]) for _, s, e in iter_array(text, arr)]
        order = list(final.get(str(gid)) or [])
        inserts: list[tuple[Any, int | None]] = []
        for index, tid in enumerate(order):
            if tid in ids:
                continue
            following = next((x for x in order[index + 1:] if x in ids), None)
            inserts.append((tid, ids.index(following) if following is not None else None))
        edits += _array_edits(text, arr, inserts, unit, newline)
    if gen.new_groups:
        edits += _array_edits(text, groups_pos, [(g, None) for g in gen.new_groups], unit,
                              newline)
    for _, tpos, tend in iter_array(text, tests_pos) if gen.captures else ():
        test = _members(text, tpos)
        if "id" not in test or "captures" not in test:
            continue
        tid = json.loads(text[test["id"][0]:test["id"][1]])
        if tid in gen.captures:
            start, end = test["captures"]
            indent = _line_indent(text, start) if "\n" in text[tpos:tend] else None
            edits.append((start, end, _render(gen.captures[tid], indent, unit, newline,
                                              _separators(text))))
    if gen.tests:
        edits += _array_edits(text, tests_pos, [(t, None) for t in gen.tests], unit, newline)
    return edits


def apply_generation(text: str, data: dict[str, Any], gen: Generation) -> str:
    """The plan text with ``gen`` written in; ``text`` itself when there is nothing to add."""
    if not gen.tests and not gen.captures:
        return text
    newline = "\r\n" if "\r\n" in text else "\n"
    unit = indent_unit(text)
    expected = apply_to_data(data, gen)
    edited = text
    for start, end, new in sorted(_edits(text, expected, gen, unit, newline), key=lambda e: -e[0]):
        edited = edited[:start] + new + edited[end:]
    try:
        if json.loads(edited) == expected:
            return edited
    except json.JSONDecodeError:
        pass
    tail = newline if text.endswith(("\n", "\r\n")) else ""
    return json.dumps(expected, indent=unit, ensure_ascii=False).replace("\n", newline) + tail
