"""xdist scheduling that keeps every ``depends_on`` chain on one worker.

Captures and dependency outcomes live in the worker process that ran a test, so a chain must
not be split. Work units are connected components of the dependency graph; every other test is
its own unit, so independent plan tests still spread over all workers. The controller does not
collect: components come from reading the plan file named in the node id (cheap, no network).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

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


class DependencyScheduling(LoadScopeScheduling):  # type: ignore[misc]
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
