"""Every kind of bad plan is one collection error naming file:line and field, never a traceback."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.plans import plan, t

Mutator = Callable[[dict[str, Any]], None]


def base() -> dict[str, Any]:
    return plan({
        "store": [
            t("ST-1", "https://store.prim.sh/"),
            t("ST-2", "https://store.prim.sh/v1/buckets", depends_on=["ST-1"],
              input={"name": "x"}, method="POST"),
        ],
    })


def set_in(path: str, value: Any) -> Mutator:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        keys = path.split("/")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        last = keys[-1]
        if last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return mutate


def delete(path: str) -> Mutator:
    def mutate(data: dict[str, Any]) -> None:
        node: Any = data
        keys = path.split("/")
        for key in keys[:-1]:
            node = node[int(key)] if key.isdigit() else node[key]
        del node[keys[-1]]
    return mutate


def duplicate_id(data: dict[str, Any]) -> None:
    data["tests"][1]["id"] = "ST-1"
    data["groups"][0]["tests"] = ["ST-1"]


def cycle(data: dict[str, Any]) -> None:
    data["tests"][0]["depends_on"] = ["ST-2"]


def template_key(data: dict[str, Any]) -> None:
    data["tests"][1]["input"] = {"{{name}}": "x"}


CASES: dict[str, tuple[Mutator, str]] = {
    "missing id": (delete("tests/1/id"), "id"),
    "duplicate id": (duplicate_id, "id"),
    "unknown depends_on": (set_in("tests/1/depends_on", ["NOPE-1"]), "depends_on"),
    "cycle": (cycle, "depends_on"),
    "status not int": (set_in("tests/1/expected/status", "200"), "status"),
    "bad method": (set_in("tests/1/method", "FETCH"), "method"),
    "group names unknown test": (set_in("groups/0/tests", ["ST-1", "ST-2", "ST-9"]), "tests"),
    "template in key": (template_key, "input"),
    "missing groups": (delete("groups"), "groups"),
    "endpoint not a URL": (set_in("tests/0/endpoint", "store.prim.sh/health"), "endpoint"),
    "capture not a path": (set_in("tests/1/captures", {"b": "bucket.id"}), "captures"),
    "skip not boolean": (set_in("tests/0/skip", "yes"), "skip"),
    "expected missing": (delete("tests/0/expected"), "expected"),
}


def assert_clean_error(result: pytest.RunResult, field: str) -> None:
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, out
    assert re.search(r"smoke-test-plan\.json:\d+:", out), out
    assert field in out, out
    assert "Traceback" not in out and "INTERNALERROR" not in out, out


@pytest.mark.parametrize("kind", sorted(CASES))
def test_bad_plan_is_a_clean_collection_error(pytester: pytest.Pytester, kind: str) -> None:
    data = copy.deepcopy(base())
    mutate, field = CASES[kind]
    mutate(data)
    (pytester.path / "smoke-test-plan.json").write_text(json.dumps(data, indent=2))
    result = pytester.runpytest("--primgate", "-p", "no:cacheprovider")
    assert_clean_error(result, field)


def test_invalid_json_names_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "smoke-test-plan.json").write_text('{\n  "plan": "x",\n  "groups": [,\n}\n')
    result = pytester.runpytest("--primgate", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "smoke-test-plan.json:3:" in out, out
    assert "Traceback" not in out and "INTERNALERROR" not in out


def test_bad_plan_under_ci_exits_2_and_still_writes_results(pytester: pytest.Pytester) -> None:
    (pytester.path / "smoke-test-plan.json").write_text("[]")
    result = pytester.runpytest(
        "--primgate", "--ci", "-p", "no:cacheprovider", "--primgate-results-dir", "out"
    )
    assert result.ret == 2
    files = list((pytester.path / "out").glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["exit_code"] == 2
    assert data["infra_errors"]
