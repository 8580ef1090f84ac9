"""The sandbox's USDC ledger: balances in atomic units (6 decimals) per address."""

from __future__ import annotations

import hashlib
import itertools
import threading
from decimal import Decimal
from typing import Any

USDC_DECIMALS = 6


class InsufficientFunds(ValueError):
    """A debit larger than the balance."""


def to_atomic(amount: str | Decimal) -> int:
    """``"0.05"`` USDC -> ``50000``; ValueError when not a whole number of atomic units."""
    value = Decimal(amount).scaleb(USDC_DECIMALS)
    if value != value.to_integral_value() or value < 0:
        raise ValueError(f"not a USDC amount: {amount!r}")
    return int(value)


def to_usdc(atomic: int) -> str:
    """``50000`` -> ``"0.05"`` (two decimals at least)."""
    text = format(Decimal(atomic).scaleb(-USDC_DECIMALS).normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


class Ledger:
    """Per-address balances; every credit and debit gets a fake transaction hash."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._balances: dict[str, int] = {}
        self._counter = itertools.count(1)
        self.credits = 0
        self.debits = 0

    def _tx(self, kind: str, address: str, atomic: int) -> str:
        seed = f"{kind}:{address}:{atomic}:{next(self._counter)}".encode()
        return "0x" + hashlib.sha256(seed).hexdigest()

    def balance(self, address: str) -> int:
        """Atomic USDC held by ``address`` (0 when unknown)."""
        with self._lock:
            return self._balances.get(address.lower(), 0)

    def credit(self, address: str, atomic: int) -> str:
        """Add ``atomic`` units to ``address``; returns the transaction hash."""
        if atomic < 0:
            raise ValueError("credit must not be negative")
        with self._lock:
            key = address.lower()
            self._balances[key] = self._balances.get(key, 0) + atomic
            self.credits += 1
            return self._tx("credit", key, atomic)

    def debit(self, address: str, atomic: int, *, to: str | None = None) -> str:
        """Move ``atomic`` units from ``address`` (to ``to`` when given); InsufficientFunds."""
        with self._lock:
            key = address.lower()
            have = self._balances.get(key, 0)
            if atomic < 0 or have < atomic:
                raise InsufficientFunds(f"{address} holds {have}, needs {atomic}")
            self._balances[key] = have - atomic
            if to is not None:
                self._balances[to.lower()] = self._balances.get(to.lower(), 0) + atomic
            self.debits += 1
            return self._tx("debit", key, atomic)

    def snapshot(self) -> dict[str, Any]:
        """Balances (USDC strings) and transfer counts."""
        with self._lock:
            return {
                "balances": {k: to_usdc(v) for k, v in sorted(self._balances.items())},
                "credits": self.credits,
                "debits": self.debits,
            }

    def reset(self) -> None:
        """Forget every balance."""
        with self._lock:
            self._balances.clear()
            self.credits = self.debits = 0
