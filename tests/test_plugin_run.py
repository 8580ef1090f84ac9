"""Running plan tests against the sandbox: outcomes, blocking, captures, results file."""

from __future__ import annotations

import json

import pytest

from tests.plans import plan, results, t, write

SANDBOX = ("--primgate", "--primgate-sandbox", "-p", "no:cacheprovider")


def outcomes(result: pytest.RunResult) -> dict[str, int]:
    """Outcome counts of pytest's last line, including primgate's categories."""
    return {k: v for k, v in result.parseoutcomes().items() if k not in ("seconds", "second")}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*SANDBOX, "--primgate-results-dir", "out", *args)


def test_health_plan_passes_and_writes_results(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"discovery": [
        t("H-1", "https://store.prim.sh/", body={"service": "store.sh", "status": "ok"}),
        t("H-2", "https://search.prim.sh/", service="search.sh",
          body={"service": "non-empty string", "status": "ok"}),
    ]}))
    result = run(pytester, "-v")
    result.assert_outcomes(passed=2)
    assert result.ret == 0
    data = results(pytester.path / "out")
    by_id = {x["test_id"]: x for x in data["tests"]}
    assert by_id["H-1"]["outcome"] == "passed"
    assert by_id["H-1"]["status_code"] == 200
    assert by_id["H-1"]["attempts"] == 2 and by_id["H-1"]["passes"] == 2
    assert by_id["H-1"]["duration"] > 0
    assert data["mode"] == "local"
    result.stdout.fnmatch_lines(["*primgate gate*", "*discovery*"])


def test_failing_dependency_blocks_its_chain(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"chain": [
        t("A-1", "https://store.prim.sh/", status=201),
        t("A-2", "https://store.prim.sh/", depends_on=["A-1"]),
        t("A-3", "https://store.prim.sh/", depends_on=["A-2"]),
    ]}))
    result = run(pytester, "-rs")
    assert outcomes(result) == {"failed": 1, "blocked": 2}
    out = result.stdout.str()
    assert "expected status 201, got 200" in out
    result.stdout.fnmatch_lines([
        "BLOCKED (2): not run because a dependency did not pass",
        "  smoke-test-plan.json::chain::A-2: blocked by A-1 (failed)",
        "  smoke-test-plan.json::chain::A-3: blocked by A-2 (blocked)",
    ])
    data = results(pytester.path / "out")
    by_id = {x["test_id"]: x for x in data["tests"]}
    assert by_id["A-2"]["outcome"] == "blocked" and by_id["A-2"]["blocked_by"] == "A-1"
    assert by_id["A-3"]["blocked_by"] == "A-2"
    assert "2 blocked" in out


def test_group_pulls_dependency_from_other_group_and_runs_it_first(
    pytester: pytest.Pytester,
) -> None:
    write(pytester.path, plan({
        "store": [t("ST-1", "https://store.prim.sh/", depends_on=["F-1"])],
        "onboarding": [t("F-1", "https://faucet.prim.sh/", service="faucet.sh")],
        "search": [t("SE-1", "https://search.prim.sh/", service="search.sh")],
    }))
    result = run(pytester, "--group", "store", "-v")
    result.assert_outcomes(passed=2)
    lines = [line for line in result.outlines if "PASSED" in line]
    assert "F-1" in lines[0] and "ST-1" in lines[1]
    assert "SE-1" not in result.stdout.str()


def test_unreachable_host_is_a_loud_skip(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"edge": [
        t("U-1", "http://127.0.0.1:9/", service="edge.sh"),
        t("U-2", "https://store.prim.sh/"),
    ]}))
    result = run(pytester, "-rs")
    assert outcomes(result) == {"passed": 1, "unreachable": 1}
    out = result.stdout.str()
    assert "UNREACHABLE" in out
    assert "1 unreachable" in out
    assert "UNREACHABLE / SKIPPED" in out or "unreachable" in out.lower()
    data = results(pytester.path / "out")
    assert {x["test_id"]: x["outcome"] for x in data["tests"]}["U-1"] == "unreachable"


def test_free_route_answering_402_fails(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"infer": [
        t("INF-X", "https://infer.prim.sh/v1/models", service="infer.sh", notes="Free route."),
    ]}))
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*route expected free but demanded payment*"])


def test_captures_feed_a_later_test(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"cap": [
        t("C-1", "https://store.prim.sh/", captures={"svc": "$.service"}),
        t("C-2", "https://store.prim.sh/?from={{svc}}", depends_on=["C-1"],
          body={"service": "{{svc}}"}),
        t("C-3", "https://store.prim.sh/{{gone}}", depends_on=["C-1"]),
    ]}))
    result = run(pytester, "-rs")
    assert outcomes(result) == {"passed": 2, "blocked": 1}
    result.stdout.fnmatch_lines(["*C-3: unresolved variable {{gone}} in endpoint*"])


