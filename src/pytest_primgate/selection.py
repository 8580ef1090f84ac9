"""Which collected items run, and in which order: groups, dependency closure, owner tasks.

Runs in ``pytest_collection_modifyitems`` on every process, deterministically (xdist requires the
same items in the same order on every worker).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import pytest

from pytest_primgate import records as rp
from pytest_primgate.items import CanaryItem, PlanItem, PrimgateItem, ScenarioItem
from pytest_primgate.session import get_session
from pytest_primgate.settings import Settings, get_settings

if TYPE_CHECKING:
    from pytest_primgate.manifests.plan import Plan


def available_groups(items: Sequence[pytest.Item]) -> list[str]:
    """Group ids of the collected items, in plan order (whatever order plugins left the items
    in: pytest-randomly shuffles before primgate selects)."""
    seen: dict[str, None] = {}
    present = {(id(i.plan), i.test.group) for i in items if isinstance(i, PlanItem)}
    plans = {id(i.plan): i.plan for i in items if isinstance(i, PlanItem)}
    for key, one in plans.items():
        for group in one.groups:
            if (key, group.id) in present:
                seen.setdefault(group.id, None)
    if any(isinstance(item, ScenarioItem) for item in items):
        seen.setdefault("smoke", None)
    for item in items:
        if isinstance(item, CanaryItem):
            seen.setdefault(item.group_id, None)
    return list(seen)


def check_owner_tasks(tasks: Sequence[str], items: Sequence[pytest.Item]) -> None:
    """``--owner-task`` names must own something collected; else a usage error listing them."""
    known = sorted({
        str(m.kwargs.get("name")) for i in items if isinstance(i, PrimgateItem)
        for m in i.iter_markers("owner_task")
    })
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise pytest.UsageError(
            f"--primgate-owner-task: unknown owner task {', '.join(map(repr, unknown))}; "
            f"known owner tasks: {', '.join(known) or '(no smoke scenarios collected)'}"
        )


def _closure(item: PlanItem, by_key: dict[tuple[str, str], PlanItem]) -> set[tuple[str, str]]:
    """Keys of the transitive ``depends_on`` closure of one plan item (itself excluded)."""
    out: set[tuple[str, str]] = set()
    stack = list(item.test.depends_on)
    while stack:
        dep = stack.pop()
        key = (item.plan.path, dep)
        if key in out or key not in by_key:
            continue
        out.add(key)
        stack.extend(by_key[key].test.depends_on)
    return out


def select(config: pytest.Config, settings: Settings, items: list[pytest.Item]) -> None:
    """Apply ``--group``, ``--owner-task`` and dependency ordering to ``items`` in place."""
    keep: list[pytest.Item] = items
    if settings.groups:
        groups = available_groups(items)
        unknown = [g for g in settings.groups if g not in groups]
        canary_only = {g for _, g in get_session(config).canary_only_groups}
        if any(g in canary_only for g in unknown):
            names = ", ".join(repr(g) for g in unknown if g in canary_only)
            raise pytest.UsageError(
                f"group {names} is canary only (canary_only: true): it runs only with --canary"
            )
        if unknown:
            raise pytest.UsageError(
                f"unknown group {', '.join(map(repr, unknown))}; "
                f"available groups: {', '.join(groups) or '(none collected)'}"
            )
        by_key = {(i.plan.path, i.test.id): i for i in items if isinstance(i, PlanItem)}
        wanted: set[tuple[str, str]] = set()
        pulled: set[tuple[str, str]] = set()
        for item in items:
            if isinstance(item, PlanItem) and item.test.group in settings.groups:
                wanted.add((item.plan.path, item.test.id))
        if not settings.no_deps:
            for key in list(wanted):
                pulled |= _closure(by_key[key], by_key) - wanted
        keep = []
        for item in items:
            if isinstance(item, PlanItem):
                key = (item.plan.path, item.test.id)
                if key in wanted or key in pulled:
                    keep.append(item)
                    if key in pulled:
                        rp.set_props(item.user_properties, {rp.PULLED_IN: True})
            elif isinstance(item, ScenarioItem):
                if "smoke" in settings.groups:
                    keep.append(item)
            elif isinstance(item, CanaryItem):
                if item.group_id in settings.groups:
                    keep.append(item)
            else:
                keep.append(item)
    if settings.owner_tasks:
        wanted_tasks = set(settings.owner_tasks)
        check_owner_tasks(settings.owner_tasks, items)
        keep = [
            i for i in keep
            if not isinstance(i, PrimgateItem)
            or any(m.kwargs.get("name") in wanted_tasks for m in i.iter_markers("owner_task"))
        ]
    if len(keep) == len(items):
        return  # nothing deselected; complete() orders, after every other plugin
    kept = set(keep)
    config.hook.pytest_deselected(items=[i for i in items if i not in kept])
    items[:] = keep


def complete(config: pytest.Config, items: list[pytest.Item]) -> None:
    """After every other plugin's selection and reordering (``-k``, ``-m``, node ids, shards,
    pytest-randomly): pull in the ``depends_on`` closure of the selected plan tests and put plan
    items back in plan and dependency order, so a selected test really runs."""
    settings = get_settings(config)
    if not settings.enabled:
        return
    if config.getoption("keepduplicates", False):
        items[:] = drop_duplicates(config, items)
    if not settings.no_deps:
        items[:] = pull_in_dependencies(items)
    items[:] = order_dependencies(items)
    if config.pluginmanager.hasplugin("rerunfailures"):
        opt_out_of_reruns(items, everywhere=reruns_requested(config))


def opt_out_of_reruns(items: Sequence[pytest.Item], everywhere: bool = True) -> None:
    """``--reruns`` keeps working for plain tests; primgate items are never rerun: their
    attempts are ``--primgate-runs``/``--primgate-quorum`` (one result per item), and a rerun
    would re-send non-idempotent requests (a second bucket, a second payment).

    Without ``everywhere`` (no global reruns asked for) only items that carry a ``flaky``
    marker get the opt-out: a marked item costs two round trips to pytest-rerunfailures'
    status server per test under xdist, an unmarked one none.
    """
    # Made here, not at import: with strict markers, ``pytest.mark.flaky`` is an error unless
    # pytest-rerunfailures (the only caller's condition) has registered it.
    no_reruns = pytest.mark.flaky(reruns=0)
    for item in items:
        if isinstance(item, PrimgateItem) and (
            everywhere or item.get_closest_marker("flaky") is not None
        ):
            item.add_marker(no_reruns)


def reruns_requested(config: pytest.Config) -> bool:
    """Whether pytest-rerunfailures reruns every test (``--reruns`` or the ``reruns`` ini)."""
    if config.getoption("reruns", None) is not None:
        return True
    try:
        int(config.getini("reruns"))
    except (TypeError, ValueError):
        return False
    return True


def check_rerun_options(config: pytest.Config) -> None:
    """``--force-reruns`` and ``--reruns-mode append`` would override the opt-out: refused."""
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return
    forced = config.getoption("force_reruns", None)
    if forced is not None or config.getoption("reruns_mode", None) == "append":
        flag = "--force-reruns" if forced is not None else "--reruns-mode append"
        raise pytest.UsageError(
            f"primgate: {flag} would rerun primgate items; they retry by majority "
            "(--primgate-runs / --primgate-quorum), and a rerun re-sends non-idempotent requests"
        )


def drop_duplicates(config: pytest.Config, items: list[pytest.Item]) -> list[pytest.Item]:
    """One item per manifest node id: a plan or manifest named twice (``--keep-duplicates``)
    runs once, since two runs of one test under one node id would give it two verdicts."""
    seen: set[str] = set()
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        if isinstance(item, PrimgateItem):
            if item.nodeid in seen:
                dropped.append(item)
                continue
            seen.add(item.nodeid)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    return kept


def pull_in_dependencies(items: list[pytest.Item]) -> list[pytest.Item]:
    """``items`` plus the missing plan tests their ``depends_on`` closure needs, each inserted
    before the first item of its plan file and marked "pulled in as dependency".

    Sets hold only the tests something depends on (a plan of independent tests costs none).
    """
    referenced = {(i.plan.path, dep) for i in items if isinstance(i, PlanItem)
                  for dep in i.test.depends_on}
    if not referenced:
        return items
    present = {key for i in items if isinstance(i, PlanItem)
               if (key := (i.plan.path, i.test.id)) in referenced}
    needed: dict[str, list[str]] = {}
    for item in items:
        if not isinstance(item, PlanItem):
            continue
        stack = list(item.test.depends_on)
        while stack:
            dep = stack.pop()
            key = (item.plan.path, dep)
            if key in present or dep not in item.plan.tests:
                continue
            present.add(key)
            needed.setdefault(item.plan.path, []).append(dep)
            stack.extend(item.plan.tests[dep].depends_on)
    if not needed:
        return items
    result = list(items)
    for path, deps in needed.items():
        first = next(i for i, it in enumerate(result)
                     if isinstance(it, PlanItem) and it.plan.path == path)
        anchor = result[first]
        assert isinstance(anchor, PlanItem)
        extra = _make_items(anchor, set(deps))
        for item in extra:
            rp.set_props(item.user_properties, {rp.PULLED_IN: True})
        result[first:first] = extra
    return result


def _make_items(anchor: PlanItem, test_ids: set[str]) -> list[pytest.Item]:
    """Items for ``test_ids`` of ``anchor``'s plan, built under its plan file node exactly as
    collection builds them (same node ids on every xdist worker)."""
    from pytest_primgate.items import PlanGroupNode

    plan_file = anchor.parent.parent if anchor.parent is not None else None
    assert plan_file is not None
    made: list[pytest.Item] = []
    for group in anchor.plan.groups:
        wanted = [tid for tid in group.test_ids if tid in test_ids]
        if not wanted:
            continue
        node = PlanGroupNode.from_parent(plan_file, name=group.id)
        node.plan = anchor.plan
        node.group_id = group.id
        node.prims = anchor.parent.prims  # type: ignore[union-attr]
        made.extend(i for i in node.collect() if i.name in wanted)
        test_ids -= set(wanted)
    return made


def _plan_positions(plan: Plan) -> dict[str, int]:
    """Position of every test of ``plan`` in collection order (groups, then ids).

    Made per ordering pass and dropped after it (a module cache kept one entry per test of
    every plan for the whole session).
    """
    positions: dict[str, int] = {}
    for group in plan.groups:
        for tid in group.test_ids:
            positions.setdefault(tid, len(positions))
    return positions


def order_dependencies(items: list[pytest.Item]) -> list[pytest.Item]:
    """Stable order in which every plan test comes after the tests it depends on.

    Items keep their slots; only plan items of one file are permuted among that file's slots.
    They are first put back in the plan's own order (undoing a shuffle).
    Returns ``items`` itself when nothing moves; checking that costs a reference per item.
    """
    by_plan: dict[str, list[PlanItem]] = {}
    for item in items:
        if isinstance(item, PlanItem):
            by_plan.setdefault(item.plan.path, []).append(item)
    moved: dict[str, Iterator[PlanItem]] = {}
    for path, members in by_plan.items():
        ordered = members
        if not _in_plan_order(members):
            positions = _plan_positions(members[0].plan)
            ordered = sorted(members, key=lambda m: positions.get(m.test.id, len(positions)))
        if not _already_ordered(ordered):
            ordered = _topological(ordered)
        if ordered is not members:
            moved[path] = iter(ordered)
    if not moved:
        return items
    return [next(moved[i.plan.path]) if isinstance(i, PlanItem) and i.plan.path in moved else i
            for i in items]


def _in_plan_order(members: list[PlanItem]) -> bool:
    """True when ``members`` follow their plan's order (groups, then ids): a walk, no index."""
    order = (tid for group in members[0].plan.groups for tid in group.test_ids)
    return all(any(tid == m.test.id for tid in order) for m in members)


