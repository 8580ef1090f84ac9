"""Per-process run state: what each plan test ended as, and the variables it captured.

``depends_on`` chains always run in one process (see ``xdist_scheduling``), so this state never
needs to cross process boundaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from pytest_primgate.model import Outcome

RUNSTATE_KEY = pytest.StashKey["RunState"]()


@dataclass
class RunState:
    """Outcomes by ``(plan path, test id)`` and captured template variables by plan path."""

    outcomes: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    captures: dict[str, dict[str, str]] = field(default_factory=dict)

    def record(self, plan: str, test_id: str, outcome: Outcome, captures: dict[str, str]) -> None:
        """Remember a finished test and, when it passed, its captures."""
        self.outcomes[(plan, test_id)] = outcome
        if outcome == "passed" and captures:
            self.captures.setdefault(plan, {}).update(captures)

    def blocker(self, plan: str, depends_on: tuple[str, ...]) -> tuple[str, str] | None:
        """The first dependency that did not pass, with its outcome (``'not run'`` if none)."""
        for dep in depends_on:
            outcome = self.outcomes.get((plan, dep))
            if outcome != "passed":
                return dep, outcome or "not run"
        return None

    def variables(self, plan: str) -> dict[str, str]:
        """Captured variables of one plan."""
        return self.captures.get(plan, {})


def get_runstate(config: pytest.Config) -> RunState:
    """The run state of this process, created on first use."""
    state = config.stash.get(RUNSTATE_KEY, None)
    if state is None:
        state = config.stash[RUNSTATE_KEY] = RunState()
    return state
