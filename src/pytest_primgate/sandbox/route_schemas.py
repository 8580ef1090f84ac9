"""The sandbox's route list and the success-body JSON Schemas it is checked against.

``schemas/<prim>.json`` is ``{"prim", "routes": {"<METHOD> <routes_map path>": {"status",
"response"}}}`` (written by ``scripts/sandbox_schemas.py`` from prim.sh's ``api.ts`` types).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp
    from pytest_primgate.sandbox.types import Route

_PARAM = re.compile(r"\{(\w+)(?::path)?\}")


def template(pattern: str) -> str:
    """Sandbox pattern -> routes_map path: ``/v1/buckets/{id}/objects/{key:path}`` ->
    ``/v1/buckets/:id/objects/:key``."""
    return _PARAM.sub(r":\1", pattern)


@dataclass(frozen=True)
class ServedRoute:
    """One route the sandbox answers, as ``primgate sandbox --routes`` prints it."""

    prim: str
    method: str
    path: str
    """Path template in routes_map form (``/v1/buckets/:id``)."""
    price: str | None

    @property
    def key(self) -> str:
        """``"GET /v1/buckets/:id"``: the routes_map ``route`` value."""
        return f"{self.method} {self.path}"

    def line(self) -> str:
        price = f"{self.price} USDC" if self.price is not None else "free"
        prim = "<prim>" if self.prim == "*" else self.prim
        return f"{self.method:<6} /{prim}{self.path}  {price}"


def _served(route: Route) -> ServedRoute:
    return ServedRoute(route.prim, route.method, template(route.pattern), route.price)


def served_routes(app: SandboxApp) -> list[ServedRoute]:
    """Every prim route of ``app`` (not the admin routes), grouped by prim in table order."""
    from pytest_primgate.sandbox.app import ADMIN_PREFIX

    return [_served(r) for r in app.router.routes if r.prim != ADMIN_PREFIX]


@cache
def route_schemas() -> dict[str, dict[str, Any]]:
    """Prim id -> its schema document (``{"prim", "routes"}``), from the package."""
    folder = resources.files("pytest_primgate.sandbox").joinpath("schemas")
    out: dict[str, dict[str, Any]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            doc = json.loads(entry.read_text(encoding="utf-8"))
            out[str(doc["prim"])] = doc
    return out
