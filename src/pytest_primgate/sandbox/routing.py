"""Route table (``{name}`` / ``{name:path}`` patterns per prim) and helpers for handlers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from pytest_primgate.sandbox.types import Handler, Route, SandboxRequest, SandboxResponse

ANY_PRIM = "*"
"""``Route.prim`` value of routes every prim answers (health, pricing, llms.txt, metrics)."""

_PARAM = re.compile(r"\{(\w+)(:path)?\}")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``/v1/buckets/{id}/objects/{key:path}`` -> a regex with named groups."""
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern must start with '/': {pattern!r}")
    out: list[str] = []
    pos = 0
    for m in _PARAM.finditer(pattern):
        out.append(re.escape(pattern[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class Match:
    """Result of a lookup: the route and its path parameters (``route`` None: see ``allowed``)."""

    route: Route | None
    params: dict[str, str]
    allowed: tuple[str, ...] = ()
    """Methods that would match the path, when ``route`` is None (405 vs 404)."""


class Router:
    """Routes grouped by prim; prim-specific routes win over ``ANY_PRIM`` routes."""

    def __init__(self, routes: list[Route] | None = None) -> None:
        self._table: dict[str, list[tuple[re.Pattern[str], Route]]] = {}
        self._static: dict[tuple[str, str, str], Route] = {}
        self.routes: list[Route] = []
        for route in routes or []:
            self.add(route)

    def add(self, route: Route) -> None:
        """Register a route (first registration of a method+pattern wins)."""
        self.routes.append(route)
        if "{" not in route.pattern:
            self._static.setdefault((route.prim, route.method, route.pattern), route)
        self._table.setdefault(route.prim, []).append((compile_pattern(route.pattern), route))

    def prim_routes(self, prim: str) -> list[Route]:
        """Routes registered for exactly this prim."""
        return [route for _, route in self._table.get(prim, [])]

    def match(self, method: str, prim: str, path: str) -> Match:
        """Find the route for ``method prim path``."""
        for key in (prim, ANY_PRIM):
            static = self._static.get((key, method, path))
            if static is not None:
                return Match(static, {})
        allowed: list[str] = []
        for key in (prim, ANY_PRIM):
            for regex, route in self._table.get(key, ()):
                m = regex.match(path)
                if m is None:
                    continue
                if route.method == method or (method == "HEAD" and route.method == "GET"):
                    return Match(route, {k: unquote(v) for k, v in m.groupdict().items()})
                allowed.append(route.method)
        return Match(None, {}, tuple(dict.fromkeys(allowed)))


class BadRequest(Exception):
    """Raised by the helpers below; ``response`` is the 400 to send."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.response = SandboxResponse.error(status, code, message)


def json_object(request: SandboxRequest, *, allow_empty: bool = False) -> dict[str, Any]:
    """The body as a JSON object, or ``BadRequest`` naming what is wrong."""
    if not request.body:
        if allow_empty:
            return {}
        raise BadRequest("Request body must be a JSON object")
    try:
        data = request.json()
    except ValueError:
        raise BadRequest("Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("Request body must be a JSON object")
    return data


def query_int(request: SandboxRequest, name: str, default: int, low: int, high: int) -> int:
    """An integer query parameter within ``[low, high]``."""
    values = request.query.get(name)
    if not values:
        return default
    try:
        value = int(values[0])
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


def page_of(items: list[Any], page: int, per_page: int) -> dict[str, Any]:
    """prim.sh's page-numbered list: ``{data, pagination: {total, page, per_page, ...}}``."""
    start = (page - 1) * per_page
    chunk = items[start : start + per_page]
    has_more = start + per_page < len(items)
    return {
        "data": chunk,
        "pagination": {
            "total": len(items),
            "page": page,
            "per_page": per_page,
            "cursor": None,
            "has_more": has_more,
        },
    }


def cursor_page(request: SandboxRequest, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """prim.sh's cursor list ``{data, pagination: {cursor}}`` (``?limit`` 1-100, ``?after``).

    ``items`` are in list order and ``item[key]`` increases along it; ``after`` is the last
    key of the previous page, and ``cursor`` is null on the last page.
    """
    limit = query_int(request, "limit", 20, 1, 100)
    after = (request.query.get("after") or [""])[0]
    rest = [i for i in items if str(i[key]) > after] if after else items
    chunk = rest[:limit]
    cursor = str(chunk[-1][key]) if len(rest) > limit else None
    return {"data": chunk, "pagination": {"cursor": cursor}}


def guarded(handler: Handler) -> Handler:
    """Turn ``BadRequest`` raised by a handler into its 400 response."""

    def run(request: SandboxRequest) -> SandboxResponse:
        try:
            return handler(request)
        except BadRequest as exc:
            return exc.response

    run.__name__ = getattr(handler, "__name__", "handler")
    run.__doc__ = handler.__doc__
    return run
