"""Completeness accounting: every selected primgate item ends with exactly one record.

The controller learns the selected set from its own collection (single process) or from the
workers' (``pytest_xdist_node_collection_finished``: the controller does not collect). At the
end of the run an item without a final report is ``not_run``; an xdist crash report
(``when="???"``) is a failure of the item that was running. Rules: ``docs/gate.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate import records as rp
from pytest_primgate.model import ItemRecord

Facts = list[tuple[str, object]]
"""An item's ``user_properties`` itself (no copy per item): its static pairs are read from it
when a placeholder record is needed (``STATIC_KEYS``; run-time properties are left out)."""

CRASH_WHEN = "???"
"""``when`` of the report pytest-xdist makes for the item a crashed worker was running."""

STATIC_KEYS = frozenset({
    rp.KIND, rp.TEST_ID, rp.GROUP, rp.PRIM, rp.PRIM_STATUS, rp.STATUS_CLASS, rp.THRESHOLD,
})


class Selected:
    """The selected primgate items, in order: the items themselves (single process, a
    worker) or their node ids only (xdist controller, which does not collect).

    Holding the items costs a reference each; the node id -> properties index a placeholder
    needs is built on the first lookup (an interrupted or crashed run), not for every run.
    """

    __slots__ = ("_index", "_items", "_nodeids")

    def __init__(self, items: Sequence[pytest.Item] = (), nodeids: Sequence[str] = ()) -> None:
        self._items = items
        self._nodeids = nodeids
        self._index: dict[str, Facts] | None = None

    def __iter__(self) -> Iterator[str]:
        yield from self._nodeids
        for item in self._items:
            yield item.nodeid

    def facts(self, nodeid: str) -> Facts | None:
        """The item's properties, or None when only its node id is known."""
        if self._index is None:
            self._index = {item.nodeid: item.user_properties for item in self._items}
        return self._index.get(nodeid)


SELECTED_KEY = pytest.StashKey[Selected]()
_NOTHING_SELECTED = Selected()


def _is_primgate_item(item: pytest.Item) -> bool:
    props = item.user_properties
    return bool(props) and (props[0][0] == rp.KIND or any(k == rp.KIND for k, _ in props))


def remember_items(config: pytest.Config, items: Iterable[pytest.Item]) -> None:
    """Selected set of a single-process run (or a worker): its primgate items."""
    config.stash[SELECTED_KEY] = Selected(items=[i for i in items if _is_primgate_item(i)])


def remember_ids(config: pytest.Config, ids: Sequence[str]) -> None:
    """Selected set on the xdist controller, from the first worker's collection."""
    if SELECTED_KEY in config.stash:
        return
    config.stash[SELECTED_KEY] = Selected(nodeids=[i for i in ids if is_manifest_nodeid(i)])


def is_manifest_nodeid(nodeid: str) -> bool:
    """``plan.json::group::id`` or ``manifest.toml::scenario`` (primgate's node id shapes)."""
    parts = nodeid.split("::")
    return (len(parts) == 3 and parts[0].endswith(".json")) or (
        len(parts) == 2 and parts[0].endswith(".toml")
    )


def selected(config: pytest.Config) -> Selected:
    """The selected set (empty when never learnt, e.g. collection failed)."""
    return config.stash.get(SELECTED_KEY, _NOTHING_SELECTED)


@lru_cache(maxsize=64)
def _plan_services(path: str) -> dict[str, str]:
    from pytest_primgate.manifests.errors import ManifestError
    from pytest_primgate.manifests.plan import load_plan

    try:
        plan = load_plan(Path(path))
    except (ManifestError, OSError):
        return {}
    return {tid: test.service for tid, test in plan.tests.items()}


@lru_cache(maxsize=64)
def _scenario_prims(path: str) -> dict[str, str]:
    from pytest_primgate.manifests.errors import ManifestError
    from pytest_primgate.manifests.smoke import load_smoke

    try:
        manifest = load_smoke(Path(path))
    except (ManifestError, OSError):
        return {}
    return {s.name: s.prim or "" for s in manifest.scenarios}


def facts_from_nodeid(config: pytest.Config, nodeid: str) -> dict[str, Any]:
    """Static properties of a selected item known only by node id (xdist controller): read
    from its manifest and the prim registry, as the worker's collection does."""
    from pytest_primgate.gate import status_class
    from pytest_primgate.session import get_session

    parts = nodeid.split("::")
    path = config.rootpath / parts[0]
    test_id = rp.node_test_id(nodeid)
    if len(parts) == 3:
        kind, group = "plan", parts[1]
        service = _plan_services(str(path)).get(test_id, "")
    else:
        kind, group = "scenario", "smoke"
        service = _scenario_prims(str(path)).get(test_id, "")
    prim = None
    if service:
        registry = get_session(config).prims_for(path.parent)
        prim = registry.lookup(service=service)
    status = prim.status if prim is not None else ""
    return {
        rp.KIND: kind, rp.TEST_ID: test_id, rp.GROUP: group,
        rp.PRIM: prim.id if prim is not None else service.removesuffix(".sh"),
        rp.PRIM_STATUS: status or "unknown", rp.STATUS_CLASS: status_class(status),
        rp.THRESHOLD: "" if prim is None or prim.threshold is None else str(prim.threshold),
    }


def placeholder(
    config: pytest.Config, nodeid: str, outcome: str, reason: str, worker: str = ""
) -> ItemRecord:
    """A record for a selected item that ended without a primgate report."""
    known = selected(config).facts(nodeid)
    facts = (
        {k: v for k, v in known if k in STATIC_KEYS} if known
        else facts_from_nodeid(config, nodeid)
    )
    props = {**facts, rp.OUTCOME: outcome, rp.REASON: reason}
    record = rp.record_from_report(nodeid, "call", outcome, props, reason, 0.0, worker)
    assert record is not None
    return record


def final_records(
    config: pytest.Config, records: Sequence[ItemRecord], reason: str,
    reported_elsewhere: Iterable[str] = (),
) -> list[ItemRecord]:
    """One record per selected item: the last reported one, else ``not_run`` with ``reason``.
    Items reported but not in the selected set (none expected) are kept too;
    ``reported_elsewhere`` (canary items, whose results are not gate records) get none."""
    elsewhere = set(reported_elsewhere)
    by_nodeid: dict[str, ItemRecord] = {}
    for record in records:
        earlier = by_nodeid.get(record.nodeid)
        if earlier is not None and earlier.reason.startswith("worker crashed"):
            continue  # a crash stays the item's result, even if a replacement worker reran it
        by_nodeid[record.nodeid] = record
    out: list[ItemRecord] = []
    for nodeid in selected(config):
        if nodeid in by_nodeid:
            out.append(by_nodeid.pop(nodeid))
        elif nodeid not in elsewhere:
            out.append(placeholder(config, nodeid, "not_run", reason))
    out.extend(by_nodeid.values())
    return out


def not_run_nodeids(records: Iterable[ItemRecord]) -> list[str]:
    """Node ids of the records without a result."""
    return [r.nodeid for r in records if r.outcome == "not_run"]
