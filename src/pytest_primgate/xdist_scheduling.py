"""xdist scheduling that keeps every ``depends_on`` chain on one worker.

Captures and dependency outcomes live in the worker process that ran a test, so a chain must
not be split. Work units are connected components of the dependency graph; every other test is
its own unit, so independent plan tests still spread over all workers. The controller does not
collect: components come from reading the plan file named in the node id (cheap, no network).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling, LoadGroupScheduling, LoadScopeScheduling

from pytest_primgate.manifests.errors import ManifestError


@lru_cache(maxsize=64)
def _components(path: str) -> dict[str, str]:
    """Test id -> component key (smallest id of its component) for one plan file."""
    from pytest_primgate.manifests.plan import load_plan

    try:
        plan = load_plan(Path(path))
    except (ManifestError, OSError):
        return {}
    parent = {tid: tid for tid in plan.tests}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for test in plan.tests.values():
        for dep in test.depends_on:
            if dep in parent:
                a, b = find(test.id), find(dep)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return {tid: find(tid) for tid in plan.tests}


class CrashSafeRequeue:
    """Mixin for xdist's scope-based schedulers (``load`` via ours, ``loadscope``,
    ``loadfile``, ``loadgroup``): a crashed worker never leaves the run waiting."""

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


class DependencyScheduling(CrashSafeRequeue, LoadScopeScheduling):  # type: ignore[misc]
    """``--dist load`` for primgate runs: one work unit per dependency component."""

    def __init__(self, config: pytest.Config, log: object | None = None) -> None:
        super().__init__(config, log)
        self._rootpath = config.rootpath

    def _split_scope(self, nodeid: str) -> str:
        parts = nodeid.split("::")
        if len(parts) == 3 and parts[0].endswith(".json"):
            component = _components(str(self._rootpath / parts[0])).get(parts[2])
            if component is not None:
                return f"{parts[0]}::{component}"
        return nodeid


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
