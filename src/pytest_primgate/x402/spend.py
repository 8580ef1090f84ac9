"""Spend controls: which requirement of a challenge to pay, and when to refuse (nothing signed)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from pytest_primgate.filelock import lock_exclusive, unlock
from pytest_primgate.x402.codec import Challenge
from pytest_primgate.x402.errors import PaymentRefused, X402Error
from pytest_primgate.x402.networks import NETWORKS, caip2_of, find_network
from pytest_primgate.x402.signer import amount_of


def usdc(amount: Decimal) -> str:
    """``Decimal('0.05')`` -> ``'0.05'``; at least two decimals, no exponent."""
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


@dataclass(frozen=True)
class SpendPolicy:
    """Caps per payment and per session, recipient allowlist, known networks and assets."""

    max_payment: Decimal = Decimal("1.00")
    budget: Decimal = Decimal("10.00")
    pay_to: tuple[str, ...] = ()
    """Allowed recipients (any case); empty = any recipient."""
    networks: tuple[str, ...] = tuple(n.caip2 for n in NETWORKS)
    """Known networks (CAIP-2); v1 names map onto them."""
    assets: tuple[str, ...] = tuple(n.usdc for n in NETWORKS)
    """Known assets (USDC per network)."""

    def decimals(self, requirement: dict[str, Any]) -> int:
        """Decimals of the requirement's asset (6 for USDC)."""
        known = find_network(str(requirement.get("network", "")))
        return known.decimals if known is not None else 6

    def amount(self, requirement: dict[str, Any]) -> Decimal:
        """Amount of a requirement in whole tokens (USDC)."""
        return Decimal(amount_of(requirement)).scaleb(-self.decimals(requirement))

    def _refusal(self, req: dict[str, Any], spent: Decimal) -> str | None:
        network = caip2_of(str(req.get("network", "")))
        if network not in self.networks:
            return f"unknown network {req.get('network')!r} (known: {', '.join(self.networks)})"
        asset = str(req.get("asset", ""))
        known = find_network(network)
        allowed = {a.lower() for a in self.assets}
        if asset.lower() not in allowed or (known and asset.lower() != known.usdc.lower()):
            return f"unknown asset {asset!r} on {network}"
        pay_to = str(req.get("payTo", ""))
        if self.pay_to and pay_to.lower() not in {p.lower() for p in self.pay_to}:
            return f"payTo {pay_to} is not in --primgate-pay-to"
        amount = self.amount(req)
        if amount > self.max_payment:
            return (f"payment of {usdc(amount)} USDC exceeds --primgate-max-payment "
                    f"{usdc(self.max_payment)} USDC")
        if spent + amount > self.budget:
            return (f"payment of {usdc(amount)} USDC would bring the session total to "
                    f"{usdc(spent + amount)} USDC, over --primgate-budget {usdc(self.budget)} USDC")
        return None

    def choose(
        self, challenge: Challenge, *, spent: Decimal, network: str | None = None
    ) -> dict[str, Any]:
        """The first acceptable ``exact`` requirement; PaymentRefused / X402Error otherwise."""
        exact = [req for req in challenge.accepts if req.get("scheme") == "exact"]
        if not exact:
            schemes = sorted({str(req.get("scheme")) for req in challenge.accepts})
            raise X402Error(
                f"challenge offers no 'exact' requirement (schemes: {', '.join(schemes)})"
            )
        if network is not None:
            wanted = caip2_of(network)
            on_network = [r for r in exact if caip2_of(str(r.get("network", ""))) == wanted]
            if not on_network:
                offered = ", ".join(sorted({str(r.get("network")) for r in exact}))
                raise PaymentRefused(f"no requirement on network {wanted} (offered: {offered})")
            exact = on_network
        first: str | None = None
        for req in exact:
            reason = self._refusal(req, spent)
            if reason is None:
                return req
            first = first or reason
        raise PaymentRefused(first or "no acceptable requirement")


class SpendCounter:
    """The committed session total of one process; ``update`` is atomic."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Decimal(0)

    def update(self, change: Callable[[Decimal], Decimal]) -> Decimal:
        """Replace the total by ``change(total)`` (which may raise: nothing changes)."""
        with self._lock:
            self._total = change(self._total)
            return self._total


class FileSpendCounter(SpendCounter):
    """A committed total shared by processes (xdist workers) through a locked file."""

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        super().__init__()
        self.path = path
        self.timeout = timeout

    def update(self, change: Callable[[Decimal], Decimal]) -> Decimal:
        with self._lock, self.path.open("a+") as handle:
            try:
                lock_exclusive(handle, self.timeout, poll=0.01)
            except TimeoutError:
                raise X402Error(f"timed out waiting for {self.path}") from None
            try:
                handle.seek(0)
                text = handle.read().strip()
                total = change(Decimal(text) if text else Decimal(0))
                handle.seek(0)
                handle.truncate()
                handle.write(str(total))
                handle.flush()
                return total
            finally:
                unlock(handle)
