"""Spend controls: which requirement of a challenge to pay, and when to refuse (nothing signed)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils.address import is_address

from pytest_primgate.filelock import lock_exclusive, unlock
from pytest_primgate.x402.codec import Challenge
from pytest_primgate.x402.errors import PaymentRefused, X402Error
from pytest_primgate.x402.networks import (
    DEFAULT_NETWORK,
    NETWORKS,
    caip2_of,
    find_network,
    is_mainnet,
)
from pytest_primgate.x402.signer import MAX_TIMEOUT_SECONDS, amount_of, domain_for
from pytest_primgate.x402.text import clean, quoted


def usdc(amount: Decimal) -> str:
    """``Decimal('0.05')`` -> ``'0.05'``; at least two decimals, no exponent."""
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


@dataclass(frozen=True)
class SpendPolicy:
    """Caps per payment and per session, recipient allowlist, pinned network, known assets."""

    max_payment: Decimal = Decimal("1.00")
    budget: Decimal = Decimal("10.00")
    pay_to: tuple[str, ...] = ()
    """Allowed recipients (any case); empty = any recipient."""
    networks: tuple[str, ...] = tuple(n.caip2 for n in NETWORKS)
    """Known networks (CAIP-2); v1 names map onto them."""
    assets: tuple[str, ...] = tuple(n.usdc for n in NETWORKS)
    """Known assets (USDC per network)."""
    network: str = DEFAULT_NETWORK
    """The one network this run pays on (CAIP-2), unless a caller pins another."""
    allow_mainnet: bool = False
    """Whether a mainnet pin may pay (``--primgate-allow-mainnet``)."""
    max_timeout: int = MAX_TIMEOUT_SECONDS
    """Cap on an authorization's lifetime (``--primgate-max-timeout``)."""

    def decimals(self, requirement: dict[str, Any]) -> int:
        """Decimals of the requirement's asset (6 for USDC)."""
        known = find_network(str(requirement.get("network", "")))
        return known.decimals if known is not None else 6

    def amount(self, requirement: dict[str, Any]) -> Decimal:
        """Amount of a requirement in whole tokens (USDC)."""
        return Decimal(amount_of(requirement)).scaleb(-self.decimals(requirement))

    def _malformed(self, req: dict[str, Any]) -> str | None:
        """Why an option cannot be signed at all (bad amount, address, domain, timeout)."""
        try:
            amount_of(req)
            domain_for(req)
            if not isinstance(req.get("payTo"), str) or not is_address(req["payTo"]):
                raise X402Error("requirement field 'payTo' is not an address")
        except X402Error as exc:
            return str(exc)
        timeout = req.get("maxTimeoutSeconds", 1)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
            return f"maxTimeoutSeconds {quoted(timeout)} is not a positive integer"
        return None

    def _refusal(self, req: dict[str, Any]) -> str | None:
        """Why a well-formed option is not acceptable (asset, recipient, per-payment cap)."""
        network = caip2_of(str(req.get("network", "")))
        asset = str(req.get("asset", ""))
        known = find_network(network)
        allowed = {a.lower() for a in self.assets}
        if asset.lower() not in allowed or (known and asset.lower() != known.usdc.lower()):
            return f"unknown asset {quoted(asset)} on {clean(network)}"
        pay_to = str(req.get("payTo", ""))
        if self.pay_to and pay_to.lower() not in {p.lower() for p in self.pay_to}:
            return f"payTo {clean(pay_to)} is not in --primgate-pay-to"
        amount = self.amount(req)
        if amount > self.max_payment:
            return (f"payment of {usdc(amount)} USDC exceeds --primgate-max-payment "
                    f"{usdc(self.max_payment)} USDC")
        return None

    def pin(self, network: str | None = None) -> str:
        """The network a payment goes to: ``network`` if given, else the policy's."""
        return caip2_of(network) if network else self.network

    def choose(
        self, challenge: Challenge, *, spent: Decimal, network: str | None = None
    ) -> dict[str, Any]:
        """The cheapest acceptable ``exact`` option on the pinned network; PaymentRefused
        (nothing signed) or X402Error (nothing payable) otherwise, with a one-line reason."""
        exact = [req for req in challenge.accepts if req.get("scheme") == "exact"]
        if not exact:
            schemes = sorted({clean(req.get("scheme"), 40) for req in challenge.accepts})
            raise X402Error(
                f"challenge offers no 'exact' requirement (schemes: {', '.join(schemes[:5])})"
            )
        wanted = self.pin(network)
        if is_mainnet(wanted) and not self.allow_mainnet:
            raise PaymentRefused(
                f"this run would pay on mainnet {wanted}; pass --primgate-allow-mainnet to allow it"
            )
        on_network = [r for r in exact if caip2_of(str(r.get("network", ""))) == wanted]
        if not on_network:
            offered = sorted({clean(r.get("network"), 40) for r in exact})
            raise PaymentRefused(f"402 asks for {', '.join(offered[:5])}; "
                                 f"this run pays on {wanted}")
        reasons: list[str] = []
        acceptable: list[tuple[Decimal, int, dict[str, Any]]] = []
        refused = False
        for index, req in enumerate(challenge.accepts):
            if not any(req is r for r in on_network):
                continue
            why = self._malformed(req)
            if why is None:
                why = self._refusal(req)
                refused = refused or why is not None
            if why is None:
                acceptable.append((self.amount(req), index, req))
            else:
                reasons.append(f"option {index + 1}: {why}")
        if not acceptable and len(reasons) == 1:
            raise (PaymentRefused if refused else X402Error)(reasons[0].split(": ", 1)[1])
        if not acceptable:
            text = "no payable option on " + wanted + ": " + "; ".join(reasons[:3])
            if len(reasons) > 3:
                text += f"; and {len(reasons) - 3} more"
            raise (PaymentRefused if refused else X402Error)(text)
        amount, _, cheapest = min(acceptable, key=lambda item: (item[0], item[1]))
        if spent + amount > self.budget:
            raise PaymentRefused(
                f"payment of {usdc(amount)} USDC would bring the session total to "
                f"{usdc(spent + amount)} USDC, over --primgate-budget {usdc(self.budget)} USDC"
            )
        return cheapest


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
