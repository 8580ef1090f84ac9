"""pytest collectors and items for plan files and smoke manifests (public pytest API only).

Items are ``pytest.Function`` objects built with ``callobj=`` so that they take part in fixture
resolution like any test (pytest#2471 leaves custom ``pytest.Item``s without a public fixture
API). ``reportinfo`` points at the manifest line, so IDE "go to test" lands on the definition.
"""

from __future__ import annotations

import functools
import inspect
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

from pytest_primgate import records as rp
from pytest_primgate.attempts import Decided, run_attempts
from pytest_primgate.gate import status_class
from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.plan import paused_gc
from pytest_primgate.model import AttemptResult
from pytest_primgate.runstate import get_runstate
from pytest_primgate.session import get_session
from pytest_primgate.settings import get_settings

if TYPE_CHECKING:
    from pytest_primgate.canary.run import CanarySpec
    from pytest_primgate.manifests.plan import Plan, PlanGroup, PlanTest
    from pytest_primgate.manifests.prims import Prim, PrimRegistry
    from pytest_primgate.manifests.smoke import Scenario, SmokeManifest
    from pytest_primgate.plan_work import PlanWork



class ManifestCollectError(Exception):
    """Raised by manifest collectors; rendered as its message alone."""


class _ManifestFile(pytest.File):
    """Common error rendering: a ManifestError is one line, never a traceback."""

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str:
        if isinstance(excinfo.value, ManifestError | ManifestCollectError):
            return f"primgate: invalid manifest: {excinfo.value}"
        return str(super().repr_failure(excinfo))


@functools.lru_cache(maxsize=256)
def _host(url: str) -> str:
    """The host of a URL (plans repeat a few endpoints thousands of times)."""
    return urlsplit(url).hostname or ""


@functools.cache
def _mark(marker: str, /, **kwargs: str) -> pytest.MarkDecorator:
    """One marker object per distinct value (10,000 items share a handful of them)."""
    decorator: pytest.MarkDecorator = getattr(pytest.mark, marker)(**kwargs)
    return decorator


def _prim_markers(item: pytest.Item, prim: Prim | None, service: str) -> dict[str, object]:
    """Markers and static properties that tie an item to its prim and gate class."""
    marker, props = _prim_facts(prim, service)
    item.add_marker(marker)
    return dict(props)


PrimFacts = tuple[pytest.MarkDecorator, tuple[tuple[str, object], ...]]
"""An item's prim marker and static prim properties (shared objects)."""


def plan_test_facts(test: PlanTest, prims: PrimRegistry | None) -> PrimFacts:
    """The prim marker and properties of a plan test: its prim by service, else by host."""
    prim = None
    if prims is not None:
        prim = prims.lookup(service=test.service) or prims.lookup(host=_host(test.endpoint))
    return _prim_facts(prim, test.service)


@functools.lru_cache(maxsize=1024)
def _prim_facts(prim: Prim | None, service: str) -> PrimFacts:
    """The prim marker and static properties, one shared tuple per prim (not per item)."""
    prim_id = prim.id if prim is not None else (service.removesuffix(".sh") if service else "")
    status = prim.status if prim is not None else ""
    threshold = prim.threshold if prim is not None else None
    return _mark("primgate_prim", name=prim_id, status=status or "unknown"), (
        (rp.PRIM, prim_id),
        (rp.PRIM_STATUS, status or "unknown"),
        (rp.STATUS_CLASS, status_class(status)),
        (rp.THRESHOLD, "" if threshold is None else str(threshold)),
        (rp.MAX_RETRY_RATE,
         "" if prim is None or prim.max_retry_rate is None else str(prim.max_retry_rate)),
    )


@functools.lru_cache(maxsize=4096)
def _shared_prop(name: str, value: str) -> tuple[str, object]:
    """One ``(name, value)`` property object for all the items that share the value."""
    return (name, value)


