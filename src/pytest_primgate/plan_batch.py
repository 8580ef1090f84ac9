"""``--primgate-concurrency``: a process's plan items computed ahead, reported in order.

When the first plan item of a process runs, the plan items from it on that can run ahead are
handed to a ``DependencyExecutor``: each starts once the tests it depends on have finished
(``ordering.waits``: its ``depends_on``, the earlier tests capturing a variable it uses, and
the earlier tests on the same resource where one of the two writes). pytest still runs the
items one by one; each waits for its own result and reports it. Under xdist (``--dist load``,
whose scheduler keeps a dependency component on one worker) a component is handed over when
its first item is reached. docs/performance.md, "Concurrency", says what runs ahead and why.

Fixtures are resolved on the main thread only, when the item that needs them is reached, as
in a sequential run: a job that needs the x402 client waits for it (``MainThreadFixtures``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import pytest

from pytest_primgate import checks
from pytest_primgate.executor import DependencyExecutor, InFlightCaps, Job, WaitProbe
from pytest_primgate.ordering import OrderFacts, waits
from pytest_primgate.plan_work import WALLET_VARIABLES, PlanResult, compute
from pytest_primgate.runstate import get_runstate
from pytest_primgate.session import get_session
from pytest_primgate.settings import get_settings

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pytest_primgate.items import PlanItem
    from pytest_primgate.x402.client import X402Client

BATCH_KEY = pytest.StashKey["PlanBatch"]()
RUN_AHEAD_BLOCKERS = frozenset({"skip", "skipif", "xfail", "usefixtures"})
"""Markers that keep an item (and what depends on it) out of the executor."""
JOIN_SECONDS = 5.0
EARLY = frozenset({"wallet"})
"""Fixtures resolved as soon as any job asks, not at its item's turn: loading the wallet's key
sends nothing. The x402 client (``payer``) registers and funds the wallet, so it waits for the
turn of the item that needs it, after the plan's own registration and faucet tests."""


class Cancelled(Exception):
    """The run ended before a fixture a job waited for was resolved."""


class MainThreadFixtures:
    """Fixture values the main thread resolves when the item that needs them is reached."""

    def __init__(
        self, blocking: Callable[[], AbstractContextManager[object]] | None = None
    ) -> None:
        self.cond = threading.Condition()
        self._blocking = blocking
        self._values: dict[str, tuple[bool, Any]] = {}
        self._wanted: dict[str, set[str]] = {}
        self._stopped = False

    def get(self, name: str, key: str) -> Any:
        """On a job's thread: the value of ``name``, waiting for the main thread."""
        with self.cond:
            ready = name in self._values
        if not ready and self._blocking is not None:
            with self._blocking():
                return self._get(name, key)
        return self._get(name, key)

    def _get(self, name: str, key: str) -> Any:
        with self.cond:
            while name not in self._values:
                if self._stopped:
                    raise Cancelled(f"run ended before {name} was available")
                self._wanted.setdefault(name, set()).add(key)
                self.cond.notify_all()
                self.cond.wait(0.5)
            self._wanted.get(name, set()).discard(key)
            ok, value = self._values[name]
        if not ok:
            raise value
        return value

    def wanted_by(self, key: str) -> list[str]:
        """Unresolved names to resolve while waiting for the job ``key`` (call with ``cond``
        held): those it waits for, and early ones (``EARLY``) any job waits for."""
        return [n for n, keys in self._wanted.items()
                if n not in self._values and (key in keys or (keys and n in EARLY))]

    def put(self, name: str, resolve: Callable[[], Any]) -> None:
        """On the main thread: resolve ``name`` (a raised exception is its value)."""
        try:
            entry: tuple[bool, Any] = (True, resolve())
        except Exception as exc:  # the job that needs it reports it
            entry = (False, exc)
        with self.cond:
            self._values.setdefault(name, entry)
            self.cond.notify_all()

    def stop(self) -> None:
        """Wake every waiting job with ``Cancelled``."""
        with self.cond:
            self._stopped = True
            self.cond.notify_all()


class _JobFixtures:
    """``FixtureAccess`` of one executor job."""

    def __init__(self, shared: MainThreadFixtures, key: str) -> None:
        self.shared, self.key = shared, key

    def wallet_variables(self) -> dict[str, str]:
        value: dict[str, str] = self.shared.get("wallet", self.key)
        return value

    def payer_problem(self) -> str | None:
        problem: str | None = self.shared.get("payer", self.key)[0]
        return problem

    def payer(self) -> X402Client | None:
        client: X402Client | None = self.shared.get("payer", self.key)[1]
        return client


