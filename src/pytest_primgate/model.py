"""Plain data shared by every stage: manifests -> items -> checks -> gate -> report.

Everything here is a frozen dataclass of builtin types so it can travel through
pytest-xdist (execnet accepts only builtins) via ``report.user_properties``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["passed", "failed", "skipped", "blocked", "unreachable", "not_run"]
"""Final outcome of one item. blocked/unreachable are pytest skips with a category; not_run is
a selected item without a final result (worker crash, interruption, infrastructure)."""

AttemptOutcome = Literal["passed", "failed", "skipped", "blocked", "unreachable"]

StatusClass = Literal["live", "new", "off"]
"""How a prim is gated: live = hard gate, new = soft gate, off = reported only."""

Verdict = Literal["PASS", "FAIL", "WARN", "OFF"]


@dataclass(frozen=True)
class Location:
    """Where a manifest entry is defined: file path and 0-based line."""

    path: str
    line: int


@dataclass(frozen=True)
class AttemptResult:
    """Outcome of one attempt of one item (one HTTP exchange or one script run)."""

    outcome: AttemptOutcome
    reason: str = ""
    """One line: why it failed / was skipped ('' on pass)."""
    detail: str = ""
    """Multi-line failure report (request, expected vs actual, body head). Never secrets."""
    status_code: int | None = None
    duration: float = 0.0
    captures: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None


@dataclass(frozen=True)
class Payment:
    """One x402 payment made by the client (never the signature or the key)."""

    test_id: str
    amount: str
    """Atomic units, decimal string (USDC has 6 decimals: '10000' = 0.01)."""
    asset: str
    network: str
    pay_to: str
    transaction: str
    url: str = ""
    x402_version: int = 2
    payer: str = ""
    """Address of the paying wallet (public)."""
    settlement: str = "unsettled"
    """``settled`` (2xx and a success settlement header), ``unsettled`` (no proof either way,
    or a refusal) or ``contradicting`` (status and settlement header disagree)."""
    ref: str = ""
    """Random id of this authorization (joins records from the log and from reports)."""


@dataclass(frozen=True)
class ItemRecord:
    """What the controller knows about one finished item; built from user_properties."""

    nodeid: str
    kind: Literal["plan", "scenario"]
    test_id: str
    group: str
    prim: str
    prim_status: str
    status_class: StatusClass
    outcome: Outcome
    prim_threshold: float | None = None
    """``gates.pass_threshold`` from prim.yaml, when set."""
    reason: str = ""
    attempts: int = 0
    passes: int = 0
    attempt_outcomes: tuple[str, ...] = ()
    """One letter per attempt: P passed, F failed, S skipped, U unreachable, B blocked."""
    blocked_by: str = ""
    status_code: int | None = None
    exit_code: int | None = None
    duration: float = 0.0
    pulled_in: bool = False
    worker: str = ""
    server: str = ""
    holdout: bool = False
    retries: int = 0
    """Transient-fault re-sends inside the item's attempts (not attempts)."""
    requests: int = 0
    """HTTP requests the item sent (each counted once, however often re-sent)."""
    retried_requests: int = 0
    """Requests among them that needed at least one retry."""
    retry_log: tuple[str, ...] = ()
    """What each retry was for: ``GET http://h/p: 503 (waited 0.12 s)``."""
    prim_max_retry_rate: float | None = None
    """``gates.max_retry_rate`` from prim.yaml, when set."""

    @property
    def flaky(self) -> bool:
        """Passed, but at least one attempt failed."""
        return self.outcome == "passed" and "F" in self.attempt_outcomes

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the results file."""
        from dataclasses import asdict

        data = asdict(self)
        data["attempt_outcomes"] = list(self.attempt_outcomes)
        data["retry_log"] = list(self.retry_log)
        data["flaky"] = self.flaky
        return data