def _finish(item: pytest.Function, decided: Decided, extra: dict[str, object]) -> None:
    """Publish the outcome: properties for reports, then pass / fail / skip for pytest."""
    result = decided.deciding
    values: dict[str, object] = {
        rp.BLOCKED_BY: "",
        rp.OUTCOME: decided.outcome,
        rp.REASON: result.reason,
        rp.ATTEMPTS: len(decided.attempts),
        rp.PASSES: decided.passes,
        rp.ATTEMPT_OUTCOMES: decided.letters,
        rp.STATUS_CODE: "" if result.status_code is None else result.status_code,
        rp.EXIT_CODE: "" if result.exit_code is None else result.exit_code,
    }
    values.update(extra)
    rp.set_props(item.user_properties, values)
    if decided.outcome == "passed":
        return
    if decided.outcome == "failed":
        lines = [result.reason]
        if result.detail:
            lines.append(result.detail)
        if len(decided.attempts) > 1:
            lines.append(
                f"attempts: {decided.letters} ({decided.passes} of {len(decided.attempts)} passed)"
            )
        pytest.fail("\n".join(lines), pytrace=False)
    label = {"blocked": "BLOCKED", "unreachable": "UNREACHABLE"}.get(decided.outcome, "SKIP")
    pytest.skip(f"{label}: {result.reason}")


def _infra_stop(item: pytest.Function, problem: str) -> None:
    """The item could not be run for an infrastructure reason: a pytest failure (visible),
    ``not_run`` for the gate (it blames no prim), an infrastructure error for the run."""
    rp.set_props(item.user_properties, {
        rp.BLOCKED_BY: "", rp.OUTCOME: "not_run", rp.REASON: f"infrastructure: {problem}",
        rp.ATTEMPTS: 0, rp.PASSES: 0, rp.ATTEMPT_OUTCOMES: "", rp.INFRA_ERROR: problem,
    })
    pytest.fail(f"infrastructure: {problem}", pytrace=False)


def _single(result: AttemptResult) -> Decided:
    return Decided(result.outcome, (result,), result)


def internal_error_reason(exc: BaseException) -> str:
    """The one-line reason of an item that failed inside primgate (not in the service)."""
    if isinstance(exc, MemoryError):
        return "infrastructure: out of memory while running the item (MemoryError)"
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    vps = sys.modules.get("pytest_primgate.vps")  # imported only when a server was spawned
    if vps is not None and isinstance(exc, vps.SpawnError):
        return f"infrastructure: primgate spawn: {text}"  # a canary CLI group's server
    return f"infrastructure: internal error: {type(exc).__name__}" + (f": {text}" if text else "")


def _run_primgate_item(request: pytest.FixtureRequest) -> None:
    """The callable behind every primgate item: delegates to the item itself.

    A ``MemoryError`` or any other exception escaping the item is primgate's (or the
    machine's) failure, not the service's: an infrastructure error (exit 2), never a
    regression, reported in one line.
    """
    node = request.node
    assert isinstance(node, PrimgateItem)
    try:
        node.run_primgate(request)
        return
    except Exception as exc:
        reason = internal_error_reason(exc)
    node.internal_error()  # outside the handler: the report shows one line, no chained error
    _finish(node, _single(AttemptResult("failed", reason)),
            {rp.INFRA_ERROR: reason.removeprefix("infrastructure: ")})


# pytest reads the callable's signature once per item to resolve fixtures; a precomputed
# __signature__ makes that a lookup instead of an inspection (10,000 items, one callable).
_run_primgate_item.__signature__ = inspect.signature(_run_primgate_item)  # type: ignore[attr-defined]


@functools.cache
def _function_takes_fixtureinfo() -> bool:
    return "fixtureinfo" in inspect.signature(pytest.Function.__init__).parameters


def shared_fixture_resolution(first: pytest.Function) -> dict[str, object]:
    """``from_parent`` keywords that let the siblings of ``first`` reuse its fixture closure.

    pytest resolves fixtures once per parametrized function and hands the result to each of
    its items (``pytest.Function(fixtureinfo=...)``). Siblings built here have the same parent
    and callable, so the same closure: resolving it per item cost ~0.25 s per 10,000 items.
    The resolution is pytest's ``_fixtureinfo`` (not public): where it or the keyword is
    missing, each item resolves its own, as before.
    """
    info = getattr(first, "_fixtureinfo", None)
    if info is None or not _function_takes_fixtureinfo():
        return {}
    return {"fixtureinfo": info}


