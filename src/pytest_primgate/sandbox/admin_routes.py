"""Admin routes under ``/_sandbox/`` (free, never faulted): faults, state, reset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_primgate.sandbox.faults import FaultSpecError, parse_faults
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "_sandbox"


def routes(app: SandboxApp) -> list[Route]:
    """``GET|POST|DELETE /_sandbox/faults``, ``GET /_sandbox/state``, ``POST /_sandbox/reset``."""

    def faults_body() -> SandboxResponse:
        return SandboxResponse.json(200, {"faults": [s.to_dict() for s in app.faults.specs]})

    def get_faults(request: SandboxRequest) -> SandboxResponse:
        """The active fault rules."""
        return faults_body()

    def set_faults(request: SandboxRequest) -> SandboxResponse:
        """Replace the fault rules with a JSON list of spec strings or objects."""
        try:
            data = request.json()
        except ValueError:
            return SandboxResponse.error(400, "invalid_request", "Body is not valid JSON")
        if not isinstance(data, list):
            return SandboxResponse.error(
                400, "invalid_request", "Body must be a JSON list of fault specs"
            )
        try:
            specs = parse_faults(data)
        except FaultSpecError as exc:
            return SandboxResponse.error(400, "invalid_request", str(exc))
        app.faults.replace(specs)
        return faults_body()

    def clear_faults(request: SandboxRequest) -> SandboxResponse:
        """Remove every fault rule."""
        app.faults.replace(())
        return faults_body()

    def state(request: SandboxRequest) -> SandboxResponse:
        """Request counts per route and every module's state snapshot."""
        return SandboxResponse.json(200, app.snapshot())

    def reset(request: SandboxRequest) -> SandboxResponse:
        """Forget module state and counters; fault rules stay with fresh counters."""
        app.reset()
        return SandboxResponse.json(200, {"status": "reset"})

    return [
        Route("GET", PRIM, "/faults", get_faults),
        Route("POST", PRIM, "/faults", set_faults),
        Route("DELETE", PRIM, "/faults", clear_faults),
        Route("GET", PRIM, "/state", state),
        Route("POST", PRIM, "/reset", reset),
    ]
