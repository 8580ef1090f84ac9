"""faucet.sh: USDC and ETH drips with per-address rate limits; USDC lands on the ledger.

``GET /v1/faucet/status`` also reports the address's sandbox ``balance`` (USDC string), which
the wallet fixture reads to decide whether to fund (the live faucet has no such field).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_utils.address import is_address, to_checksum_address

from pytest_primgate.sandbox.ledger import Ledger, to_atomic, to_usdc
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "faucet"
BAD_ADDRESS = "address must be an EVM address"
ETH_DRIP = "0.01"
ETH_COOLDOWN_SECONDS = 3600.0
REFILL_COOLDOWN_SECONDS = 600.0
TREASURY_ADDRESS = "0x09D896446fBd3299Fa8d7898001b086E56f642B5"
"""The sandbox treasury (a fixed address with no known key)."""


@dataclass
class FaucetState:
    """Last drip per (currency, address) and call counts."""

    cooldowns: dict[str, float]
    clock: Callable[[], float] = time.monotonic
    last: dict[tuple[str, str], float] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def retry_after(self, currency: str, address: str) -> float:
        """Seconds until ``address`` may get ``currency`` again (0 = now)."""
        with self._lock:
            last = self.last.get((currency, address.lower()))
        if last is None:
            return 0.0
        return max(0.0, self.cooldowns[currency] - (self.clock() - last))

    def take(self, currency: str, address: str) -> float:
        """Record a drip request: 0 when granted, else the seconds to wait."""
        key = (currency, address.lower())
        with self._lock:
            self.calls[currency] += 1
            now = self.clock()
            last = self.last.get(key)
            if last is not None and now - last < self.cooldowns[currency]:
                self.calls[f"{currency}_rate_limited"] += 1
                return self.cooldowns[currency] - (now - last)
            self.last[key] = now
            return 0.0

    def snapshot(self) -> dict[str, Any]:
        """Drip requests per currency (and how many were rate limited)."""
        with self._lock:
            return {"calls": dict(self.calls), "funded": len(self.last)}

    def reset(self) -> None:
        """Forget drips and counts."""
        with self._lock:
            self.last.clear()
            self.calls.clear()


def _address(value: object) -> str | None:
    return str(to_checksum_address(value)) if isinstance(value, str) and is_address(value) else None


def _rate_limited(wait: float) -> SandboxResponse:
    secs = max(1, math.ceil(wait))
    minutes = max(1, math.ceil(secs / 60))
    return SandboxResponse.json(
        429,
        {"error": {"code": "rate_limited", "message": f"Next drip in {minutes} minutes",
                   "retryAfter": secs}},
        {"Retry-After": str(secs)},
    )


def routes(app: SandboxApp) -> list[Route]:
    """Drips (usdc, eth), status, treasury and refill: all free."""
    config = app.config
    ledger: Ledger = app.ledger
    state = app.state.setdefault(
        "faucet",
        FaucetState({"usdc": float(config.faucet_cooldown_seconds), "eth": ETH_COOLDOWN_SECONDS,
                     "refill": REFILL_COOLDOWN_SECONDS}),
    )
    app.state.setdefault("paywall", app.paywall)

    def drip(currency: str, amount: str) -> Callable[[SandboxRequest], SandboxResponse]:
        def handler(request: SandboxRequest) -> SandboxResponse:
            try:
                body = request.json()
            except ValueError:
                body = None
            address = _address(body.get("address")) if isinstance(body, dict) else None
            if address is None:
                return SandboxResponse.error(400, "invalid_request", BAD_ADDRESS)
            wait = state.take(currency, address)
            if wait > 0:
                return _rate_limited(wait)
            tx = ledger.credit(address, to_atomic(amount)) if currency == "usdc" else "pending"
            return SandboxResponse.json(200, {
                "tx_hash": tx, "amount": amount, "currency": currency.upper(),
                "chain": config.network, "source": "treasury",
            })
        return handler

    def status(request: SandboxRequest) -> SandboxResponse:
        address = _address((request.query.get("address") or [""])[0])
        if address is None:
            return SandboxResponse.error(400, "invalid_request", BAD_ADDRESS)
        out: dict[str, Any] = {"address": address}
        for currency in ("usdc", "eth"):
            wait = state.retry_after(currency, address)
            out[currency] = {"available": wait == 0, "retry_after_ms": math.ceil(wait * 1000)}
        out["usdc"]["balance"] = to_usdc(ledger.balance(address))
        return SandboxResponse.json(200, out)

    def treasury(request: SandboxRequest) -> SandboxResponse:
        """Treasury balances (the sandbox treasury never runs low)."""
        return SandboxResponse.json(200, {"address": TREASURY_ADDRESS, "eth_balance": "1.000000",
                                          "usdc_balance": "1000000.00", "needs_refill": False})

    def refill(request: SandboxRequest) -> SandboxResponse:
        """Claim testnet funds into the treasury (one claim per cooldown, else 429)."""
        wait = state.take("refill", TREASURY_ADDRESS)
        if wait > 0:
            return _rate_limited(wait)
        return SandboxResponse.json(200, {
            "claimed": 1, "failed": 0, "estimated_eth": "0.0001", "usdc_claimed": 1,
            "usdc_failed": 0, "estimated_usdc": "1.00", "tx_hashes": ["0x" + "0" * 63 + "1"]})

    return [
        Route("POST", PRIM, "/v1/faucet/usdc", drip("usdc", config.faucet_drip_usdc)),
        Route("POST", PRIM, "/v1/faucet/eth", drip("eth", ETH_DRIP)),
        Route("GET", PRIM, "/v1/faucet/status", status),
        Route("GET", PRIM, "/v1/faucet/treasury", treasury),
        Route("POST", PRIM, "/v1/faucet/refill", refill),
    ]