class PrimgateItem(pytest.Function):
    """Base of plan and scenario items: location from the manifest, short failure reports."""

    manifest_line: int = 0
    label: str = ""
    redact: bool = False
    """Holdout mode: reasons are generic one-liners and nothing of the manifest is shown."""
    runs_override: tuple[int, int] | None = None
    """(runs, quorum) that replace the options' and the method's (holdout: always 2 of 3)."""

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.manifest_line, self.label or self.name

    def run_primgate(self, request: pytest.FixtureRequest) -> None:
        """Run the item's attempts (overridden)."""
        raise NotImplementedError

    def internal_error(self) -> None:
        """Called when the item failed inside primgate (plan items record the failure)."""


# ---------------------------------------------------------------------------------------------
# Plan files


class PlanFile(_ManifestFile):
    """A smoke-test-plan.json file: one child per group."""

    def collect(self) -> Iterator[pytest.Collector]:
        from pytest_primgate.manifests.plan import load_plan

        plan = load_plan(self.path)
        session = get_session(self.config)
        prims = session.prims_for(self.path.parent)
        self.plan = plan
        canary = get_settings(self.config).canary
        for group in plan.groups:
            if group.canary_only and not canary:
                session.canary_only_groups.append((self.nodeid, group.id))
                continue
            node = PlanGroupNode.from_parent(self, name=group.id)
            node.plan = plan
            node.group_id = group.id
            node.prims = prims
            yield node


class PlanGroupNode(pytest.Collector):
    """A plan group: its tests become items ``<file>::<group>::<test id>``."""

    plan: Plan
    group_id: str
    prims: PrimRegistry

    def collect(self) -> list[pytest.Item]:
        group = next(g for g in self.plan.groups if g.id == self.group_id)
        items: list[pytest.Item] = []
        if get_settings(self.config).canary:
            if group.prompt.strip():
                canary = CanaryItem.from_parent(self, name="canary", callobj=_run_primgate_item)
                canary.setup_canary(self.plan, group, self.prims)
                items.append(canary)
            return items
        tests = [self.plan.tests[test_id] for test_id in group.test_ids]
        facts = [plan_test_facts(test, self.prims) for test in tests]
        # The group's markers sit on this node, as a class's do for its methods: items
        # inherit them (-m, -k, iter_markers) without a marker list each.
        self.add_marker(_mark("primgate_group", name=group.id))
        one_prim = bool(facts) and all(marker is facts[0][0] for marker, _ in facts)
        if one_prim:
            self.add_marker(facts[0][0])
        with paused_gc(freeze=True):  # items live to the session's end: no GC walks them
            shared: dict[str, object] = {}
            for test, test_facts in zip(tests, facts, strict=True):
                item = PlanItem.from_parent(
                    self, name=test.id, callobj=_run_primgate_item, **shared
                )
                item.setup_plan(self.plan, test, facts=test_facts, group_on_parent=True,
                                prim_on_parent=one_prim)
                items.append(item)
                shared = shared or shared_fixture_resolution(item)
        return items

    def reportinfo(self) -> tuple[Path, int, str]:
        group = next(g for g in self.plan.groups if g.id == self.group_id)
        return self.path, group.line, f"group {group.id}"


