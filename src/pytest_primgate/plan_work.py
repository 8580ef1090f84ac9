"""The work of one plan item, apart from reporting it: decide, send, check, record.

``compute`` runs on the main thread (``--primgate-concurrency 1``) or on an executor thread;
it never raises pytest outcomes. The item turns the ``PlanResult`` into pass / fail / skip.
What only the main thread may do (resolving fixtures) comes through ``FixtureAccess``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from pytest_primgate import records as rp
from pytest_primgate.attempts import Decided, run_attempts
from pytest_primgate.checks import needs_payment
from pytest_primgate.gate import effective_runs
from pytest_primgate.model import AttemptResult

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pytest_primgate.manifests.plan import Plan, PlanTest
    from pytest_primgate.runstate import RunState
    from pytest_primgate.session import PrimgateSession
    from pytest_primgate.settings import Settings
    from pytest_primgate.x402.client import X402Client

WALLET_VARIABLES = frozenset({"agent_address", "eip191_sig"})


class FixtureAccess(Protocol):
    """What a plan item needs from pytest fixtures (resolved on the main thread)."""

    def wallet_variables(self) -> dict[str, str]:
        """``agent_address`` and ``eip191_sig`` of the run's wallet (may raise)."""

    def payer_problem(self) -> str | None:
        """Why the x402 client cannot be had, or None."""

    def payer(self) -> X402Client | None:
        """The run's x402 client."""


@dataclass(frozen=True)
class PlanResult:
    """What an item reports: a decided outcome with extra properties, or an infra stop."""

    decided: Decided | None
    extra: dict[str, object] = field(default_factory=dict)
    infra: str = ""
    """Set when the item could not be run (``decided`` is None)."""


@dataclass(frozen=True)
class PlanWork:
    """Everything ``compute`` reads of one item."""

    plan: Plan
    test: PlanTest
    nodeid: str
    redact: bool
    runs_override: tuple[int, int] | None
    order: int | None
    """The item's position in the run's order (None: unknown, see ``RunState``)."""


def _single(result: AttemptResult) -> Decided:
    return Decided(result.outcome, (result,), result)


def _stop(state: RunState, work: PlanWork, outcome: str, reason: str,
          extra: dict[str, object] | None = None) -> PlanResult:
    state.record(work.plan.path, work.test.id, outcome, {}, work.order)  # type: ignore[arg-type]
    return PlanResult(_single(AttemptResult(outcome, reason)), extra or {})  # type: ignore[arg-type]


def compute(
    work: PlanWork,
    *,
    settings: Settings,
    session: PrimgateSession,
    state: RunState,
    fixtures: FixtureAccess,
    slot: Callable[[str], AbstractContextManager[object]] | None = None,
    parallel_attempts: bool = False,
    observe: Callable[[float, float], None] | None = None,
) -> PlanResult:
    """Run one plan test's attempts (after its dependencies) and record its outcome.

    ``slot(endpoint)`` wraps each attempt (the in-flight caps, per host as the plan names it:
    a sandbox standing in for several prims still caps each prim); ``parallel_attempts`` runs
    the first ``quorum`` attempts at once. ``observe(wall, cpu)`` is told after each attempt
    how long it took and how much of it this thread computed.
    """
    from pytest_primgate.plan_runner import prepare, run_attempt
    from pytest_primgate.transport.retry import RetrySummary, recording
    from pytest_primgate.x402.networks import pinned_network

    test, plan_key, redact = work.test, work.plan.path, work.redact
    if test.skip:
        return _stop(state, work, "skipped",
                     "skipped in plan" if redact else (test.notes or "skipped in plan"))
    blocker = state.blocker(plan_key, test.depends_on, work.order)
    if blocker is not None:
        dep, outcome = blocker
        reason = (f"blocked by a dependency ({outcome})" if redact
                  else f"blocked by {dep} ({outcome})")
        return _stop(state, work, "blocked", reason, {rp.BLOCKED_BY: "" if redact else dep})
    variables = dict(session.base_variables)
    variables.update(settings.variables)
    variables.update(state.variables(plan_key, work.order))
    prepared = prepare(test, variables, settings.urlmap)
    if WALLET_VARIABLES & set(prepared.unresolved):
        try:
            variables.update(fixtures.wallet_variables())
        except Exception as exc:  # an unusable wallet source blames no prim
            state.record(plan_key, test.id, "not_run", {}, work.order)
            return PlanResult(None, infra=f"wallet could not be loaded: {exc}")
        variables.update(settings.variables)
        prepared = prepare(test, variables, settings.urlmap)
    if prepared.unresolved:
        names = ", ".join("{{" + n + "}}" for n in prepared.unresolved)
        reason = f"unresolved variable {names} in {prepared.unresolved_in}"
        return _stop(state, work, "blocked", "unresolved variable" if redact else reason,
                     {rp.BLOCKED_BY: "" if redact else names})
    runs, quorum = work.runs_override or effective_runs(
        test.method, test.retry, settings.runs, settings.quorum
    )
    if needs_payment(test):
        problem = fixtures.payer_problem()
        if problem is not None:
            state.record(plan_key, test.id, "not_run", {}, work.order)
            return PlanResult(None, infra=problem)
    plan_network = pinned_network(work.plan.network)
    http = session.http_client()

    def attempt() -> AttemptResult:
        def once() -> AttemptResult:
            return run_attempt(
                test, prepared, http=http, payer=fixtures.payer, test_id=work.nodeid,
                redact=redact, timeout=settings.timeout, network=plan_network,
                max_bytes=settings.max_response_bytes,
            )

        if slot is None:
            return once()
        with slot(test.endpoint):
            return once()

    if observe is not None:
        untimed = attempt

        def attempt() -> AttemptResult:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return untimed()
            finally:
                observe(time.perf_counter() - wall, time.thread_time() - cpu)

    paid_before = len(session.payments_of(work.nodeid))
    with recording() as retry_log:
        decided = run_attempts(attempt, runs, quorum, parallel=parallel_attempts)
    state.record(plan_key, test.id, decided.outcome, decided.deciding.captures, work.order)
    paid = session.payments_of(work.nodeid)[paid_before:]
    if redact:
        paid = [dataclasses.replace(p, url="") for p in paid]
    extra: dict[str, object] = {rp.PAYMENTS: rp.payments_to_prop(paid)}
    extra.update(rp.retry_props(RetrySummary.of(retry_log, redact=redact)))
    return PlanResult(decided, extra)