def _already_ordered(members: Sequence[PlanItem]) -> bool:
    """True when every plan test already comes after its (collected) dependencies.

    Only the tests something depends on are tracked (independent tests cost nothing).
    """
    referenced = {dep for m in members for dep in m.test.depends_on}
    if not referenced:
        return True
    ids = {m.test.id for m in members if m.test.id in referenced}
    seen: set[str] = set()
    for member in members:
        for dep in member.test.depends_on:
            if dep in ids and dep not in seen:
                return False
        if member.test.id in referenced:
            seen.add(member.test.id)
    return True


def _topological(items: list[PlanItem]) -> list[PlanItem]:
    """Dependencies first, otherwise in the given order; every item kept (a plan collected
    twice with ``--keep-duplicates`` has two items per test id)."""
    by_id: dict[str, PlanItem] = {}
    for item in items:
        by_id.setdefault(item.test.id, item)
    placed: set[int] = set()
    out: list[PlanItem] = []

    def place(item: PlanItem, trail: tuple[str, ...]) -> None:
        if id(item) in placed or item.test.id in trail:
            return
        for dep in item.test.depends_on:
            if dep in by_id:
                place(by_id[dep], (*trail, item.test.id))
        placed.add(id(item))
        out.append(item)

    for item in items:
        place(item, ())
    return out
