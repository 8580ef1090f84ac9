"""The retry policy for transient transport faults: what is retried, how often, how long.

Pure logic, no I/O: the transport (``retry.py``) asks ``classify_*`` whether a failure is a
transient blip worth re-sending and ``RetryPolicy.delay`` how long to wait first. Rules and
the reasons for them: ``docs/gate.md`` ("Attempts and retries").
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Literal

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})
"""RFC 9110 idempotent methods: a repeat has the same effect as one request."""
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
NOT_PROCESSED_STATUSES = frozenset({429, 503})
"""Answers that say the request was refused before it was processed (RFC 9110 §15.6.4, RFC
6585 §4): safe to re-send whatever the method."""

Fault = Literal["connect timeout", "reset before send", "reset after send"]
"""Transport failures the policy knows: the first two happen before the server could have
read the whole request; the third after it was sent (connection reset or closed, no answer)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounds of the retries of one request: count, total time, backoff and Retry-After cap."""

    retries: int = 3
    """Re-sends per request after the first send (0 turns retrying off)."""
    budget: float = 10.0
    """Seconds from the first send after which no retry starts (waits included)."""
    backoff: float = 0.1
    """First backoff in seconds; doubles with every retry (full jitter in [50 %, 100 %])."""
    max_backoff: float = 2.0
    retry_after_cap: float = 5.0
    """Longest ``Retry-After`` honoured, in seconds; a longer one is cut to this."""

    def __post_init__(self) -> None:
        for name in ("retries", "budget", "backoff", "max_backoff", "retry_after_cap"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)!r}")

    @property
    def enabled(self) -> bool:
        """False when retries are off (``--primgate-transient-retries 0``)."""
        return self.retries > 0

    def delay(
        self, retry: int, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before retry number ``retry`` (1-based).

        ``Retry-After`` wins over the backoff (the server said when), capped at
        ``retry_after_cap``; otherwise ``backoff * 2**(retry-1)`` up to ``max_backoff``, times a
        random factor in [0.5, 1) so that clients hit by the same blip do not retry in step.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap)
        base = min(self.max_backoff, self.backoff * float(2 ** max(retry - 1, 0)))
        factor = rng.random() if rng is not None else random.random()
        return base * (0.5 + 0.5 * factor)

    def allows(self, retry: int, elapsed: float, wait: float) -> bool:
        """May retry number ``retry`` start after waiting ``wait`` with ``elapsed`` spent?"""
        return retry <= self.retries and elapsed + wait <= self.budget


def status_reason(
    method: str, status: int, *, replay_safe: bool, answers: frozenset[int] = frozenset()
) -> str | None:
    """Why a response with ``status`` is retried (e.g. ``"503"``), or None: it is an answer.

    ``answers`` are statuses the caller accepts as a result (a plan's "409 = already
    registered, counts as pass", the faucet's 429): never retried. 502 and 504 come from a
    gateway that may have forwarded the request, so they are retried only where a repeat is
    harmless; 429 and 503 say the request was not processed.
    """
    if status not in TRANSIENT_STATUSES or status in answers:
        return None
    if status in NOT_PROCESSED_STATUSES or replay_safe or method.upper() in IDEMPOTENT_METHODS:
        return str(status)
    return None


def fault_reason(method: str, fault: Fault, *, replay_safe: bool) -> str | None:
    """Why a transport failure is retried, or None (it is reported as it is).

    Before the request was sent nothing can have been processed: always retried. A reset
    after sending is retried only for idempotent methods and replay-safe requests.
    """
    if fault in ("connect timeout", "reset before send"):
        return fault
    if replay_safe or method.upper() in IDEMPOTENT_METHODS:
        return fault
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent or
    unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(int(text))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
