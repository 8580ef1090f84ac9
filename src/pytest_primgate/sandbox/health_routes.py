"""Free routes every prim answers: ``GET /``, ``/pricing``, ``/llms.txt``, ``/v1/metrics``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from pytest_primgate.sandbox.route_schemas import template
from pytest_primgate.sandbox.routing import ANY_PRIM
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

FREE_ROUTES = ("GET /", "GET /pricing", "GET /llms.txt", "GET /v1/metrics")
NETWORK_NAMES = {"eip155:84532": "Base Sepolia", "eip155:8453": "Base"}


def routes(app: SandboxApp) -> list[Route]:
    """Health, pricing, llms.txt and metrics for any prim id, known or invented."""
    network = app.config.network

    def health(request: SandboxRequest) -> SandboxResponse:
        if not request.prim:  # the sandbox's own root: say what it is and where the prims are
            prims = sorted({r.prim for r in app.router.routes} - {ANY_PRIM, "_sandbox"})
            return SandboxResponse.json(200, {
                "service": "primgate sandbox", "status": "ok", "network": network,
                "prims": {prim: f"/{prim}/" for prim in prims},
            })
        body: dict[str, object] = {"service": f"{request.prim}.sh", "status": "ok"}
        if request.prim == "faucet":
            body.update(network=network, testnet=network != "eip155:8453")
        return SandboxResponse.json(200, body)

    def pricing(request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json(
            200,
            {
                "service": f"{request.prim}.sh",
                "currency": "USDC",
                "network": network,
                "routes": [
                    {
                        "method": r.method,
                        "path": r.pattern,
                        "price_usdc": r.price,
                        "description": _describe(r),
                    }
                    for r in app.routes_of(request.prim)
                    if r.price is not None
                ],
            },
        )

    def llms_txt(request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse(
            200, render_llms_txt(app, request.prim).encode(), {"Content-Type": "text/plain"}
        )

    def metrics(request: SandboxRequest) -> SandboxResponse:
        counts = app.prim_counts.get(request.prim, [0, 0, 0])
        return SandboxResponse.json(
            200,
            {
                "service": f"{request.prim}.prim.sh",
                "uptime_s": round(time.monotonic() - app.started, 3),
                "requests": counts[0],
                "payments": counts[1],
                "errors": counts[2],
            },
        )

    return [
        Route("GET", ANY_PRIM, "/", health),
        Route("GET", ANY_PRIM, "/pricing", pricing),
        Route("GET", ANY_PRIM, "/llms.txt", llms_txt),
        Route("GET", ANY_PRIM, "/v1/metrics", metrics),
    ]


def _describe(route: Route) -> str:
    doc = (route.handler.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def render_llms_txt(app: SandboxApp, prim: str) -> str:
    """A per-prim llms.txt in prim.sh's layout, listing this sandbox's routes."""
    network = app.config.network
    chain = f"{NETWORK_NAMES.get(network, network)} ({network})"
    lines = [
        f"# {prim}.prim.sh",
        "",
        f"{prim}.sh served by the primgate sandbox (local, deterministic, offline).",
        "",
        f"Base URL: https://{prim}.prim.sh",
        f"Auth: x402 (USDC on {chain}). GET /, GET /pricing, GET /v1/metrics are free.",
        f"Chain: {chain}.",
        "",
        "## x402 Payment",
        "",
        "Server returns 402 with Payment-Required header. Retry with Payment-Signature header "
        "(base64-encoded signed authorization).",
        "",
        'Errors: {"error": {"code": "<code>", "message": "<msg>"}}',
        "",
        "## Endpoints",
    ]
    for spec in FREE_ROUTES:
        lines += ["", f"### {spec}", "", "Free."]
    for route in app.routes_of(prim):
        lines += ["", f"### {route.method} {template(route.pattern)}", ""]
        lines.append(f"Price: ${route.price}" if route.price is not None else "Free.")
        desc = _describe(route)
        if desc:
            lines.append(desc)
    return "\n".join(lines) + "\n"
