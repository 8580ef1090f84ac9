"""Request, response and route types shared by every sandbox route module."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp


@dataclass
class SandboxRequest:
    """One HTTP request as a route handler sees it (prim prefix already stripped)."""

    method: str
    prim: str
    """Prim id from the path prefix: ``/store/v1/buckets`` -> ``store``."""
    path: str
    """Path after the prim prefix, always starting with ``/``: ``/v1/buckets``."""
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    """Lower-case header names."""
    body: bytes
    url: str
    """Full URL as the client addressed it (used as the x402 ``resource``)."""
    params: dict[str, str] = field(default_factory=dict)
    """Path parameters matched by the route pattern (``/v1/buckets/{id}`` -> ``{"id": ...}``)."""
    payer: str | None = None
    """Checksummed payer address, set by the paywall on paid routes."""

    def json(self) -> Any:
        """The body parsed as JSON (``None`` when empty); raises ValueError when malformed."""
        if not self.body:
            return None
        return json.loads(self.body)


@dataclass
class SandboxResponse:
    """What a handler returns; the server writes it in one send."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, status: int, obj: Any, headers: Mapping[str, str] | None = None
    ) -> SandboxResponse:
        """A JSON response."""
        out = {"Content-Type": "application/json"}
        out.update(headers or {})
        return cls(status, json.dumps(obj, separators=(",", ":")).encode(), out)

    @classmethod
    def error(cls, status: int, code: str, message: str, **extra: Any) -> SandboxResponse:
        """prim.sh's error envelope ``{"error": {"code", "message"}}``."""
        return cls.json(status, {"error": {"code": code, "message": message, **extra}})


Handler = Callable[[SandboxRequest], SandboxResponse]


@dataclass(frozen=True)
class Route:
    """A route of one prim: ``Route("POST", "store", "/v1/buckets", handler, price="0.05")``.

    ``price`` (USDC, decimal string) makes the route paid: the app runs the paywall first and
    sets ``request.payer``. ``x402_version`` picks the challenge format (2 default, 1 legacy).
    Patterns use ``{name}`` segments; ``{name:path}`` matches the rest of the path.
    """

    method: str
    prim: str
    pattern: str
    handler: Handler
    price: str | None = None
    x402_version: int = 2


RouteFactory = Callable[["SandboxApp"], list[Route]]
