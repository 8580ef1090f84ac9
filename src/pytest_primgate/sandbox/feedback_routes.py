"""feedback.sh: free feedback submission and the internal feed (``x-internal-key``).

The sandbox's internal key is ``INTERNAL_KEY`` below; the feed answers 401 without it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_primgate.sandbox.routing import BadRequest, guarded, json_object, query_int
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse
from pytest_primgate.wallet import iso_now

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "feedback"
TYPES = ("bug", "friction", "feature", "praise")
MAX_BODY_CHARS = 5000
INTERNAL_KEY = "sandbox-internal-key"
"""What ``GET /feedback/v1/feed`` expects in ``x-internal-key`` (a sandbox constant)."""


@dataclass
class FeedbackState:
    """Submitted feedback, oldest first."""

    items: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"items": len(self.items)}

    def reset(self) -> None:
        with self.lock:
            self.items.clear()


def routes(app: SandboxApp) -> list[Route]:
    """``POST /v1/submit`` (free) and ``GET /v1/feed`` (internal)."""
    state = FeedbackState()
    app.state[PRIM] = state

    def submit(request: SandboxRequest) -> SandboxResponse:
        """Submit feedback about any prim."""
        data = json_object(request)
        primitive, kind, body = data.get("primitive"), data.get("type"), data.get("body")
        if not isinstance(primitive, str) or not primitive:
            raise BadRequest("primitive is required (e.g. wallet.sh)")
        if kind not in TYPES:
            raise BadRequest(f"type must be one of {', '.join(TYPES)}")
        if not isinstance(body, str) or not body.strip():
            raise BadRequest("body is required")
        if len(body) > MAX_BODY_CHARS:
            raise BadRequest(f"body must be at most {MAX_BODY_CHARS} characters")
        for name in ("wallet", "request_id"):
            if data.get(name) is not None and not isinstance(data.get(name), str):
                raise BadRequest(f"{name} must be a string")
        with state.lock:
            item = {"id": f"fb_{len(state.items) + 1:06d}", "primitive": primitive,
                    "type": kind, "body": body, "wallet": data.get("wallet"),
                    "request_id": data.get("request_id"), "created_at": iso_now()}
            state.items.append(item)
        return SandboxResponse.json(200, {"id": item["id"], "status": "received"})

    def feed(request: SandboxRequest) -> SandboxResponse:
        """List recent feedback, newest first (internal: needs ``x-internal-key``)."""
        if request.headers.get("x-internal-key") != INTERNAL_KEY:
            return SandboxResponse.error(401, "unauthorized", "Missing or invalid x-internal-key")
        limit = query_int(request, "limit", 50, 1, 200)
        offset = query_int(request, "offset", 0, 0, 10**9)
        primitive = (request.query.get("primitive") or [""])[0]
        with state.lock:
            items = [dict(i) for i in reversed(state.items)
                     if not primitive or i["primitive"] == primitive]
        return SandboxResponse.json(200, {
            "data": items[offset:offset + limit],
            "pagination": {"total": len(items), "limit": limit, "offset": offset}})

    return [
        Route("POST", PRIM, "/v1/submit", guarded(submit)),
        Route("GET", PRIM, "/v1/feed", guarded(feed)),
    ]
