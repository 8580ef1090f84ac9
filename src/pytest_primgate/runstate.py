"""Per-process run state: what each plan test ended as, and the variables it captured.

``depends_on`` chains always run in one process (see ``xdist_scheduling``), so this state never
needs to cross process boundaries.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from pytest_primgate.model import Outcome

RUNSTATE_KEY = pytest.StashKey["RunState"]()


@dataclass
class RunState:
    """Outcomes by ``(plan path, test id)`` and captured template variables by plan path.

    Thread-safe. ``order`` is a test's position in the run's item order: with ``before``, the
    queries see only tests earlier in that order, which is what the sequential run sees when
    plan tests run concurrently and finish out of order (docs/performance.md).
    """

    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    captures: dict[str, dict[str, str]] = field(default_factory=dict)
    orders: dict[tuple[str, str], int] = field(default_factory=dict)
    ordered_captures: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(
        self, plan: str, test_id: str, outcome: Outcome, captures: dict[str, str],
        order: int | None = None,
    ) -> None:
        """Remember a finished test and, when it passed, its captures."""
        with self._lock:
            self.outcomes[(plan, test_id)] = outcome
            if order is not None:
                self.orders[(plan, test_id)] = order
            if outcome == "passed" and captures:
                self.captures.setdefault(plan, {}).update(captures)
                if order is not None:
                    self.ordered_captures.setdefault(plan, []).append((order, dict(captures)))

    def blocker(
        self, plan: str, depends_on: tuple[str, ...], before: int | None = None
    ) -> tuple[str, str] | None:
        """The first dependency that did not pass, with its outcome (``'not run'`` if none)."""
        with self._lock:
            for dep in depends_on:
                outcome = self.outcomes.get((plan, dep))
                if before is not None and self.orders.get((plan, dep), -1) >= before:
                    outcome = None
                if outcome != "passed":
                    return dep, outcome or "not run"
        return None

    def variables(self, plan: str, before: int | None = None) -> dict[str, str]:
        """Captured variables of one plan (with ``before``: of the tests recorded with an
        order earlier than it, applied in that order)."""
        with self._lock:
            if before is None or plan not in self.ordered_captures:
                return dict(self.captures.get(plan, {}))
            out: dict[str, str] = {}
            for order, values in sorted(self.ordered_captures[plan], key=lambda e: e[0]):
                if order < before:
                    out.update(values)
            return out


def get_runstate(config: pytest.Config) -> RunState:
    """The run state of this process, created on first use."""
    state = config.stash.get(RUNSTATE_KEY, None)
    if state is None:
        state = config.stash[RUNSTATE_KEY] = RunState()
    return state