class RequestFixtures:
    """``FixtureAccess`` straight from an item's request (main thread)."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request

    def wallet_variables(self) -> dict[str, str]:
        return get_session(self.request.config).wallet_variables(self.request)

    def payer_problem(self) -> str | None:
        return get_session(self.request.config).payer_problem(self.request)

    def payer(self) -> X402Client | None:
        return get_session(self.request.config).payer(self.request)


def _resolve(name: str, request: pytest.FixtureRequest) -> Callable[[], Any]:
    fixtures = RequestFixtures(request)
    if name == "wallet":
        return fixtures.wallet_variables

    def payer() -> tuple[str | None, X402Client | None]:
        problem = fixtures.payer_problem()
        return problem, (None if problem is not None else fixtures.payer())

    return payer


def _preload_wallet(request: pytest.FixtureRequest) -> None:
    """Load the wallet's key before the first plan item: loading sends nothing, and its
    import (about 0.6 s of CPU) then delays no test. A failure is left to the item that
    needs the wallet, which loads it again and reports it."""
    from pytest_primgate.wallet_setup import load

    with contextlib.suppress(Exception):  # reported by the item that needs the wallet
        load(request.config, request.getfixturevalue("tmp_path_factory"))


def _facts(item: PlanItem) -> OrderFacts:
    test = item.test
    names: set[str] = set()
    for value in (test.endpoint, test.input, test.expected_body, test.body_equals):
        names.update(checks.unresolved(value))
    return OrderFacts(item.nodeid, item.plan.path, test.id, test.method, test.depends_on,
                     tuple(name for name, _ in test.captures), frozenset(names))


RUN_AHEAD_KEY = "primgate_run_ahead"
"""``workerinput`` key: the controller lets the worker run ahead (``--dist load`` only)."""


def run_ahead_allowed(config: pytest.Config) -> bool:
    """Whether this process may compute items before pytest reaches them."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # a worker re-parses the arguments: the controller decides
        return bool(workerinput.get(RUN_AHEAD_KEY, False))
    return _may_run_ahead(config)


def worker_may_run_ahead(config: pytest.Config) -> bool:
    """On the controller: only ``--dist load``'s scheduler keeps a component on one worker."""
    return _may_run_ahead(config) and config.getoption("dist", "no") == "load"


def _may_run_ahead(config: pytest.Config) -> bool:
    if get_settings(config).concurrency <= 1:
        return False
    if (config.getoption("maxfail", 0) or 0) > 0 or config.getoption("stepwise", False):
        return False  # pytest may stop before items computed ahead are reached
    return not (config.getoption("usepdb", False) or config.getoption("trace", False))


