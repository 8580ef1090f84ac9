"""The majority loop inside an item: run attempts until the gate's rule decides."""

from __future__ import annotations

from collections.abc import Callable
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


def run_attempts(attempt: Callable[[], AttemptResult], runs: int, quorum: int) -> Decided:
    """Run ``attempt`` up to ``runs`` times; pass with ``quorum`` passes, stop once decided.

    A skipped or unreachable attempt ends the loop at once: retrying cannot turn a missing
    endpoint or an exit 77 into a verdict, and the item is reported loudly instead.
    """
    done: list[AttemptResult] = []
    while True:
        result = attempt()
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
