"""The sandbox application: fault injection, routing, paywall, handlers (no sockets here)."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.faults import ConnectionResetFault, FaultAction, FaultInjector
from pytest_primgate.sandbox.ledger import Ledger
from pytest_primgate.sandbox.paywall import Paywall
from pytest_primgate.sandbox.routing import Router
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

ROUTE_MODULES = (
    "health_routes",
    "store_routes",
    "search_routes",
    "infer_routes",
    "wallet_routes",
    "faucet_routes",
    "spawn_routes",
    "email_routes",
    "gate_routes",
    "feedback_routes",
    "admin_routes",
)
"""Modules under ``pytest_primgate.sandbox`` whose ``routes(app)`` make up the route table."""

ADMIN_PREFIX = "_sandbox"
"""Admin routes live under ``/_sandbox/``: free, never faulted, not a prim."""

MALFORMED_JSON = b'{"data": [{"id": "sandbox-malformed", "value": '
"""Body of a ``malformed_json`` fault: a JSON document cut off in the middle."""


class SandboxApp:
    """One sandbox instance: config, per-module state, ledger, paywall and the route table.

    ``handle(...)`` turns one HTTP request into a ``SandboxResponse`` (or raises
    ``ConnectionResetFault``); the server owns the sockets.
    """

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        self.state: dict[str, Any] = {}
        """Per-module state objects (``snapshot() -> dict``; optional ``reset()``, ``close()``)."""
        self.ledger = Ledger()
        self.paywall = Paywall(self.ledger, network=self.config.network, pay_to=self.config.pay_to)
        self.faults = FaultInjector(self.config.faults)
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self.request_counts: Counter[str] = Counter()
        self.prim_counts: dict[str, list[int]] = {}
        self._now: Counter[str] = Counter()
        self._peak: Counter[str] = Counter()
        """Per prim: ``[requests, payments, errors]`` (for ``/v1/metrics``)."""
        self.router = Router()
        v1 = set(self.config.v1_routes)
        for name in ROUTE_MODULES:
            module = importlib.import_module(f"pytest_primgate.sandbox.{name}")
            for route in module.routes(self):
                if route.price is not None and f"{route.method} /{route.prim}{route.pattern}" in v1:
                    route = dataclasses.replace(route, x402_version=1)
                self.router.add(route)

    # -- request handling -------------------------------------------------------------------

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, host: str
    ) -> SandboxResponse:
        """Answer one request; ``headers`` has lower-case names, ``host`` is the Host header."""
        prim = target.partition("?")[0].lstrip("/").partition("/")[0]
        if prim == ADMIN_PREFIX:
            return self._handle(method, target, headers, body, host)
        with self._in_flight(prim):
            return self._handle(method, target, headers, body, host)

    @contextlib.contextmanager
    def _in_flight(self, prim: str) -> Iterator[None]:
        """Count the requests being answered at once, in total and per prim (their maxima
        are in ``GET /_sandbox/state`` as ``in_flight``)."""
        with self._lock:
            self._now[prim] += 1
            self._now[""] += 1
            for key in (prim, ""):
                self._peak[key] = max(self._peak[key], self._now[key])
        try:
            yield
        finally:
            with self._lock:
                self._now[prim] -= 1
                self._now[""] -= 1

    def _handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, host: str
    ) -> SandboxResponse:
        path, _, query = target.partition("?")
        prim, _, rest = path.lstrip("/").partition("/")
        rest = "/" + rest
        if prim != ADMIN_PREFIX and self.faults.specs:
            action = self.faults.decide(method, path, target)
            if action is not None:
                faulted = self._apply_fault(action)
                if faulted is not None:
                    self._count(prim, "fault", error=True)
                    return faulted
        request = SandboxRequest(
            method=method,
            prim=prim,
            path=rest,
            query=parse_qs(query, keep_blank_values=True) if query else {},
            headers=headers,
            body=body,
            url=f"http://{host}{target}",
        )
        match = self.router.match(method, prim, rest)
        route = match.route
        if route is None:
            self._count(prim, "unmatched", error=True)
            if not prim:
                return SandboxResponse.json(200, {"service": "primgate-sandbox", "status": "ok"})
            if match.allowed:
                return SandboxResponse.error(
                    405, "method_not_allowed", f"{method} not allowed on {path}",
                    allowed=list(match.allowed),
                )
            return SandboxResponse.error(404, "not_found", f"No route for {method} {path}")
        request.params = match.params
        response = self._run(route, request)
        if prim != ADMIN_PREFIX:
            self._count(
                prim,
                f"{route.method} /{prim}{route.pattern}",
                error=response.status >= 400,
                paid=route.price is not None and request.payer is not None,
            )
        return response

    def _run(self, route: Route, request: SandboxRequest) -> SandboxResponse:
        """Paywall (paid routes), then the handler; handler exceptions become a 500."""
        try:
            if route.price is None:
                return route.handler(request)
            check = self.paywall.check(request, price=route.price, version=route.x402_version)
            if check.response is not None:
                return check.response
            request.payer = check.payer
            response = route.handler(request)
            if response.status < 400:
                response.headers.update(self.paywall.settle(check))
            return response
        except Exception as exc:  # a handler bug must not kill the connection
            return SandboxResponse.error(
                500, "internal_error", f"sandbox handler failed: {type(exc).__name__}: {exc}"
            )

    def _apply_fault(self, action: FaultAction) -> SandboxResponse | None:
        """Sleep the injected latency, then return the faulted response (None: go on)."""
        if action.latency_s > 0:
            time.sleep(action.latency_s)
        if action.reset:
            raise ConnectionResetFault()
        if action.status is not None:
            return SandboxResponse.error(
                action.status, "sandbox_fault", f"injected fault: status {action.status}"
            )
        if action.malformed_json:
            return SandboxResponse(200, MALFORMED_JSON, {"Content-Type": "application/json"})
        return None

    def _count(self, prim: str, key: str, *, error: bool, paid: bool = False) -> None:
        with self._lock:
            self.request_counts[key] += 1
            counts = self.prim_counts.get(prim)
            if counts is None:
                counts = self.prim_counts[prim] = [0, 0, 0]
            counts[0] += 1
            counts[1] += paid
            counts[2] += error

    # -- introspection and lifecycle --------------------------------------------------------

    def routes_of(self, prim: str) -> list[Route]:
        """Routes registered for this prim (not the wildcard ones)."""
        return self.router.prim_routes(prim)

    def snapshot(self) -> dict[str, Any]:
        """What ``GET /_sandbox/state`` returns."""
        with self._lock:
            requests = dict(self.request_counts)
            prims = {
                p: {"requests": c[0], "payments": c[1], "errors": c[2]}
                for p, c in self.prim_counts.items()
            }
            in_flight = {"max": self._peak[""],
                         "max_by_prim": {p: n for p, n in self._peak.items() if p}}
        out: dict[str, Any] = {
            "requests": requests,
            "prims": prims,
            "faults": [spec.to_dict() for spec in self.faults.specs],
            "in_flight": in_flight,
            "state": {name: obj.snapshot() for name, obj in self.state.items()},
        }
        out["ledger"] = self.ledger.snapshot()
        out["paywall"] = self.paywall.snapshot()
        return out

    def reset(self) -> None:
        """Forget requests and module state (faults stay, their counters restart)."""
        with self._lock:
            self.request_counts.clear()
            self.prim_counts.clear()
            self._peak.clear()
        self.faults.reset_counters()
        objects = {id(o): o for o in [self.ledger, self.paywall, *self.state.values()]}
        for obj in objects.values():
            reset = getattr(obj, "reset", None)
            if callable(reset):
                reset()

    def close(self) -> None:
        """Release resources held by state objects (e.g. sshd processes of spawned servers)."""
        errors: list[BaseException] = []
        for obj in self.state.values():
            close = getattr(obj, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:
                    errors.append(exc)
        if errors:
            raise errors[0]
