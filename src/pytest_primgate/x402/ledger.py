"""The run's spend ledger: committed total, payment log and spend policy, shared by processes.

One directory per run (made by the controller, named to xdist workers and to scenario
subprocesses through ``$PRIMGATE_LEDGER``): ``spent.txt`` holds the committed total the budget
applies to, ``payments.jsonl`` one line per authorization handed out, ``policy.json`` the spend
options so that ``primgate fetch`` pays under the same rules. Without a directory the ledger
lives in memory (one process).
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from pytest_primgate.filelock import lock_exclusive, unlock
from pytest_primgate.model import Payment
from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.spend import FileSpendCounter, SpendCounter, SpendPolicy

LEDGER_ENV = "PRIMGATE_LEDGER"
SPENT_FILE = "spent.txt"
PAYMENTS_FILE = "payments.jsonl"
POLICY_FILE = "policy.json"
LOCK_TIMEOUT = 60.0


class Ledger:
    """Committed spend (``counter``) and the log of payments handed out (``record``)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory if directory is not None and directory.is_dir() else None
        self.counter: SpendCounter = (
            FileSpendCounter(self.directory / SPENT_FILE) if self.directory else SpendCounter()
        )
        self._lock = threading.Lock()
        self._memory: list[Payment] = []

    @classmethod
    def from_env(cls) -> Ledger | None:
        """The run's shared ledger named by ``$PRIMGATE_LEDGER``, if that directory exists."""
        value = os.environ.get(LEDGER_ENV, "")
        if not value or not Path(value).is_dir():
            return None
        return cls(Path(value))

    def record(self, payment: Payment) -> None:
        """Append ``payment`` to the log (shared when the ledger has a directory)."""
        with self._lock:
            if self.directory is None:
                self._memory.append(payment)
                return
            line = json.dumps(dataclasses.asdict(payment), separators=(",", ":")) + "\n"
            with (self.directory / PAYMENTS_FILE).open("a", encoding="utf-8") as handle:
                try:
                    lock_exclusive(handle, LOCK_TIMEOUT, poll=0.01)
                except TimeoutError:
                    raise X402Error(f"timed out waiting for {handle.name}") from None
                try:
                    handle.write(line)
                    handle.flush()
                finally:
                    unlock(handle)

    def payments(self) -> list[Payment]:
        """Every payment logged so far, in order."""
        if self.directory is None:
            with self._lock:
                return list(self._memory)
        return read_payments(self.directory)

    def policy(self) -> SpendPolicy | None:
        """The run's spend policy, as the controller wrote it."""
        if self.directory is None:
            return None
        path = self.directory / POLICY_FILE
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return SpendPolicy(
            max_payment=Decimal(str(data["max_payment"])),
            budget=Decimal(str(data["budget"])),
            pay_to=tuple(str(p) for p in data.get("pay_to", ())),
            network=str(data["network"]),
            allow_mainnet=bool(data.get("allow_mainnet", False)),
            max_timeout=int(data["max_timeout"]),
        )


def read_payments(directory: Path) -> list[Payment]:
    """The payment log of a ledger directory (lines that do not parse are skipped)."""
    path = directory / PAYMENTS_FILE
    if not path.is_file():
        return []
    fields = {f.name for f in dataclasses.fields(Payment)}
    out: list[Payment] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
            out.append(Payment(**{k: v for k, v in item.items() if k in fields}))
        except (ValueError, TypeError, AttributeError):
            continue
    return out
