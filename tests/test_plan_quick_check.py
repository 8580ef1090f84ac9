"""The fast pre-check never calls a plan valid that the JSON Schema rejects."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.manifests.plan import _quick_valid
from pytest_primgate.manifests.schema import validator
from tests.test_plugin_bad_plans import CASES, base

EXTRA: dict[str, Any] = {
    "status bool": ("tests/0/expected/status", True),
    "status 600": ("tests/0/expected/status", 600),
    "empty status list": ("tests/0/expected/status", []),
    "notes number": ("tests/0/notes", 3),
    "input number": ("tests/0/input", 3),
    "body_equals object": ("tests/0/expected/body_equals", {}),
    "version bool": ("version", True),
    "group name number": ("groups/0/name", 1),
    "depends_on number": ("tests/1/depends_on", [1]),
    "test not object": ("tests/0", "x"),
}


def schema_valid(data: Any) -> bool:
    return not any(True for _ in validator("plan").iter_errors(data))


def mutated(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(base())
    node: Any = data
    keys = path.split("/")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    last = keys[-1]
    node[int(last) if last.isdigit() else last] = value
    return data


@pytest.mark.parametrize("kind", sorted(CASES))
def test_quick_check_agrees_on_bad_plans(kind: str) -> None:
    data = copy.deepcopy(base())
    CASES[kind][0](data)
    if not schema_valid(data):
        assert not _quick_valid(data)


@pytest.mark.parametrize("kind", sorted(EXTRA))
def test_quick_check_rejects_schema_violations(kind: str) -> None:
    data = mutated(*EXTRA[kind])
    assert not schema_valid(data)
    assert not _quick_valid(data)


def test_quick_check_accepts_valid_plans(upstream_dir: Path, repo_dir: Path) -> None:
    for path in (upstream_dir / "prim" / "smoke-test-plan.json",
                 repo_dir / "manifests" / "smoke-test-plan.json"):
        data = json.loads(path.read_text())
        assert schema_valid(data) and _quick_valid(data)
    assert _quick_valid(base())