class PlanItem(PrimgateItem):
    """One plan test."""

    plan: Plan
    test: PlanTest

    def setup_plan(
        self, plan: Plan, test: PlanTest, prims: PrimRegistry | None = None, *,
        facts: PrimFacts | None = None, group_on_parent: bool = False,
        prim_on_parent: bool = False,
    ) -> None:
        """Attach the test and its static facts (markers, gate class, properties).

        Every property is a tuple shared by all the items with the same group or prim
        (10,000 items, a few distinct); node id and test id are the report's own node id.
        ``group_on_parent`` / ``prim_on_parent``: the group node carries that marker.
        """
        self.plan = plan
        self.test = test
        self.manifest_line = test.line
        marker, prim_props = facts or plan_test_facts(test, prims)
        if not group_on_parent:
            self.add_marker(_mark("primgate_group", name=test.group))
        if not prim_on_parent:
            self.add_marker(marker)
        self.user_properties = list((  # list(tuple) is sized to fit; extend over-allocates
            _shared_prop(rp.KIND, "plan"), _shared_prop(rp.GROUP, test.group), *prim_props,
        ))

    @property
    def label(self) -> str:
        """``group::id METHOD endpoint``, built when a report first asks for it."""
        if self._label is not None:
            return self._label
        test = self.test
        return f"{test.group}::{test.id} {test.method} {test.endpoint}"

    @label.setter
    def label(self, value: str) -> None:
        self._label = value

    _label: str | None = None

    def internal_error(self) -> None:
        get_runstate(self.config).record(self.plan.path, self.test.id, "failed", {})

    def work(self, order: int | None) -> PlanWork:
        """What ``plan_work.compute`` reads of this item."""
        from pytest_primgate.plan_work import PlanWork

        return PlanWork(self.plan, self.test, self.nodeid, self.redact, self.runs_override,
                        order)

    def run_primgate(self, request: pytest.FixtureRequest) -> None:
        from pytest_primgate.plan_batch import RequestFixtures, get_batch
        from pytest_primgate.plan_work import compute

        config = self.config
        batch = get_batch(config)
        result = batch.take(self, request)
        if result is None:
            try:
                result = compute(
                    self.work(batch.order.get(self.nodeid)), settings=get_settings(config),
                    session=get_session(config), state=get_runstate(config),
                    fixtures=RequestFixtures(request),
                    slot=batch.slot if batch.allowed else None, parallel_attempts=batch.ahead,
                    observe=batch.inline_observer(self),
                )
            finally:
                batch.inline_done(self)
        if result.decided is None:
            _infra_stop(self, result.infra)
        else:
            _finish(self, result.decided, result.extra)


class CanaryItem(PrimgateItem):
    """``<plan>::<group>::canary``: an LLM agent uses the group's prims as their docs say."""

    group_id: str
    spec: CanarySpec

    def setup_canary(self, plan: Plan, group: PlanGroup, prims: PrimRegistry | None) -> None:
        """Attach the group's canary spec and its static facts (markers, gate class)."""
        from pytest_primgate.canary.prompt import group_prims
        from pytest_primgate.canary.run import CanarySpec

        covered = group_prims([plan.tests[t].service for t in group.test_ids])
        found = [p for p in (prims.lookup(service=c) for c in covered) if p] if prims else []
        endpoints = {p.id: p.endpoint for p in found if p.endpoint}
        infer = prims.lookup(service="infer") if prims is not None else None
        if infer is not None and infer.endpoint:
            endpoints.setdefault("infer", infer.endpoint)
        self.group_id = group.id
        self.spec = CanarySpec(
            plan_path=plan.path, group=group.id, name=group.name, prompt=group.prompt,
            interface=group.interface, setup=group.setup, cleanup=group.cleanup,
            prims=tuple(covered), endpoints=tuple(sorted(endpoints.items())),
        )
        self.manifest_line = group.line
        self.label = f"{group.id}::canary"
        live = [p for p in found if status_class(p.status) == "live"]
        prim = (live or found)[0] if found else None
        self.add_marker(_mark("primgate_group", name=group.id))
        self.user_properties.extend((
            (rp.KIND, "canary"), (rp.GROUP, group.id),
            *_prim_markers(self, prim, covered[0] if len(covered) == 1 else "").items(),
        ))

    def run_primgate(self, request: pytest.FixtureRequest) -> None:
        import json

        from pytest_primgate.canary.run import run_group
        from pytest_primgate.canary.verdict import effective, reason

        session = get_session(self.config)
        paid_before = session.payment_count()
        result = run_group(self.config, request, self.spec, self.nodeid)
        props = rp.as_dict(self.user_properties)
        shown = effective(result.verdict, str(props.get(rp.STATUS_CLASS, "live")))
        why = reason(result.verdict, result.steps, result.error)
        detail = json.dumps(result.to_json(), separators=(",", ":"))
        if self.redact:
            why, detail = f"canary {result.verdict}", ""
        outcome = {"pass": "passed", "warn": "warn"}.get(shown, "failed")
        rp.set_props(self.user_properties, {
            rp.OUTCOME: outcome, rp.REASON: why, rp.CANARY_VERDICT: result.verdict,
            rp.CANARY_STEPS: len(result.steps), rp.CANARY: detail,
            rp.PAYMENTS: rp.payments_to_prop(session.payments_since(paid_before)),
        })
        if outcome == "failed" and self.redact:
            pytest.fail(why, pytrace=False)
        if outcome == "failed":
            lines = [why, *(f"  {s.target}: {s.note or f'status {s.status}'}"
                            if s.tool == "http_request" else
                            f"  {s.target}: {s.note or f'exit {s.exit_code}'}"
                            for s in result.failing_steps()[:5])]
            pytest.fail("\n".join(lines), pytrace=False)
        if outcome == "warn":
            pytest.skip(f"CANARY WARN: {why}" if shown == result.verdict
                        else f"CANARY WARN (prim not live): {why}")


