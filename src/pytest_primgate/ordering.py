"""What a plan test waits for when tests run concurrently: the order that can matter.

Plans are written for sequential runners, and some of their expectations lean on the plan's
order without a ``depends_on``: a bucket's ``usage_bytes`` read as 0 before the test that
uploads into it. So a test starts only after the earlier tests (in the run's order, same plan)

1. it lists in ``depends_on``;
2. that capture a variable it uses (it needs the value);
3. that touch the same resource where one of the two writes: tests "touch" a resource when
   they use the same variable (a captured id, the wallet's address), and a test writes unless
   its method is GET, HEAD or OPTIONS. A write waits for every earlier test on the resource,
   a read for the last earlier write; reads of one resource overlap.

Run constants (``test_prefix``, ``runner``, ``iso_timestamp``, ``--primgate-var`` values) name
no resource. Pure logic: no pytest, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class OrderFacts:
    """What the ordering reads of one test."""

    key: str
    plan: str
    test_id: str
    method: str
    depends_on: tuple[str, ...]
    captures: tuple[str, ...]
    """Names of the variables it captures."""
    uses: frozenset[str]
    """Names of the variables its endpoint, input and expectations use."""

    @property
    def writes(self) -> bool:
        """Whether it may change what it touches."""
        return self.method.strip().upper() not in READS


def waits(tests: Sequence[OrderFacts], constants: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """For each test (by key), the keys of the earlier tests it must wait for."""
    by_id: dict[str, dict[str, str]] = {}
    capturers: dict[str, dict[str, list[str]]] = {}
    last_write: dict[tuple[str, str], str] = {}
    reads_since: dict[tuple[str, str], list[str]] = {}
    out: dict[str, tuple[str, ...]] = {}
    for test in tests:
        ids = by_id.setdefault(test.plan, {})
        caps = capturers.setdefault(test.plan, {})
        deps = [ids[d] for d in test.depends_on if d in ids]
        resources = sorted(test.uses - constants)
        for name in resources:
            deps.extend(caps.get(name, ()))
            resource = (test.plan, name)
            if resource in last_write:
                deps.append(last_write[resource])
            if test.writes:
                deps.extend(reads_since.get(resource, ()))
        out[test.key] = tuple(d for d in dict.fromkeys(deps) if d != test.key)
        for name in resources:
            resource = (test.plan, name)
            if test.writes:
                last_write[resource] = test.key
                reads_since[resource] = []
            else:
                reads_since.setdefault(resource, []).append(test.key)
        ids[test.test_id] = test.key
        for name in test.captures:
            caps.setdefault(name, []).append(test.key)
    return out
