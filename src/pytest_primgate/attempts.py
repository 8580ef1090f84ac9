"""The majority loop inside an item: run attempts until the gate's rule decides."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pytest_primgate.gate import attempt_decision
from pytest_primgate.model import AttemptResult, Outcome

LETTERS = {"passed": "P", "failed": "F", "skipped": "S", "blocked": "B", "unreachable": "U"}


@dataclass(frozen=True)
class Decided:
    """The final outcome of an item and the attempts that led to it."""

    outcome: Outcome
    attempts: tuple[AttemptResult, ...]
    deciding: AttemptResult
    """The attempt whose reason, detail and captures represent the item."""

    @property
    def passes(self) -> int:
        """Number of passing attempts."""
        return sum(1 for a in self.attempts if a.outcome == "passed")

    @property
    def letters(self) -> str:
        """Attempt outcomes as letters, e.g. ``F,P,P``."""
        return ",".join(LETTERS[a.outcome] for a in self.attempts)


def run_attempts(
    attempt: Callable[[], AttemptResult], runs: int, quorum: int, *, parallel: bool = False
) -> Decided:
    """Run ``attempt`` up to ``runs`` times; pass with ``quorum`` passes, stop once decided.

    A skipped or unreachable attempt ends the loop at once: retrying cannot turn a missing
    endpoint or an exit 77 into a verdict, and the item is reported loudly instead.

    ``parallel``: the first ``quorum`` attempts run at once (on threads), a further one only
    when they split. They are read in order by the same rule, so the outcome, the attempts
    and the deciding attempt are those of the sequential loop (an attempt the sequential
    loop would not have needed is dropped, its requests counted by the retry log).
    """
    done: list[AttemptResult] = []
    ahead = concurrently(attempt, min(quorum, runs)) if parallel and runs > 1 else []
    while True:
        result = ahead.pop(0) if ahead else attempt()
        done.append(result)
        if result.outcome in ("skipped", "unreachable", "blocked"):
            return Decided(result.outcome, tuple(done), result)
        decision = attempt_decision([a.outcome == "passed" for a in done], runs, quorum)
        if decision is True:
            last_pass = next(a for a in reversed(done) if a.outcome == "passed")
            return Decided("passed", tuple(done), last_pass)
        if decision is False or len(done) >= runs:
            last_fail = next(a for a in reversed(done) if a.outcome != "passed")
            return Decided("failed", tuple(done), last_fail)


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
POOL_THREADS = 32
"""Threads for the extra attempts of all items: long-lived, so their connections are reused."""


def _pool() -> ThreadPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="primgate-attempt")
        return _POOL


def concurrently(attempt: Callable[[], AttemptResult], count: int) -> list[AttemptResult]:
    """``count`` calls of ``attempt`` at once (each in a copy of this context), in call order.

    An exception of any call is raised after all of them have ended.
    """
    if count <= 1:
        return [attempt()] if count == 1 else []
    results: list[AttemptResult | BaseException | None] = [None] * count

    def one(index: int) -> None:
        try:
            results[index] = attempt()
        except BaseException as exc:
            results[index] = exc

    others = [_pool().submit(contextvars.copy_context().run, one, i) for i in range(1, count)]
    try:
        one(0)
    finally:
        for other in others:
            other.result()
    out: list[AttemptResult] = []
    for result in results:
        if isinstance(result, BaseException):
            raise result
        assert result is not None
        out.append(result)
    return out
