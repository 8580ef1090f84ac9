"""The UNSTABLE rule: retry rate per prim, its floor, and where it shows (pure, no network)."""

from __future__ import annotations

import dataclasses

from pytest_primgate.gate import GateResult, evaluate, resolve_gate
from pytest_primgate.model import ItemRecord
from pytest_primgate.report import github
from pytest_primgate.report.results import RunMeta, build_results, validate_results
from pytest_primgate.report.terminal import summary_lines
from tests.test_gate import rec


def items(prim: str, status: str, n: int, retried: int) -> list[ItemRecord]:
    """``n`` passed items of one request each, the first ``retried`` of them retried once."""
    return [
        rec(f"{prim}-{i}", "passed", prim=prim, status=status, requests=1,
            retried_requests=int(i < retried), retries=int(i < retried),
            retry_log=(f"GET http://h/{i}: 503 (waited 0.10 s)",) if i < retried else ())
        for i in range(n)
    ]


def gate(records: list[ItemRecord], max_rate: float | None = 20.0) -> GateResult:
    gates = {
        r.prim: dataclasses.replace(resolve_gate(r.prim, r.prim_status, None, {}),
                                    max_retry_rate=max_rate)
        for r in records
    }
    return evaluate(records, gates)


def test_live_prim_above_the_rate_fails_unstable() -> None:
    result = gate(items("store", "live", 9, 3))
    row = result.prim_rows[0]
    assert row.unstable and row.verdict == "FAIL" and row.verdict_text == "FAIL UNSTABLE"
    assert result.exit_code == 1
    assert result.verdict_line == (
        "primgate: FAILED — store (live): UNSTABLE 33.3 % of requests retried > 20 % (3 of 9)"
    )
    assert row.tally.retry_rate is not None and float(row.tally.retry_rate) == 100 / 3


def test_at_the_rate_passes_with_the_retries_on_record() -> None:
    result = gate(items("store", "live", 15, 3))
    row = result.prim_rows[0]
    assert not row.unstable and row.verdict == "PASS" and result.exit_code == 0
    assert row.tally.retries == 3 and row.tally.requests == 15
    assert "UNSTABLE" not in result.verdict_line


def test_fewer_than_three_retried_requests_are_noise() -> None:
    result = gate(items("wallet", "live", 2, 2))
    assert not result.prim_rows[0].unstable and result.exit_code == 0


def test_new_prim_warns_off_prim_never_gated() -> None:
    result = gate(items("search", "testing", 4, 4) + items("legacy", "hold", 4, 4))
    rows = {r.name: r for r in result.prim_rows}
    assert rows["search"].verdict_text == "WARN UNSTABLE" and result.exit_code == 0
    assert rows["legacy"].verdict == "OFF" and not rows["legacy"].unstable
    assert result.verdict_line == (
        "primgate: PASSED — 1 prim gated, all hard gates pass (1 warning); "
        "search (new) UNSTABLE 100.0 % of requests retried > 20 % (4 of 4)"
    )


def test_no_limit() -> None:
    assert not gate(items("store", "live", 4, 4), max_rate=None).prim_rows[0].unstable


def test_unstable_in_table_annotations_and_results() -> None:
    records = items("store", "live", 9, 3)
    result = gate(records)
    lines = summary_lines(result, payments=[], network=None)
    row = next(line for line in lines if line.startswith("prim "))
    assert row.split()[-1] == "UNSTABLE" and row.split()[-2] == "FAIL"
    assert row.split()[9] == "3", "retries column"
    assert github.annotations(result) == [
        "::error title=primgate FAIL UNSTABLE store::store (live) UNSTABLE 33.3 %25 of requests "
        "retried > 20 %25 (3 of 9)"
    ]
    data = build_results(records=records, result=result, payments=[],
                         meta=RunMeta(plugin_version="0", mode="ci"))
    assert validate_results(data) == []
    prim = data["prims"][0]
    assert (prim["unstable"], prim["max_retry_rate"], prim["retries"]) == (True, 20.0, 3)
    assert data["tests"][0]["retry_log"] == ["GET http://h/0: 503 (waited 0.10 s)"]
    assert data["totals"]["retried_requests"] == 3
