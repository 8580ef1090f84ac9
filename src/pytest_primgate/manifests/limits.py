"""Limits every manifest loader enforces before a hostile file can hurt collection.

Nesting is limited to ``MAX_DEPTH`` levels (Python's parsers and validators recurse, and a
few thousand levels end in ``RecursionError``); YAML aliases may expand to at most
``MAX_YAML_NODES`` nodes (a 700-byte alias bomb otherwise expands to gigabytes); numbers a
run depends on must be finite. The walks here are iterative or bounded by ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Iterator
from types import FrameType
from typing import Any

MAX_DEPTH = 64
"""Deepest nesting of arrays/objects accepted in any manifest (the document is level 1)."""
MAX_YAML_NODES = 10_000
"""Most nodes a YAML document may have once its aliases are expanded."""
MAX_MESSAGE = 300
"""Characters of a manifest value quoted in an error message."""

DEPTH_MESSAGE = f"nesting deeper than {MAX_DEPTH} levels"

Path = list[str | int]


def too_deep(value: Any, depth: int = 1, limit: int = MAX_DEPTH) -> Path | None:
    """Path to the first container nested deeper than ``limit`` (``value`` at ``depth``)."""
    stack: list[tuple[Any, int, Path]] = [(value, depth, [])]
    while stack:
        node, level, path = stack.pop()
        if level > limit:
            return path
        children: Iterator[tuple[str | int, Any]]
        if isinstance(node, dict):
            children = iter(node.items())
        elif isinstance(node, list):
            children = enumerate(node)
        else:
            continue
        for key, child in children:
            if isinstance(child, dict | list):
                stack.append((child, level + 1, [*path, key]))
    return None


def non_finite(value: Any) -> Path | None:
    """Path to the first NaN or infinite float inside ``value`` (bounded depth assumed)."""
    stack: list[tuple[Any, Path]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            return path
        if isinstance(node, dict):
            stack.extend((child, [*path, key]) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((child, [*path, index]) for index, child in enumerate(node))
    return None


_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def depth_offset(text: str, opening: str = "[{", closing: str = "]}",
                 limit: int = MAX_DEPTH) -> int | None:
    """Offset in JSON-like ``text`` where nesting first exceeds ``limit`` (strings skipped)."""
    depth = 0
    for match in _BRACKETS.finditer(text):
        token = match.group()
        if token in opening:
            depth += 1
            if depth > limit:
                return match.start()
        elif token in closing:
            depth -= 1
    return None


def line_of(text: str, offset: int | None) -> int | None:
    """1-based line of ``offset`` (None stays None)."""
    return None if offset is None else text.count("\n", 0, offset) + 1


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TooDeep(ValueError):
    """A document nests deeper than ``MAX_DEPTH``."""


def _frames() -> int:
    depth = 0
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


_PROBE_OK = "[" * MAX_DEPTH + "]" * MAX_DEPTH
_PROBE_DEEP = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
_extra: list[int | None] = [MAX_DEPTH + 4]
"""Recursion headroom that lets exactly ``MAX_DEPTH`` levels parse (None: not possible)."""


def _decode(text: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
    """The one call site of the decoder, so probes and documents see the same stack:
    (False, None) when the recursion limit was hit."""
    try:
        return True, json.loads(text, **kwargs)
    except RecursionError:
        return False, None


def loads_json(text: str, **kwargs: Any) -> Any:
    """``json.loads`` that raises ``TooDeep`` beyond ``MAX_DEPTH`` levels, at no extra cost.

    The C decoder counts each level against the recursion limit, so the limit is lowered to
    the current depth plus a headroom found by parsing two probes (``MAX_DEPTH`` levels must
    parse, one more must not) at this very depth. Where the limit does not govern the decoder
    (Python >= 3.12), a walk of the parsed value decides instead.
    """
    old = sys.getrecursionlimit()
    extra = _extra[0]
    data: Any = None
    parsed = False
    if extra is not None:
        here = _frames()
        try:
            for _ in range(2 * MAX_DEPTH):
                sys.setrecursionlimit(here + extra)
                ok, deep = _decode(_PROBE_OK, {})[0], _decode(_PROBE_DEEP, {})[0]
                if ok and not deep:
                    break
                if ok and deep and extra <= MAX_DEPTH // 2:
                    extra = None
                    break
                extra += -1 if deep else 1
            else:
                extra = None
            _extra[0] = extra
            if extra is not None:
                parsed, data = _decode(text, kwargs)
                if not parsed:
                    raise TooDeep(DEPTH_MESSAGE)
        except RecursionError:
            extra = None
        finally:
            sys.setrecursionlimit(old)
    if not parsed:
        data = json.loads(text, **kwargs)
        if too_deep(data) is not None:
            raise TooDeep(DEPTH_MESSAGE)
    return data