def test_a_missing_declared_capture_fails_its_test_and_the_gate(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"store": [
        t("ST-1", "https://store.prim.sh/", body={"service": "string"},
          captures={"bucket_id": "$.bucket.id"}),
        t("ST-2", "https://store.prim.sh/?b={{bucket_id}}", depends_on=["ST-1"]),
        t("ST-3", "https://store.prim.sh/?c={{bucket_id}}", depends_on=["ST-2"]),
    ]}))
    result = run(pytester, "--ci")
    assert outcomes(result) == {"failed": 1, "blocked": 2}
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*missing capture: capture 'bucket_id' not found at $.bucket.id*"])
    verdict = ("primgate: FAILED — store (live) 0.0 % < 100 %: failing "
               "smoke-test-plan.json::store::ST-1, 2 items not verified (blocked by ST-1, ST-2)")
    assert result.outlines[-1] == verdict
    data = results(pytester.path / "out")
    assert data["verdict"] == "FAILED" and data["exit_code"] == 1
    assert data["verdict_line"] == verdict


def test_skip_true_is_skipped_with_the_plan_note(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"w": [
        t("W-6", "https://wallet.prim.sh/", skip=True, notes="SKIP: destructive"),
    ]}))
    result = run(pytester, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*SKIP: SKIP: destructive*"])


def test_var_option_and_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(pytester.path, plan({"v": [
        t("V-1", "https://{{host}}/", body={"service": "{{svc}}"}),
    ]}))
    monkeypatch.setenv("PRIMGATE_VAR_svc", "store.sh")
    result = run(pytester, "--primgate-var", "host=store.prim.sh")
    result.assert_outcomes(passed=1)


def test_shape_mismatch_report_is_short_and_exact(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"s": [
        t("S-1", "https://store.prim.sh/", body={"service": "number"}),
    ]}))
    result = run(pytester, "--primgate-runs", "1")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "shape mismatch: $.service: expected number, got string" in out
    assert "request: GET http://127.0.0.1:" in out
    assert '"service":"store.sh"' in out
    assert "Traceback" not in out and "def " not in out


@pytest.mark.parametrize(
    ("fault", "expect_fail"),
    [
        ("path=/store/*,status=500,every=1", "expected status 200, got 500"),
        ("path=/store/*,malformed_json=true,every=1", "expected JSON body"),
        ("path=/store/*,reset=true,every=1", "connection error"),
    ],
)
def test_fault_injection_knobs(pytester: pytest.Pytester, fault: str, expect_fail: str) -> None:
    write(pytester.path, plan({"f": [
        t("F-1", "https://store.prim.sh/", body={"status": "ok"}),
        t("F-2", "https://search.prim.sh/", service="search.sh", body={"status": "ok"}),
    ]}))
    result = run(pytester, "--primgate-sandbox-fault", fault, "--primgate-runs", "1")
    result.assert_outcomes(passed=1, failed=1)
    assert expect_fail in result.stdout.str()


def test_latency_fault_slows_requests(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"f": [t("L-1", "https://store.prim.sh/")]}))
    result = run(pytester, "--primgate-sandbox-fault", "path=/store/*,latency_ms=300",
                 "--primgate-runs", "1")
    result.assert_outcomes(passed=1)
    data = results(pytester.path / "out")
    assert data["tests"][0]["duration"] >= 0.25


def test_results_file_is_valid_json_with_run_meta(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"d": [t("D-1", "https://store.prim.sh/")]}))
    run(pytester, "--group", "d")
    data = results(pytester.path / "out")
    assert data["meta"]["selected_groups"] == ["d"]
    assert data["plugin_version"]
    assert json.dumps(data)


def test_items_of_a_group_share_one_fixture_closure_and_each_folder_keeps_its_own(
    pytester: pytest.Pytester,
) -> None:
    """Siblings reuse the first item's fixture resolution; conftest scoping is unchanged."""
    health = {"service": "store.sh", "status": "ok"}
    for folder in ("a", "b"):
        (pytester.path / folder).mkdir()
        write(pytester.path / folder, plan({
            "g1": [t("H-1", "https://store.prim.sh/", body=health),
                   t("H-2", "https://store.prim.sh/", body=health)],
            "g2": [t("H-3", "https://store.prim.sh/", body=health)],
        }))
        (pytester.path / folder / "conftest.py").write_text(
            "import pytest\n\n"
            "@pytest.fixture(autouse=True)\n"
            f"def only_{folder}(request):\n"
            f"    print('\\nFIXTURE {folder} ' + request.node.nodeid)\n"
        )
    pytester.makeconftest(
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        print('NAMES', item.nodeid, sorted(n for n in item.fixturenames\n"
        "                                         if n.startswith('only_')))\n"
        "    first, second, third = items[0], items[1], items[2]\n"
        "    print('SIBLINGS SHARE', first.fixturenames is second.fixturenames)\n"
        "    print('GROUPS SHARE', first.fixturenames is third.fixturenames)\n"
    )
    result = run(pytester, "-s")
    assert result.ret == 0, result.stdout.str()
    result.assert_outcomes(passed=6)
    out = result.stdout.str()
    assert "SIBLINGS SHARE True" in out and "GROUPS SHARE False" in out
    for folder, other in (("a", "b"), ("b", "a")):
        for tid, group in (("H-1", "g1"), ("H-2", "g1"), ("H-3", "g2")):
            nodeid = f"{folder}/smoke-test-plan.json::{group}::{tid}"
            assert f"NAMES {nodeid} ['only_{folder}']" in out
            assert f"FIXTURE {folder} {nodeid}" in out
            assert f"FIXTURE {other} {nodeid}" not in out