class PlanBatch:
    """The executor of one process and the futures of the items it computes."""

    def __init__(self, config: pytest.Config) -> None:
        settings = get_settings(config)
        self.config = config
        self.allowed = run_ahead_allowed(config)
        self.caps = InFlightCaps(settings.concurrency, settings.max_per_host)
        self.executor = DependencyExecutor(settings.concurrency)
        self.probe = WaitProbe()
        self._releases: dict[str, Callable[[], None]] = {}
        self.fixtures = MainThreadFixtures(self.executor.blocking)
        self.order: dict[str, int] = {}
        self.futures: dict[str, Future[PlanResult]] = {}
        self._started: set[str] = set()
        self._component: dict[str, str] = {}
        self._members: dict[str, list[PlanItem]] = {}
        self._eligible: set[str] = set()
        self._deps: dict[str, tuple[str, ...]] = {}
        self._indexed = False
        self._needs_wallet = False
        self._workers = getattr(config, "workerinput", None) is not None
        """An xdist worker: it collects every item but runs only the units it is given."""
        self.stopped = False

    # -- planning ----------------------------------------------------------------------------

    def _index(self, items: Sequence[pytest.Item]) -> None:
        """Order, eligibility, dependencies and components of every plan item of the run."""
        from pytest_primgate.items import PlanItem

        self._indexed = True
        self.order = {item.nodeid: i for i, item in enumerate(items)}
        plan_items = [i for i in items if isinstance(i, PlanItem)]
        if not plan_items:
            return
        common = set(plan_items[0].fixturenames)
        for item in plan_items[1:]:
            common &= set(item.fixturenames)
        session, settings = get_session(self.config), get_settings(self.config)
        constants = frozenset(session.base_variables) | frozenset(settings.variables)
        facts = [_facts(i) for i in plan_items]
        self._deps = waits(facts, constants)
        self._needs_wallet = any(WALLET_VARIABLES & f.uses for f in facts)
        by_plan: dict[str, dict[str, str]] = {}
        parent: dict[str, str] = {}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for item in plan_items:
            key = item.nodeid
            ids = by_plan.setdefault(item.plan.path, {})
            parent[key] = key
            for dep in item.test.depends_on:
                if dep in ids:
                    parent[find(key)] = find(ids[dep])
            ids[item.test.id] = key
            if (set(item.fixturenames) <= common
                    and not any(m.name in RUN_AHEAD_BLOCKERS for m in item.iter_markers())
                    and all(d in self._eligible for d in self._deps[key])):
                self._eligible.add(key)
        for item in plan_items:
            component = find(item.nodeid) if self._workers else ""
            self._component[item.nodeid] = component
            self._members.setdefault(component, []).append(item)

    def _start(self, item: PlanItem, *, after: bool = False) -> None:
        """Hand the item's component (everything, outside xdist) from the item on over
        (``after``: from the next item on; the item itself is computed here)."""
        component = self._component.get(item.nodeid)
        if component is None or component in self._started:
            return
        self._started.add(component)
        start = self.order[item.nodeid] + (1 if after else 0)
        jobs = [self._job(m) for m in self._members[component]
                if m.nodeid in self._eligible and self.order[m.nodeid] >= start]
        self.futures.update(self.executor.submit(jobs))

    def _job(self, item: PlanItem) -> Job[PlanResult]:
        key = item.nodeid
        work = item.work(self.order.get(key))
        fixtures = _JobFixtures(self.fixtures, key)
        config = self.config

        def run() -> PlanResult:
            return compute(work, settings=get_settings(config), session=get_session(config),
                           state=get_runstate(config), fixtures=fixtures, slot=self.slot,
                           parallel_attempts=True)

        return Job(key, run, self._deps.get(key, ()))

    def slot(self, url: str) -> AbstractContextManager[object]:
        """The in-flight caps for one attempt to ``url`` (the plan's endpoint)."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return self.caps.hold(f"{parts.hostname}:{parts.port or ''}")

    # -- running -----------------------------------------------------------------------------

    @property
    def ahead(self) -> bool:
        """Items are computed ahead now (allowed, and the probe found the work waits)."""
        return self.allowed and self.probe.decided and not self.stopped

    def inline_observer(self, item: PlanItem) -> Callable[[float, float], None] | None:
        """For an item computed here while the probe is undecided: the per-attempt timer.

        Once the attempts so far are found to wait more than they compute, the rest of the
        item's component starts at once, after the item (which goes on here)."""
        if not self.allowed or self.probe.decided:
            return None

        def observe(wall: float, cpu: float) -> None:
            if not self.probe.decided and not self.stopped and self.probe.observe(wall, cpu):
                self._releases[item.nodeid] = self.executor.external(item.nodeid)
                self._start(item, after=True)

        return observe

    def inline_done(self, item: PlanItem) -> None:
        """The item computed here has ended (its result recorded): its dependants may start."""
        release = self._releases.pop(item.nodeid, None)
        if release is not None:
            release()

    def take(self, item: PlanItem, request: pytest.FixtureRequest) -> PlanResult | None:
        """The item's result computed ahead (waiting for it here), or None: run it now.

        Until the attempts run so far are found to wait more than they compute (``WaitProbe``),
        nothing is computed ahead: fast work runs as ``--primgate-concurrency 1``.
        """
        if not self._indexed:
            self._index(item.session.items)
            if self.allowed and self._needs_wallet and not self._workers:
                _preload_wallet(request)
        if not self.ahead:
            return None
        self._start(item)
        future = self.futures.pop(item.nodeid, None)
        if future is None:
            return None
        return self._wait(item.nodeid, future, request)

    def _wait(self, key: str, future: Future[PlanResult],
              request: pytest.FixtureRequest) -> PlanResult:
        """Wait for ``future``, resolving on this (main) thread what its job asks for."""
        cond = self.fixtures.cond

        def wake(_: Future[PlanResult]) -> None:
            with cond:
                cond.notify_all()

        future.add_done_callback(wake)
        while True:
            with cond:
                while not future.done() and not self.fixtures.wanted_by(key):
                    cond.wait(1.0)
                names = [] if future.done() else self.fixtures.wanted_by(key)
            if future.done():
                return future.result()
            for name in names:
                self.fixtures.put(name, _resolve(name, request))

    def stop(self) -> None:
        """Start nothing more, wake waiting jobs, give running ones a moment to end."""
        self.stopped = True
        self.executor.stop()
        self.fixtures.stop()
        self.executor.join(JOIN_SECONDS)


def get_batch(config: pytest.Config) -> PlanBatch:
    """The process's batch, created on first use."""
    batch = config.stash.get(BATCH_KEY, None)
    if batch is None:
        batch = config.stash[BATCH_KEY] = PlanBatch(config)
    return batch


def stop_batch(config: pytest.Config) -> None:
    """End the process's batch, if it has one (session finish)."""
    batch = config.stash.get(BATCH_KEY, None)
    if batch is not None:
        batch.stop()
