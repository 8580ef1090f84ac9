"""xdist scheduling that keeps every ``depends_on`` chain on one worker, in linear time.

Captures and dependency outcomes live in the worker process that ran a test, so a chain must
not be split. Work units are connected components of the dependency graph; independent tests
are bundled into a bounded number of units, so they still spread over all workers without one
unit per test. The controller does not collect: components come from reading the plan file
named in the node id (cheap, no network).

Every operation costs O(1) per test (dict and deque updates, no rescans of what a worker was
given), so scheduling 20,000 tests takes milliseconds. A worker that crashes gives back the
tests it had not finished: the one it was running is reported by xdist as crashed, the rest go
back to the queue for any live or replacement worker, and a run whose workers are all gone ends
with those tests unrun (the gate counts them as ``not run``) instead of waiting for them.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling, LoadGroupScheduling, LoadScopeScheduling

#: A worker asks for more work when fewer than this many of its tests are unfinished. xdist
#: keeps the last test sent to a worker until it learns what comes next, so 2 keeps it busy.
LOW_WATERMARK = 2
#: Independent tests are bundled into about this many units per worker (balance vs. overhead).
UNITS_PER_WORKER = 4
#: No bundle of independent tests is larger than this, so a late worker still gets a share.
MAX_BUNDLE = 100


_DEPENDENCY = re.compile(r'"depends_on"\s*:\s*\[\s*"')
"""A non-empty ``depends_on`` list as JSON spells it (escaped key spellings aside)."""


@lru_cache(maxsize=64)
def _components(path: str) -> dict[str, str]:
    """Test id -> component key (smallest id of its component) for the tests of one plan file
    that share a component with another test; independent tests are left out.

    Reads only ids and ``depends_on``: the workers validate the plan when they collect it, and
    a plan they reject has no items to schedule, so anything unreadable here yields ``{}``.
    A plan whose text has no non-empty ``depends_on`` (and no unicode escape that could spell
    one) has no components, and is not decoded at all.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
        if _DEPENDENCY.search(text) is None and "\\u" not in text:
            return {}
        tests = json.loads(text)["tests"]
        ids = [t["id"] for t in tests]
        deps = [t.get("depends_on") for t in tests]
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {}
    parent = {tid: tid for tid in ids if isinstance(tid, str)}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    linked: dict[str, None] = {}
    for tid, needs in zip(ids, deps, strict=True):
        if not needs or tid not in parent or not isinstance(needs, list):
            continue
        for dep in needs:
            if isinstance(dep, str) and dep in parent:
                linked[tid] = linked[dep] = None
                a, b = find(tid), find(dep)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {tid: find(tid) for tid in linked}


def read_ahead(paths: Iterable[str]) -> threading.Thread | None:
    """Decode these plan files' components in a background thread.

    The controller knows the plans named on the command line long before the workers have
    started and collected; reading them meanwhile takes the JSON decode (most of a
    scheduling pass: ~0.1 s at 20,000 tests) off the path between "workers ready" and the
    first test. ``paths`` must be spelled as ``component_key`` spells them (rootdir / node id).
    """
    todo = list(paths)
    if not todo:
        return None

    def read() -> None:
        for path in todo:
            _components(path)

    thread = threading.Thread(target=read, name="primgate-plan-read", daemon=True)
    thread.start()
    return thread


def component_key(nodeid: str, rootpath: Path, files: dict[str, dict[str, str]]) -> str | None:
    """The dependency component of a plan item's node id, or None for an independent test.

    ``files`` caches each plan file's components for the duration of one scheduling pass.
    """
    head, _, test_id = nodeid.rpartition("::")
    path, sep, group = head.partition("::")
    if not sep or "::" in group or not path.endswith(".json"):
        return None
    components = files.get(path)
    if components is None:
        components = files[path] = _components(str(rootpath / path))
    key = components.get(test_id)
    return None if key is None else f"{path}::{key}"


