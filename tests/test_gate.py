"""The gate's arithmetic: classes, thresholds, majority, verdicts, exit codes, verdict lines."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_primgate.gate import (
    GateResult,
    PrimGate,
    Tally,
    attempt_decision,
    default_threshold,
    effective_runs,
    evaluate,
    format_rate,
    holdout_verdict,
    meets,
    resolve_gate,
    status_class,
)
from pytest_primgate.model import ItemRecord


def rec(nodeid: str, outcome: str, *, prim: str = "store", status: str = "live",
        group: str = "", **kw: Any) -> ItemRecord:
    """A record for ``plan.json::<group>::<id>``."""
    group = group or prim
    return ItemRecord(
        nodeid=f"plan.json::{group}::{nodeid}", kind="plan", test_id=nodeid, group=group,
        prim=prim, prim_status=status, status_class=status_class(status),
        outcome=outcome,  # type: ignore[arg-type]
        **kw,
    )


def run(records: list[ItemRecord], *, allow_unreachable: bool = False,
        infra: list[str] | None = None, collection_errors: int = 0,
        overrides: dict[str, float] | None = None, **kw: Any) -> GateResult:
    gates = {
        r.prim: resolve_gate(r.prim, r.prim_status, r.prim_threshold, overrides or {})
        for r in records
    }
    return evaluate(records, gates, allow_unreachable=allow_unreachable,
                    infra_errors=infra or [], collection_errors=collection_errors, **kw)


@pytest.mark.parametrize(("status", "cls"), [
    ("live", "live"), ("mainnet", "live"), ("testnet", "live"), ("deployed", "live"),
    ("building", "new"), ("testing", "new"), ("idea", "off"), ("planning", "off"),
    ("phantom", "off"), ("hold", "off"), ("", "live"), ("retired", "live"), (" Live ", "live"),
])
def test_status_class(status: str, cls: str) -> None:
    assert status_class(status) == cls


def test_default_thresholds() -> None:
    assert (default_threshold("live"), default_threshold("new"), default_threshold("off")) == (
        100.0, 80.0, None)


def test_resolve_gate_precedence() -> None:
    assert resolve_gate("store", "live", None, {}) == PrimGate("store", "live", "live", 100.0)
    assert resolve_gate("store", "testing", 70.0, {}).threshold == 70.0
    for key in ("store", "store.sh"):
        assert resolve_gate("store", "live", 95.0, {key: 90.0}).threshold == 90.0
    assert resolve_gate("store", "live", None, {"search": 10.0}).threshold == 100.0
    assert resolve_gate("infer", "hold", 50.0, {"infer": 50.0}) == PrimGate(
        "infer", "hold", "off", None)
    assert resolve_gate("", "", None, {}).status_class == "live"


@pytest.mark.parametrize(("outcomes", "expected"), [
    ([], None), ([True], None), ([False], None), ([True, True], True), ([False, False], False),
    ([True, False], None), ([False, True], None), ([True, False, True], True),
    ([False, True, False], False),
])
def test_attempt_decision_two_of_three(outcomes: list[bool], expected: bool | None) -> None:
    assert attempt_decision(outcomes, 3, 2) is expected


def test_attempt_decision_other_quorums() -> None:
    assert attempt_decision([True], 1, 1) is True
    assert attempt_decision([False], 1, 1) is False
    assert attempt_decision([True], 5, 3) is None
    assert attempt_decision([False, False, False], 5, 3) is False
    assert attempt_decision([False, False], 5, 3) is None


@pytest.mark.parametrize(("method", "retry", "expected"), [
    ("GET", False, (3, 2)), ("PUT", False, (3, 2)), ("POST", False, (1, 1)),
    ("patch", False, (1, 1)), ("DELETE", False, (1, 1)), ("POST", True, (3, 2)),
])
def test_effective_runs(method: str, retry: bool, expected: tuple[int, int]) -> None:
    assert effective_runs(method, retry, 3, 2) == expected


def test_boundaries_are_exact() -> None:
    assert meets(4, 5, 80.0)
    assert not meets(3, 4, 80.0)
    assert meets(1, 3, 33.3) and not meets(1, 3, 33.34)
    assert meets(7, 10, 70.0) and meets(29, 100, 29.0) and meets(57, 100, 57.0)
    assert not meets(0, 0, 0.0)
    assert format_rate(Tally(passed=9999, failed=1).rate) == "99.9"
    assert format_rate(Tally(passed=2, failed=1).rate) == "66.6"
    assert Tally().pass_rate is None and Tally(passed=4, failed=1).pass_rate == 80.0


def test_new_prim_at_threshold_passes_and_below_warns() -> None:
    ok = run([rec(f"B-{i}", "passed", prim="beta", status="testing") for i in range(4)]
             + [rec("B-5", "failed", prim="beta", status="testing")])
    assert [r.verdict for r in ok.prim_rows] == ["PASS"]
    assert ok.exit_code == 0 and ok.verdict_line == (
        "primgate: PASSED — 1 prim gated, all hard gates pass")
    warn = run([rec("B-1", "passed", prim="beta", status="testing"),
                rec("B-2", "failed", prim="beta", status="testing", reason="got 500")])
    assert warn.prim_rows[0].verdict == "WARN" and warn.exit_code == 0
    assert [r.test_id for r in warn.soft_misses] == ["B-2"] and warn.hard_failures == []
    assert warn.verdict_line == "primgate: PASSED — 1 prim gated, all hard gates pass (1 warning)"


def test_live_regression_fails_and_names_the_test() -> None:
    records = [rec(f"ST-{i}", "passed") for i in range(1, 10) if i != 2]
    records.insert(1, rec("ST-2", "failed", reason="shape mismatch"))
    records += [rec("ST-10", "passed"), rec("H-1", "passed", prim="search", group="discovery")]
    result = run(records)
    assert result.exit_code == 1 and result.verdict == "FAILED"
    assert result.verdict_line == (
        "primgate: FAILED — store (live) 90.0 % < 100 %: failing plan.json::store::ST-2")
    assert [r.test_id for r in result.hard_failures] == ["ST-2"]
    assert [(r.name, r.verdict) for r in result.prim_rows] == [
        ("search", "PASS"), ("store", "FAIL")]
    assert [(r.name, r.verdict) for r in result.group_rows] == [
        ("store", "FAIL"), ("discovery", "PASS")]
    assert result.totals == Tally(passed=10, failed=1)


def test_threshold_override_absorbs_a_miss() -> None:
    records = [rec(f"ST-{i}", "passed") for i in range(9)] + [rec("ST-9", "failed")]
    assert run(records, overrides={"store": 90}).exit_code == 0
    assert run(records, overrides={"store.sh": 91}).exit_code == 1


def test_off_prims_are_reported_never_gated() -> None:
    result = run([rec("I-1", "failed", prim="infer", status="hold")])
    assert result.prim_rows[0].verdict == "OFF" and result.prim_rows[0].threshold is None
    assert result.group_rows[0].verdict == "OFF"
    assert result.hard_failures == [] and result.soft_misses == []
    assert result.exit_code == 2 and result.verdict == "NOTHING VERIFIED"
    assert result.verdict_line == (
        "primgate: NOTHING VERIFIED — no gated item ran (1 selected: 1 of off prims)")
    gated = run([rec("I-1", "failed", prim="infer", status="hold"), rec("ST-1", "passed")])
    assert gated.exit_code == 0
    assert gated.verdict_line == "primgate: PASSED — 1 prim gated, all hard gates pass"


def test_unknown_prim_is_a_hard_gate() -> None:
    result = run([rec("X-1", "failed", prim="", status="")])
    assert result.exit_code == 1
    assert result.verdict_line == (
        "primgate: FAILED — (unknown prim) (live) 0.0 % < 100 %: failing plan.json::::X-1")


def test_skipped_stays_out_of_the_rate_blocked_fails_a_live_prim() -> None:
    records = [rec("ST-1", "passed", attempt_outcomes=("F", "P", "P")),
               rec("ST-2", "blocked", blocked_by="ST-9"), rec("ST-3", "skipped", reason="exit 77")]
    result = run(records)
    row = result.prim_rows[0]
    assert row.tally == Tally(passed=1, blocked=1, skipped=1, flaky=1)
    assert row.tally.pass_rate == 50.0 and row.verdict == "FAIL" and result.exit_code == 1
    assert result.verdict_line == (
        "primgate: FAILED — store (live) 50.0 % < 100 %: 1 item not verified (blocked by ST-9)")
    assert [r.test_id for r in result.loud_skips] == ["ST-3"]
    skipped_only = run([records[0], records[2]])
    assert skipped_only.prim_rows[0].tally.pass_rate == 100.0 and skipped_only.exit_code == 0


def test_blocked_live_prim_fails_whatever_its_threshold_and_whoever_blocked_it() -> None:
    records = [rec(f"ST-{i}", "passed") for i in range(9)]
    records.append(rec("ST-9", "blocked", blocked_by="F-1"))
    records.append(rec("F-1", "failed", prim="faucet", status="hold"))
    result = run(records, overrides={"store": 90.0})
    store = next(r for r in result.prim_rows if r.name == "store")
    assert store.rate_text == "90.0" and store.verdict == "FAIL"
    assert result.exit_code == 1 and result.verdict == "FAILED"
    assert result.verdict_line == (
        "primgate: FAILED — store (live): 1 item not verified (blocked by F-1)")


def test_blocked_items_count_as_not_passed_in_a_soft_rate() -> None:
    new = {"prim": "beta", "status": "building"}
    four = [rec(f"B-{i}", "passed", **new) for i in range(4)]
    ok = run([*four, rec("B-9", "blocked", blocked_by="B-0", **new)])
    assert ok.prim_rows[0].rate_text == "80.0" and ok.prim_rows[0].verdict == "PASS"
    warn = run([*four[:3], rec("B-8", "blocked", blocked_by="x", **new),
                rec("B-9", "not_run", **new), rec("ST-1", "passed")])
    assert warn.prim_rows[0].rate_text == "60.0" and warn.prim_rows[0].verdict == "WARN"
    assert warn.warnings == 1


def test_not_run_items_are_listed_and_make_it_exit_2() -> None:
    result = run([rec("ST-1", "passed"), rec("ST-2", "not_run", reason="no result")])
    assert result.exit_code == 2 and result.verdict == "INFRA ERROR"
    assert result.verdict_line == (
        "primgate: INFRA ERROR — 1 selected item(s) not run: plan.json::store::ST-2")
    assert result.prim_rows[0].verdict == "FAIL" and result.totals.not_run == 1


def test_interrupted_is_its_own_verdict() -> None:
    result = run([rec("ST-1", "passed"), rec("ST-2", "not_run")], interrupted=True)
    assert result.exit_code == 2 and result.verdict == "INTERRUPTED"
    assert result.verdict_line.startswith(
        "primgate: INTERRUPTED — 1 of 2 selected item(s) finished, 1 not run")


@pytest.mark.parametrize(("records", "text"), [
    ([], "no primgate items ran"),
    ([rec("ST-4", "blocked", blocked_by="ST-3")], "no gated item ran (1 selected: 1 blocked)"),
    ([rec("ST-4", "skipped"), rec("U-1", "unreachable", status="building")],
     "no gated item ran (2 selected: 1 skipped, 1 unreachable)"),
])
def test_nothing_verified_is_exit_2_unless_allowed(records: list[ItemRecord], text: str) -> None:
    result = run(records)
    assert result.exit_code == 2 and result.verdict == "NOTHING VERIFIED"
    assert result.verdict_line.startswith("primgate: NOTHING VERIFIED — " + text)
    if not any(r.outcome == "blocked" for r in records):
        allowed = run(records, allow_empty=True)
        assert allowed.exit_code == 0 and allowed.verdict == "PASSED"
        assert allowed.verdict_line == (
            "primgate: PASSED — nothing verified (allowed by --primgate-allow-empty)")


def test_other_failures_and_grow_only_removals_fail_the_verdict() -> None:
    other = run([rec("ST-1", "passed")], other_failures=2)
    assert other.exit_code == 1 and other.verdict_line == "primgate: FAILED — 2 other tests failed"
    grow = run([rec("ST-1", "passed")], grow_only_removed=["smoke/manifest.toml::gone"])
    assert grow.exit_code == 1
    assert grow.verdict_line == "primgate: FAILED — grow-only: removed smoke/manifest.toml::gone"


def test_unreachable_live_prim_is_an_infra_error_unless_allowed() -> None:
    records = [rec("SE-1", "unreachable", prim="search", reason="connection refused")]
    result = run(records)
    assert result.exit_code == 2 and result.verdict == "INFRA ERROR"
    assert result.prim_rows[0].verdict == "FAIL" and result.prim_rows[0].rate_text == "—"
    assert result.verdict_line == (
        "primgate: INFRA ERROR — live prim search unreachable (plan.json::search::SE-1); "
        "also FAILED: search (live): unreachable plan.json::search::SE-1")
    allowed = run([*records, rec("ST-1", "passed")], allow_unreachable=True)
    assert allowed.exit_code == 0 and allowed.infra == []
    assert [r.test_id for r in allowed.unreachable] == ["SE-1"]
    assert allowed.prim_rows[0].verdict == "PASS" and allowed.prim_rows[0].name == "search"


def test_unreachable_new_prim_warns_without_infra_error() -> None:
    result = run([rec("B-1", "unreachable", prim="beta", status="building"),
                  rec("ST-1", "passed")])
    assert result.exit_code == 0 and result.infra == []
    assert result.prim_rows[0].verdict == "WARN" and len(result.unreachable) == 1


def test_infra_wins_over_regression_and_both_are_named() -> None:
    result = run([rec("ST-1", "failed")], infra=["wallet could not be funded: faucet 500"])
    assert result.exit_code == 2
    assert result.verdict_line == (
        "primgate: INFRA ERROR — wallet could not be funded: faucet 500; also FAILED: "
        "store (live) 0.0 % < 100 %: failing plan.json::store::ST-1")


def test_collection_errors_count_as_infra() -> None:
    result = run([], collection_errors=2)
    assert result.exit_code == 2 and result.infra == ["2 collection error(s)"]
    assert result.verdict_line == "primgate: INFRA ERROR — 2 collection error(s)"
    named = run([], collection_errors=1, infra=["collection error in a.json: bad", "x"])
    assert named.infra == ["collection error in a.json: bad", "x"]
    assert named.verdict_line == "primgate: INFRA ERROR — collection error in a.json: bad (+1 more)"


def test_many_failures_are_abbreviated() -> None:
    result = run([rec(f"ST-{i}", "failed") for i in range(5)])
    assert result.verdict_line.endswith(
        "ST-0, plan.json::store::ST-1, plan.json::store::ST-2, +2 more")


def test_no_items_is_nothing_verified() -> None:
    result = run([])
    assert result.exit_code == 2
    assert result.verdict_line == "primgate: NOTHING VERIFIED — no primgate items ran"


@pytest.mark.parametrize(("passed", "total", "threshold", "ok", "line"), [
    (9, 10, 90.0, True, "holdout gate: PASSED 9/10 scenarios (90 %, threshold 90 %)"),
    (8, 10, 90.0, False, "holdout gate: FAILED 8/10 scenarios (80 %, threshold 90 %)"),
    (7, 8, 90.0, False, "holdout gate: FAILED 7/8 scenarios (87.5 %, threshold 90 %)"),
    (8, 8, 90.0, True, "holdout gate: PASSED 8/8 scenarios (100 %, threshold 90 %)"),
    (2, 3, 66.6, True, "holdout gate: PASSED 2/3 scenarios (66.6 %, threshold 66.6 %)"),
    (0, 0, 90.0, False, "holdout gate: FAILED 0/0 scenarios (—, threshold 90 %)"),
])
def test_holdout_verdict(passed: int, total: int, threshold: float, ok: bool, line: str) -> None:
    assert holdout_verdict(passed, total, threshold) == (ok, line)


def test_unreachable_item_of_a_passing_live_prim_still_misses() -> None:
    records = [rec("H-1", "passed", prim="search", group="discovery"),
               rec("SE-1", "unreachable", prim="search", group="search")]
    result = run(records)
    assert [(r.name, r.verdict) for r in result.group_rows] == [
        ("discovery", "PASS"), ("search", "FAIL")]
    assert result.prim_rows[0].verdict == "FAIL" and result.hard_failures == []
    assert result.exit_code == 2
    assert result.verdict_line.endswith(
        "also FAILED: search (live): unreachable plan.json::search::SE-1")
    allowed = run(records, allow_unreachable=True)
    assert [r.verdict for r in allowed.group_rows] == ["PASS", "PASS"]
    assert allowed.exit_code == 0


def test_a_failure_within_the_threshold_is_not_a_hard_failure() -> None:
    records = [rec(f"ST-{i}", "passed") for i in range(9)] + [rec("ST-9", "failed")]
    result = run(records, overrides={"store": 90})
    assert result.prim_rows[0].verdict == "PASS" and result.group_rows[0].verdict == "PASS"
    assert result.hard_failures == [] and result.exit_code == 0
