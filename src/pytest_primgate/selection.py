"""Which collected items run, and in which order: groups, dependency closure, owner tasks.

Runs in ``pytest_collection_modifyitems`` on every process, deterministically (xdist requires the
same items in the same order on every worker).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_primgate import records as rp
from pytest_primgate.items import CanaryItem, PlanItem, PrimgateItem, ScenarioItem
from pytest_primgate.session import get_session
from pytest_primgate.settings import Settings


def available_groups(items: Sequence[pytest.Item]) -> list[str]:
    """Group ids of the collected items, in first-seen order."""
    seen: dict[str, None] = {}
    for item in items:
        if isinstance(item, PlanItem):
            seen.setdefault(item.test.group, None)
        elif isinstance(item, ScenarioItem):
            seen.setdefault("smoke", None)
        elif isinstance(item, CanaryItem):
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
    keep: list[pytest.Item] = list(items)
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
    kept = set(keep)
    deselected = [i for i in items if i not in kept]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = order_dependencies(keep)


def order_dependencies(items: list[pytest.Item]) -> list[pytest.Item]:
    """Stable order in which every plan test comes after the tests it depends on.

    Items keep their slots; only plan items of one file are permuted among that file's slots.
    """
    slots: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        if isinstance(item, PlanItem):
            slots.setdefault(item.plan.path, []).append(index)
    result = list(items)
    for indexes in slots.values():
        if _already_ordered([items[i] for i in indexes]):
            continue
        members = [items[i] for i in indexes]
        assert all(isinstance(m, PlanItem) for m in members)
        plan_items: list[PlanItem] = [m for m in members if isinstance(m, PlanItem)]
        ordered = _topological(plan_items)
        for slot, item in zip(indexes, ordered, strict=True):
            result[slot] = item
    return result


def _already_ordered(members: list[pytest.Item]) -> bool:
    """True when every plan test already comes after its (collected) dependencies."""
    ids = {m.test.id for m in members if isinstance(m, PlanItem)}
    seen: set[str] = set()
    for member in members:
        assert isinstance(member, PlanItem)
        for dep in member.test.depends_on:
            if dep in ids and dep not in seen:
                return False
        seen.add(member.test.id)
    return True


def _topological(items: list[PlanItem]) -> list[PlanItem]:
    by_id = {i.test.id: i for i in items}
    placed: set[str] = set()
    out: list[PlanItem] = []

    def place(item: PlanItem, trail: tuple[str, ...]) -> None:
        if item.test.id in placed or item.test.id in trail:
            return
        for dep in item.test.depends_on:
            if dep in by_id:
                place(by_id[dep], (*trail, item.test.id))
        placed.add(item.test.id)
        out.append(item)

    for item in items:
        place(item, ())
    return out