def work_units(collection: Sequence[str], rootpath: Path, workers: int) -> list[list[int]]:
    """Split a collection into work units of indices: whole components, then bundles.

    Components of more than one test come first, largest first (they bound the run's length);
    the independent tests follow in collection order, in bundles of at most ``MAX_BUNDLE``.
    """
    groups: dict[str, list[int]] = {}
    single: list[int] = []
    files: dict[str, dict[str, str]] = {}
    for index, nodeid in enumerate(collection):
        key = component_key(nodeid, rootpath, files) if "::" in nodeid else None
        if key is None:
            single.append(index)
        else:
            groups.setdefault(key, []).append(index)
    units = sorted(groups.values(), key=len, reverse=True)
    lone = [u[0] for u in units if len(u) == 1]
    units = [u for u in units if len(u) > 1]
    if lone:  # a component whose other tests were deselected
        single = sorted(single + lone)
    size = max(1, min(MAX_BUNDLE, len(single) // max(1, workers * UNITS_PER_WORKER)))
    units.extend(single[i : i + size] for i in range(0, len(single), size))
    return units


class DependencyScheduling:
    """``--dist load`` for primgate runs: components stay together, every test runs once."""

    def __init__(
        self, config: pytest.Config, log: Any | None = None, plans: Iterable[str] = ()
    ) -> None:
        """``plans``: plan files (``rootdir / path`` strings) to read while workers start."""
        from xdist.remote import Producer
        from xdist.workermanage import parse_tx_spec_config

        self.numnodes = len(parse_tx_spec_config(config))
        self.config = config
        self.log = log.primgatesched if log is not None else Producer("primgatesched")
        self._rootpath = config.rootpath
        self.collection: list[str] | None = None
        self.registered: dict[Any, list[str]] = {}
        self.pending: dict[Any, dict[int, None]] = {}
        self.queue: deque[list[int]] = deque()
        self._reading = read_ahead(plans)

    @property
    def nodes(self) -> list[Any]:
        """Workers that can still be given tests."""
        return list(self.pending)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.registered) >= self.numnodes

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.queue:
            return False
        return all(len(p) < LOW_WATERMARK for p in self.pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.queue) or any(self.pending.values())

    def add_node(self, node: Any) -> None:
        self.pending[node] = {}

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        if self.collection is not None and list(collection) != self.collection:
            from xdist.report import report_collection_diff

            first = next(iter(self.registered))
            self.log(
                report_collection_diff(
                    self.collection, list(collection), first.gateway.id, node.gateway.id
                )
            )
            return
        self.registered[node] = list(collection)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.pending[node].pop(item_index, None)
        self._reschedule(node)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("primgate's scheduler does not steal work")

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("primgate's scheduler does not steal work")

    def remove_node(self, node: Any) -> str | None:
        """Forget a worker; return the test it was running if it crashed, requeue the rest."""
        pending = self.pending.pop(node, None)
        if not pending or self.collection is None:
            return None
        crashed, *rest = pending
        if rest:
            self.queue.appendleft(rest)
        for other in self.nodes:
            self._reschedule(other)
        return self.collection[crashed]

    def schedule(self) -> None:
        if self.collection is not None:
            for node in self.nodes:
                self._reschedule(node)
            return
        collections = list(self.registered.values())
        if any(c != collections[0] for c in collections[1:]):
            from xdist.report import report_collection_diff

            nodes = list(self.registered)
            for node, other in zip(nodes[1:], collections[1:], strict=True):
                msg = report_collection_diff(
                    collections[0], other, nodes[0].gateway.id, node.gateway.id
                )
                if msg:
                    self.log(msg)
            self.log("**Different tests collected, aborting run**")
            return
        self.collection = collections[0]
        if not self.collection:
            return
        if self._reading is not None:
            self._reading.join()  # never decode a plan twice at once
        self.queue.extend(work_units(self.collection, self._rootpath, len(self.pending)))
        for node in self.nodes[len(self.queue) :]:
            self.pending.pop(node)
            node.shutdown()
        for node in self.nodes:
            self._assign(node)
        for node in self.nodes:
            self._reschedule(node)

    def _reschedule(self, node: Any) -> None:
        if node.shutting_down:
            return
        if not self.queue:
            node.shutdown()
            return
        if len(self.pending[node]) < LOW_WATERMARK:
            self._assign(node)

    def _assign(self, node: Any) -> None:
        if not self.queue:
            return
        unit = self.queue.popleft()
        self.pending[node].update(dict.fromkeys(unit))
        node.send_runtest_some(unit)


class CrashSafeRequeue:
    """Mixin for xdist's other scope-based schedulers (``loadscope``, ``loadfile``,
    ``loadgroup``): a crashed worker never leaves the run waiting. (``--dist load`` uses
    ``DependencyScheduling``, which requeues only what is left by itself.)"""

    workqueue: Any

    def remove_node(self, node: object) -> str | None:
        """A crashed node's item is done (it failed with the crash report); its other pending
        items go back to the queue. xdist's ``LoadScopeScheduling`` requeues the node's whole
        workload, finished units included: a replacement worker handed a unit with nothing
        left to run never reports back and the run waits forever. Requeue only what is left."""
        crashitem: str | None = super().remove_node(node)  # type: ignore[misc]
        if crashitem is None:
            return None
        for scope, unit in list(self.workqueue.items()):
            if crashitem in unit:
                unit[crashitem] = True
            if all(unit.values()):
                del self.workqueue[scope]
        return crashitem


class CrashSafeLoadScope(CrashSafeRequeue, LoadScopeScheduling):  # type: ignore[misc]
    """``--dist loadscope`` with crash-safe requeueing."""


class CrashSafeLoadFile(CrashSafeRequeue, LoadFileScheduling):  # type: ignore[misc]
    """``--dist loadfile`` with crash-safe requeueing."""


class CrashSafeLoadGroup(CrashSafeRequeue, LoadGroupScheduling):  # type: ignore[misc]
    """``--dist loadgroup`` with crash-safe requeueing."""


CRASH_SAFE = {
    "loadscope": CrashSafeLoadScope, "loadfile": CrashSafeLoadFile,
    "loadgroup": CrashSafeLoadGroup,
}
"""Scope-based ``--dist`` modes whose xdist scheduler requeues finished units on a crash."""
