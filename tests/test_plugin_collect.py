"""Collection of plan files: node ids, locations, markers, inertness, selection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PLAN = {
    "plan": "t", "version": 1, "network": "Base Sepolia (eip155:84532)", "context": "",
    "groups": [
        {"id": "onboarding", "name": "On", "prompt": "", "tests": ["F-1"]},
        {"id": "store", "name": "Store", "prompt": "", "tests": ["ST-1", "ST-2"]},
        {"id": "search", "name": "Search", "prompt": "", "tests": ["SE-1"]},
    ],
    "tests": [
        {"id": "F-1", "service": "faucet.sh", "test": "faucet", "method": "GET",
         "endpoint": "https://faucet.prim.sh/", "input": None, "expected": {"status": 200},
         "depends_on": [], "captures": {}, "notes": "Free."},
        {"id": "ST-1", "service": "store.sh", "test": "health", "method": "GET",
         "endpoint": "https://store.prim.sh/", "input": None, "expected": {"status": 200},
         "depends_on": ["F-1"], "captures": {}, "notes": None},
        {"id": "ST-2", "service": "store.sh", "test": "health 2", "method": "GET",
         "endpoint": "https://store.prim.sh/", "input": None, "expected": {"status": 200},
         "depends_on": ["ST-1"], "captures": {}, "notes": None},
        {"id": "SE-1", "service": "search.sh", "test": "health", "method": "GET",
         "endpoint": "https://search.prim.sh/", "input": None, "expected": {"status": 200},
         "depends_on": [], "captures": {}, "notes": None},
    ],
}


def write_plan(pytester: pytest.Pytester, plan: dict[str, object] = PLAN) -> Path:
    path = pytester.path / "smoke-test-plan.json"
    path.write_text(json.dumps(plan, indent=2))
    return path


def test_inert_without_primgate(pytester: pytest.Pytester) -> None:
    write_plan(pytester)
    pytester.makepyfile(test_plain="def test_one():\n    assert True\n")
    result = pytester.runpytest("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert "smoke-test-plan.json" not in result.stdout.str()
    assert "primgate" not in result.stdout.str()


def test_upstream_plan_collects_68_items_in_8_groups(
    pytester: pytest.Pytester, upstream_dir: Path
) -> None:
    plan = upstream_dir / "prim" / "smoke-test-plan.json"
    result = pytester.runpytest("--primgate", str(plan), "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert len(ids) == 68, result.stdout.str()
    groups = {line.split("::")[1] for line in ids}
    assert len(groups) == 8
    assert all(re.fullmatch(r".*smoke-test-plan\.json::[a-z_]+::[A-Z]+-[A-Z0-9]+", i) for i in ids)
    assert result.ret == 0


def test_each_item_location_is_the_line_of_its_id_key(
    pytester: pytest.Pytester, upstream_dir: Path
) -> None:
    plan = upstream_dir / "prim" / "smoke-test-plan.json"
    lines = plan.read_text().splitlines()
    items, _ = pytester.inline_genitems("--primgate", str(plan))
    assert len(items) == 68
    for item in items:
        _, line, _ = item.location
        assert re.search(r'"id"\s*:\s*"' + re.escape(item.name) + '"', lines[line]), (
            item.nodeid, line, lines[line],
        )


def test_markers_select_groups(pytester: pytest.Pytester) -> None:
    write_plan(pytester)
    result = pytester.runpytest(
        "--primgate", "--collect-only", "-q", "-m", "primgate_group(name='store')"
    )
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [  # ST-1 depends on F-1: the selection pulls it in
        "smoke-test-plan.json::onboarding::F-1",
        "smoke-test-plan.json::store::ST-1", "smoke-test-plan.json::store::ST-2"
    ]
    result = pytester.runpytest(
        "--primgate", "--collect-only", "-q", "-m", "primgate_prim(name='search', status='unknown')"
    )
    assert [line for line in result.outlines if "::" in line] == [
        "smoke-test-plan.json::search::SE-1"
    ]


def test_a_group_of_one_prim_is_marked_once_and_a_mixed_group_per_item(
    pytester: pytest.Pytester,
) -> None:
    """Markers of a one-prim group sit on the group node (no marker list per item); a group
    spanning two prims marks each item with its own prim. Selection sees both the same way."""
    plan = json.loads(json.dumps(PLAN))
    plan["groups"].append({"id": "mixed", "name": "Mixed", "prompt": "", "tests": ["MX-1", "MX-2"]})
    plan["tests"] += [
        {**plan["tests"][3], "id": "MX-1"},  # search.sh
        {**plan["tests"][1], "id": "MX-2", "depends_on": []},  # store.sh
    ]
    write_plan(pytester, plan)
    items, _ = pytester.inline_genitems("--primgate")
    by_name = {item.name: item for item in items}
    store = by_name["ST-2"]
    assert store.own_markers == []
    assert [m.kwargs for m in store.iter_markers("primgate_group")] == [{"name": "store"}]
    assert [m.kwargs["name"] for m in store.iter_markers("primgate_prim")] == ["store"]
    for name, prim in (("MX-1", "search"), ("MX-2", "store")):
        mixed = by_name[name]
        assert [m.kwargs["name"] for m in mixed.own_markers] == [prim]
        assert [m.kwargs["name"] for m in mixed.iter_markers("primgate_prim")] == [prim]
        assert [m.kwargs for m in mixed.iter_markers("primgate_group")] == [{"name": "mixed"}]
    result = pytester.runpytest(
        "--primgate", "--collect-only", "-q", "-m", "primgate_prim(name='search')"
    )
    assert [line for line in result.outlines if "::" in line] == [
        "smoke-test-plan.json::search::SE-1", "smoke-test-plan.json::mixed::MX-1"
    ]
    result = pytester.runpytest(
        "--primgate", "--collect-only", "-q",
        "-m", "primgate_group(name='mixed') and primgate_prim(name='store')",
    )
    assert [line for line in result.outlines if "::" in line] == [
        "smoke-test-plan.json::mixed::MX-2"
    ]


def test_group_pulls_in_dependencies(pytester: pytest.Pytester) -> None:
    write_plan(pytester)
    result = pytester.runpytest("--primgate", "--group", "store", "--collect-only", "-q")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == [
        "smoke-test-plan.json::onboarding::F-1",
        "smoke-test-plan.json::store::ST-1",
        "smoke-test-plan.json::store::ST-2",
    ]
    result = pytester.runpytest(
        "--primgate", "--group", "store", "--primgate-no-deps", "--collect-only", "-q"
    )
    assert [line for line in result.outlines if "::" in line] == [
        "smoke-test-plan.json::store::ST-1", "smoke-test-plan.json::store::ST-2"
    ]


def test_dry_run_shows_pulled_in_dependency(pytester: pytest.Pytester) -> None:
    write_plan(pytester)
    result = pytester.runpytest(
        "--primgate", "--group", "store", "--primgate-dry-run",
        "--primgate-base-url", "store.prim.sh=http://127.0.0.1:9/store",
    )
    out = result.stdout.str()
    assert "pulled in as dependency" in out
    assert "http://127.0.0.1:9/store/" in out
    assert "ST-2" in out and "SE-1" not in out
    assert result.ret == 0


def test_unknown_group_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write_plan(pytester)
    result = pytester.runpytest("--primgate", "--group", "nope", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown group 'nope'; available groups: onboarding, store, search*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_primgate_ini_enables(pytester: pytest.Pytester) -> None:
    write_plan(pytester)
    pytester.makeini("[pytest]\nprimgate = true\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert len([line for line in result.outlines if "::" in line]) == 4


def test_short_option_owned_by_another_plugin(pytester: pytest.Pytester) -> None:
    """Another plugin owning --group keeps it; primgate offers --primgate-group and warns."""
    write_plan(pytester)
    pytester.makeconftest(
        "def pytest_addoption(parser):\n"
        "    parser.getgroup('split').addoption('--group', type=int, dest='split_group')\n"
    )
    result = pytester.runpytest(
        "--primgate", "--primgate-group", "search", "--collect-only", "-q", "--group", "3",
    )
    assert [line for line in result.outlines if "::" in line] == [
        "smoke-test-plan.json::search::SE-1"
    ]
    result.stdout.fnmatch_lines(
        ["primgate: --group belong(s) to another installed plugin here; "
         "primgate's form: --primgate-group"]
    )


def test_fixture_closure_sharing_falls_back_when_pytest_keeps_it_elsewhere() -> None:
    """Without pytest's (private) resolution on the first item, each item resolves its own."""
    from types import SimpleNamespace

    from pytest_primgate.items import shared_fixture_resolution

    assert shared_fixture_resolution(SimpleNamespace()) == {}  # type: ignore[arg-type]
    info = object()
    assert shared_fixture_resolution(
        SimpleNamespace(_fixtureinfo=info)  # type: ignore[arg-type]
    ) == {"fixtureinfo": info}
