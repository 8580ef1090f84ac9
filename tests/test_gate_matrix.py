"""The gate end to end: real plans against the sandbox with fault injection, exit codes under
``--ci``, summary lines, results file, junit-xml and GitHub annotations — with and without
xdist, which must give the same verdicts and counts."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.report.results import validate_results
from tests.plans import plan, prim_yaml, results, t, write

MODES = {"no-xdist": ("-p", "no:xdist"), "xdist-2": ("-n", "2")}


def gate(pytester: pytest.Pytester, mode: str, *args: str) -> pytest.RunResult:
    """Run the gate in CI mode against a fresh sandbox, GitHub annotations on."""
    summary = pytester.path / "step-summary.md"
    os.environ["GITHUB_STEP_SUMMARY"] = str(summary)
    try:
        return pytester.runpytest_subprocess(
            "--primgate", "--primgate-sandbox", "--ci", "-p", "no:cacheprovider",
            "--primgate-results-dir", "out", *MODES[mode], *args,
        )
    finally:
        del os.environ["GITHUB_STEP_SUMMARY"]


def signature(data: dict[str, Any]) -> list[tuple[str, str, int, int, bool]]:
    """What must not depend on xdist: per-test outcome, attempts, passes, flaky."""
    return sorted(
        (x["nodeid"], x["outcome"], x["attempts"], x["passes"], x["flaky"]) for x in data["tests"]
    )


def prim_row(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(row for row in data["prims"] if row["name"] == name)


def new_prim_plan(pytester: pytest.Pytester, passing: int) -> None:
    """A 'testing' prim with ``passing`` healthy tests and one broken route."""
    prim_yaml(pytester.path, "beta", "testing")
    tests = [t(f"B-{i}", f"https://beta.prim.sh/?n={i}", service="beta.sh")
             for i in range(passing)]
    tests.append(t("B-X", "https://beta.prim.sh/v1/metrics", service="beta.sh"))
    write(pytester.path, plan({"beta": tests}))


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_live_prim_with_a_broken_route_fails_ci_and_names_the_test(
    pytester: pytest.Pytester, mode: str
) -> None:
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"store": [
        t("ST-1", "https://store.prim.sh/"),
        t("ST-2", "https://store.prim.sh/v1/metrics"),
    ]}))
    result = gate(pytester, mode, "--primgate-sandbox-fault", "path=/store/v1/metrics,status=500")
    assert result.ret == 1
    last = result.outlines[-1]
    assert last.startswith("primgate: FAILED")
    assert "smoke-test-plan.json::store::ST-2" in last
    assert any(
        line.startswith("::error") and "ST-2" in line for line in result.outlines
    ), result.stdout.str()
    data = results(pytester.path / "out")
    assert data["exit_code"] == 1
    assert prim_row(data, "store")["verdict"] == "FAIL"
    summary = (pytester.path / "step-summary.md").read_text()
    assert "ST-2" in summary and "FAIL" in summary


@pytest.mark.parametrize(("passing", "verdict"), [(3, "WARN"), (6, "PASS")])
def test_new_prim_against_its_80_percent_threshold(
    pytester: pytest.Pytester, passing: int, verdict: str
) -> None:
    new_prim_plan(pytester, passing)
    result = gate(pytester, "no-xdist", "--primgate-sandbox-fault",
                  "path=/beta/v1/metrics,status=500")
    assert result.ret == 0, result.stdout.str()
    data = results(pytester.path / "out")
    row = prim_row(data, "beta")
    assert row["verdict"] == verdict
    assert row["threshold"] == 80
    rate = f"{row['pass_rate']:.1f}"
    assert rate == ("75.0" if passing == 3 else "85.7")
    table_row = next(line for line in result.outlines if line.startswith("prim") and "beta" in line)
    assert table_row.split()[-1] == verdict and "testing" in table_row
    warnings = [line for line in result.outlines if line.startswith("::warning")]
    assert bool(warnings) == (verdict == "WARN")


def test_every_third_request_failing_is_absorbed_by_majority(
    pytester: pytest.Pytester, mode: str
) -> None:
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"store": [
        t(f"ST-{i}", f"https://store.prim.sh/?i={i}") for i in range(6)
    ]}))
    # Counted per URL: each item sees its own every-other-request failure, however the
    # workers interleave (a global counter would make the xdist run depend on timing).
    result = gate(pytester, mode, "--primgate-sandbox-fault",
                  "path=/store/*,every=2,per_url,status=500")
    assert result.ret == 0, result.stdout.str()
    data = results(pytester.path / "out")
    assert data["totals"]["passed"] == 6
    assert data["totals"]["flaky"] == 6
    assert prim_row(data, "store")["verdict"] == "PASS"
    for test in data["tests"]:  # the first two run at once: either may get the 500
        assert sorted(test["attempt_outcomes"][:2]) == ["F", "P"]
        assert test["attempt_outcomes"][2] == "P"


def test_every_third_request_failing_globally_passes_by_majority(
    pytester: pytest.Pytester,
) -> None:
    """SPEC's case as stated: a server failing every third request (one process, one
    request at a time: a global counter hands the failures to whichever requests arrive
    third, so with requests in flight at once two attempts of one item may both get one)."""
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"store": [
        t(f"ST-{i}", f"https://store.prim.sh/?i={i}") for i in range(6)
    ]}))
    result = gate(pytester, "no-xdist", "--primgate-sandbox-fault",
                  "path=/store/*,every=3,status=500", "--primgate-concurrency", "1")
    assert result.ret == 0, result.stdout.str()
    data = results(pytester.path / "out")
    assert data["totals"]["passed"] == 6 and data["totals"]["flaky"] > 0


def test_every_third_failing_with_a_single_run_fails(pytester: pytest.Pytester) -> None:
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"store": [
        t(f"ST-{i}", f"https://store.prim.sh/?i={i}") for i in range(6)
    ]}))
    result = gate(pytester, "no-xdist", "--primgate-runs", "1", "--primgate-concurrency", "1",
                  "--primgate-sandbox-fault", "path=/store/*,every=3,status=500")
    assert result.ret == 1
    data = results(pytester.path / "out")
    assert data["totals"]["failed"] == 2


def test_hold_prim_failing_everything_is_off(pytester: pytest.Pytester, mode: str) -> None:
    prim_yaml(pytester.path, "legacy", "hold")
    write(pytester.path, plan({"legacy": [
        t(f"L-{i}", f"https://legacy.prim.sh/?i={i}", service="legacy.sh") for i in range(3)
    ]}))
    result = gate(pytester, mode, "--primgate-sandbox-fault", "path=/legacy/*,status=503")
    assert result.ret == 2, result.stdout.str()  # only an off prim ran: nothing was verified
    data = results(pytester.path / "out")
    assert prim_row(data, "legacy")["verdict"] == "OFF"
    assert data["totals"]["failed"] == 3
    assert data["verdict"] == "NOTHING VERIFIED"
    assert data["verdict_line"] == (
        "primgate: NOTHING VERIFIED — no gated item ran (3 selected: 3 of off prims)")


@pytest.mark.parametrize("allow", [False, True])
def test_unreachable_live_prim(pytester: pytest.Pytester, allow: bool) -> None:
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"store": [
        t("ST-1", "https://store.prim.sh/"),
        t("ST-9", "http://127.0.0.1:9/v1/health", service="store.sh"),
    ]}))
    extra = ("--primgate-allow-unreachable",) if allow else ()
    result = gate(pytester, "no-xdist", *extra)
    assert result.ret == (0 if allow else 2), result.stdout.str()
    out = result.stdout.str()
    assert "UNREACHABLE / SKIPPED" in out
    assert "smoke-test-plan.json::store::ST-9" in out
    if not allow:
        assert result.outlines[-1].startswith("primgate: INFRA ERROR")


def test_junit_has_one_testcase_per_item_with_properties(pytester: pytest.Pytester) -> None:
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"store": [
        t("ST-1", "https://store.prim.sh/?a=1"),
        t("ST-2", "https://store.prim.sh/?a=2", depends_on=["ST-1"]),
        t("ST-3", "https://store.prim.sh/v1/metrics"),
        t("ST-4", "https://store.prim.sh/?a=4", depends_on=["ST-3"]),
    ]}))
    result = gate(pytester, "no-xdist", "--junit-xml", "junit.xml",
                  "--primgate-sandbox-fault", "path=/store/*,every=3,status=500",
                  "--primgate-sandbox-fault", "path=/store/v1/metrics,status=500")
    assert result.ret == 1
    root = ET.parse(pytester.path / "junit.xml").getroot()
    cases = root.findall(".//testcase")
    names = [c.get("name") for c in cases]
    assert sorted(names) == ["ST-1", "ST-2", "ST-3", "ST-4"], names
    by_name = {c.get("name"): c for c in cases}
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.findall("properties/property")}
        for key in ("group", "prim", "prim_status", "outcome", "attempts", "passes", "blocked_by"):
            assert key in props, (case.get("name"), props)
        assert props["group"] == "store" and props["prim"] == "store"
    st4 = {p.get("name"): p.get("value") for p in by_name["ST-4"].findall("properties/property")}
    assert st4["outcome"] == "blocked" and st4["blocked_by"] == "ST-3"
    assert by_name["ST-4"].find("skipped") is not None
    assert by_name["ST-3"].find("failure") is not None


def test_sigint_mid_run_leaves_a_complete_valid_results_file(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"slow": [
        t(f"S-{i}", f"https://store.prim.sh/?i={i}") for i in range(20)
    ]}))
    out = pytester.path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--primgate", "--primgate-sandbox", "--ci",
         "-p", "no:cacheprovider", "-p", "no:xdist", "--primgate-results-dir", str(out),
         "--primgate-sandbox-fault", "path=/store/*,latency_ms=400", "-v"],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:
            if "PASSED" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, rest
    data = results(out)
    assert data["interrupted"] is True and data["verdict"] == "INTERRUPTED"
    assert validate_results(data) == []
    finished = [x for x in data["tests"] if x["outcome"] != "not_run"]
    assert 1 <= len(finished) < 20 and len(data["tests"]) == 20
    assert len(data["not_run"]) == 20 - len(finished)


def test_example_manifests_same_verdict_and_counts_with_0_2_4_workers(
    pytester: pytest.Pytester, repo_dir: Path
) -> None:
    shutil.copytree(repo_dir / "manifests", pytester.path / "manifests")
    seen = []
    for workers in (("-p", "no:xdist"), ("-n", "2"), ("-n", "4")):
        out = pytester.path / f"out{len(seen)}"
        result = pytester.runpytest_subprocess(
            "--primgate", "--primgate-sandbox", "--ci", "-p", "no:cacheprovider",
            "--primgate-results-dir", str(out), *workers, "manifests",
        )
        data = results(out)
        seen.append((result.ret, data["verdict"], data["totals"], signature(data),
                     [(r["name"], r["verdict"]) for r in data["prims"]]))
    assert seen[0][0] == 0
    assert seen[0] == seen[1] == seen[2]
