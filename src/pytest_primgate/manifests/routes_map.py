"""Read ``routes_map`` from prim.yaml files (read-only; ``load_prims`` gives status and endpoint).

Entries follow prim.sh (reference §6): ``{route: "POST /v1/buckets", status, description, notes,
request, response, errors: [{status, code, description}], ...}``. A package file's
``routes_map`` replaces the root registry's, as the shallow merge of ``load_prims`` does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_primgate.manifests.errors import ManifestError

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_ROUTE = re.compile(r"^\s*([A-Za-z]+)\s+(/\S*)\s*$")


@dataclass(frozen=True)
class RouteEntry:
    """One ``routes_map`` entry of a prim."""

    prim: str
    method: str
    path: str
    """Path template as written (``/v1/buckets/:id``)."""
    status: int
    description: str
    notes: str
    request: str
    """Request type name (``request`` / ``request_type``), empty when none."""
    paid: bool
    """x402-paid: the entry lists a 402 error and its notes do not say "free" (gen-gate)."""
    file: str
    line: int
    """1-based line of the entry."""

    @property
    def key(self) -> str:
        """``METHOD /path`` as in prim.yaml."""
        return f"{self.method} {self.path}"




def _read(path: Path) -> Any:
    """The prim file through prims' loader (alias bombs and deep nesting refused before
    expansion), ``__line__`` kept on every mapping."""
    from pytest_primgate.manifests.prims import _load_yaml

    def drop_key_lines(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop_key_lines(v) for k, v in value.items() if k != "__key_lines__"}
        if isinstance(value, list):
            return [drop_key_lines(v) for v in value]
        return value

    return drop_key_lines(_load_yaml(path))


def _entry(path: Path, prim: str, raw: Any, field: str, line: int) -> RouteEntry:
    if not isinstance(raw, dict):
        raise ManifestError(str(path), line, field, "each routes_map entry must be a mapping")
    line = int(raw.get("__line__", line))
    match = _ROUTE.match(str(raw.get("route", "")))
    if match is None or match.group(1).upper() not in METHODS:
        raise ManifestError(str(path), line, f"{field}.route",
                            f"expected 'METHOD /path', got {raw.get('route')!r}")
    status = raw.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ManifestError(str(path), line, f"{field}.status",
                            f"expected an HTTP status code, got {status!r}")
    errors = raw.get("errors") or []
    notes = str(raw.get("notes") or "")
    lists_402 = isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("status") == 402 for e in errors)
    return RouteEntry(
        prim=prim, method=match.group(1).upper(), path=match.group(2), status=status,
        description=str(raw.get("description") or "").strip(), notes=notes,
        request=str(raw.get("request_type") or raw.get("request") or ""),
        paid=lists_402 and "free" not in notes.lower(), file=str(path), line=line,
    )


def _routes(path: Path, entry: dict[str, Any], where: str) -> tuple[RouteEntry, ...] | None:
    raw = entry.get("routes_map")
    if raw is None:
        return None
    field = f"{where}routes_map"
    line = int(entry.get("__line__", 1))
    if not isinstance(raw, list):
        raise ManifestError(str(path), line, field, "routes_map must be a list")
    prim = str(entry["id"])
    return tuple(_entry(path, prim, item, f"{field}[{i}]", line) for i, item in enumerate(raw))


def load_routes_map(paths: Sequence[Path]) -> dict[str, tuple[RouteEntry, ...]]:
    """``routes_map`` by prim id; package files win over ``primitives:`` registries."""
    base: dict[str, tuple[RouteEntry, ...]] = {}
    packages: dict[str, tuple[RouteEntry, ...]] = {}
    for path in paths:
        data = _read(path)
        if isinstance(data, dict) and isinstance(data.get("primitives"), list):
            for index, item in enumerate(data["primitives"]):
                if isinstance(item, dict) and "id" in item:
                    found = _routes(path, item, f"primitives[{index}].")
                    if found is not None:
                        base[str(item["id"])] = found
        elif isinstance(data, dict) and "id" in data:
            found = _routes(path, data, "")
            if found is not None:
                packages[str(data["id"])] = found
    return {**base, **packages}