# ---------------------------------------------------------------------------------------------
# Smoke manifests


class SmokeFile(_ManifestFile):
    """A smoke manifest TOML file: one item per ``[[scenario]]``."""

    def collect(self) -> Iterator[pytest.Item]:
        from pytest_primgate.manifests.smoke import load_smoke

        if get_settings(self.config).canary:
            return  # a canary run is the agents' only (prim.sh's --canary runs nothing else)
        manifest = load_smoke(self.path)
        prims = get_session(self.config).prims_for(self.path.parent)
        for scenario in manifest.scenarios:
            item = ScenarioItem.from_parent(self, name=scenario.name, callobj=_run_primgate_item)
            item.setup_scenario(manifest, scenario, prims)
            yield item


class ScenarioItem(PrimgateItem):
    """One smoke scenario."""

    manifest: SmokeManifest
    scenario: Scenario

    def setup_scenario(
        self, manifest: SmokeManifest, scenario: Scenario, prims: PrimRegistry | None
    ) -> None:
        """Attach the scenario and its static facts (owners as markers, prim, properties)."""
        self.manifest = manifest
        self.scenario = scenario
        self.manifest_line = scenario.line
        self.label = f"scenario {scenario.name}"
        for owner in scenario.owners:
            self.add_marker(_mark("owner_task", name=owner))
        self.add_marker(_mark("primgate_group", name="smoke"))
        prim = None
        if prims is not None and scenario.prim:
            prim = prims.lookup(service=scenario.prim)
        static: dict[str, object] = {
            rp.KIND: "scenario",
            rp.GROUP: "smoke",
        }
        static.update(_prim_markers(self, prim, scenario.prim or ""))
        rp.set_props(self.user_properties, static)

    def run_primgate(self, request: pytest.FixtureRequest) -> None:
        from pytest_primgate.scenarios import run_scenario

        settings = get_settings(self.config)
        session = get_session(self.config)
        scenario = self.scenario
        runs = scenario.runs or settings.runs
        quorum = scenario.quorum or (settings.quorum if runs == settings.runs else runs // 2 + 1)
        if self.runs_override is not None:
            runs, quorum = self.runs_override

        from pytest_primgate.transport.retry import LOG_FILE_ENV, read_log_file

        with tempfile.TemporaryDirectory(prefix="primgate-retries-") as tmp:
            log_file = str(Path(tmp) / "retries.jsonl")
            env = {**session.scenario_env(), LOG_FILE_ENV: log_file}

            def attempt() -> AttemptResult:
                return run_scenario(
                    scenario, manifest_dir=Path(self.manifest.path).parent,
                    urlmap=settings.urlmap, extra_env=env, redact=self.redact,
                )

            decided = run_attempts(attempt, runs, quorum)
            retries = rp.retry_props(read_log_file(log_file, redact=self.redact))
        _finish(self, decided, retries)
