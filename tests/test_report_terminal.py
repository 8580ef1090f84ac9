"""Terminal lines: table, loud-SKIP banner, spend line, verdict line, dry-run listing."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from pytest_primgate.gate import GateResult
from pytest_primgate.model import ItemRecord, Payment
from pytest_primgate.report.terminal import (
    DryRunRow,
    dry_run_lines,
    format_usdc,
    spend_line,
    summary_lines,
    usdc_total,
)
from tests.test_gate import rec, run

NET = "eip155:84532"


def pay(test_id: str, amount: str) -> Payment:
    return Payment(test_id=test_id, amount=amount,
                   asset="0x036CbD53842c5426634e7929541eC2318f3dCF7e", network=NET,
                   pay_to="0x" + "ab" * 20, transaction="0x" + "01" * 32,
                   payer="0x" + "cd" * 20, settlement="settled")


def sample_records() -> list[ItemRecord]:
    """A realistic run: a live regression, a flaky pass, a loud skip, a block, an off prim."""
    records = [rec("H-1", "passed", prim="search", group="discovery"),
               rec("H-2", "passed", prim="store", group="discovery")]
    records += [rec(f"ST-{i}", "passed") for i in (1, 3, 4, 5, 6, 7, 8, 9)]
    records.append(rec("ST-2", "failed", reason="shape mismatch: $.buckets: expected array"))
    records += [
        rec("INF-T1", "passed", prim="infer", status="testing", attempt_outcomes=("F", "P", "P")),
        rec("INF-T2", "skipped", prim="infer", status="testing", reason="exit 77: no GPU"),
        rec("E-1", "blocked", prim="email", status="hold", blocked_by="W-1",
            reason="blocked by W-1"),
    ]
    return records


def sample() -> GateResult:
    return run(sample_records())


def test_table_rows_totals_and_verdict_last() -> None:
    payments = [pay("plan.json::store::ST-1", "50000")] * 6 + [pay("x", "40000")]
    lines = summary_lines(sample(), payments=payments, network=NET)
    assert lines[0].split() == ["name", "status", "passed", "failed", "blocked", "skipped",
                                "unreachable", "flaky", "retries", "rate", "%", "threshold", "%",
                                "verdict"]
    cells = {tuple(line.split()[:2]): line.split()[2:] for line in lines[1:9]}
    assert cells[("group", "store")] == ["8", "1", "0", "0", "0", "0", "0", "88.8", "FAIL"]
    assert cells[("prim", "store")] == ["live", "9", "1", "0", "0", "0", "0", "0", "90.0", "100",
                                        "FAIL"]
    assert cells[("prim", "infer")] == ["testing", "1", "0", "0", "1", "0", "1", "0", "100.0",
                                        "80", "PASS"]
    assert cells[("prim", "email")] == ["hold", "0", "0", "1", "0", "0", "0", "0", "0.0", "—",
                                        "OFF"]
    assert cells[("group", "email")] == ["0", "0", "1", "0", "0", "0", "0", "0.0", "OFF"]
    assert lines[9].split() == ["total", "11", "1", "1", "1", "0", "1", "0", "84.6"]
    col = lines[0].index("verdict")
    assert all(line[col - 1] == " " and line[col:] in ("PASS", "FAIL", "WARN", "OFF")
               for line in lines[1:9]), "verdicts are aligned in one column"
    assert lines[-3:] == [
        "  plan.json::infer::INF-T2: exit 77: no GPU",
        "paid 0.34 USDC in 7 payments on eip155:84532",
        "primgate: FAILED — store (live) 90.0 % < 100 %: failing plan.json::store::ST-2",
    ]
    assert lines[-4] == "!!! 1 UNREACHABLE / SKIPPED — not a pass:"
    assert not any("\x1b[" in line for line in lines)


def test_banner_lists_unreachable_and_skipped_with_reasons() -> None:
    result = run([rec("SE-1", "unreachable", prim="search", reason="connection refused"),
                  rec("X-1", "skipped", reason="exit 77: needs docker")], allow_unreachable=True)
    lines = summary_lines(result, payments=[], network=None, verdict=False)
    start = lines.index("!!! 2 UNREACHABLE / SKIPPED — not a pass:")
    assert lines[start + 1:] == [
        "  plan.json::search::SE-1: connection refused",
        "  plan.json::store::X-1: exit 77: needs docker",
        "paid 0.00 USDC in 0 payments",
    ]


def test_infra_errors_are_listed() -> None:
    lines = summary_lines(run([], infra=["wallet could not be funded: faucet returned 500"]),
                          payments=[], network=None)
    assert "infra error: wallet could not be funded: faucet returned 500" in lines
    assert lines[-1] == "primgate: INFRA ERROR — wallet could not be funded: faucet returned 500"


def test_spend_is_summed_exactly() -> None:
    payments = [pay("a", "1")] * 3 + [pay("b", "100000")] * 3
    assert usdc_total(payments) == Decimal("0.300003")
    assert spend_line(payments, None) == "paid 0.300003 USDC in 6 payments on eip155:84532"
    assert spend_line([pay("a", "1000000")], NET) == "paid 1.00 USDC in 1 payment on eip155:84532"
    assert format_usdc(Decimal("0.1") + Decimal("0.2")) == "0.30"
    assert format_usdc(Decimal("12")) == "12.00"
    assert format_usdc(Decimal("0.005")) == "0.005"


def test_dry_run_lines() -> None:
    rows = [
        DryRunRow("infer", "INF-T1", "POST", "http://127.0.0.1:8080/infer/v1/chat", "infer",
                  "testing", 80.0),
        DryRunRow("store (pulled in as dependency)", "F-1", "POST",
                  "http://127.0.0.1:8080/faucet/v1/faucet/usdc", "faucet", "live", 100.0),
        DryRunRow("smoke", "lint-clean", "RUN", "bash smoke/lint.sh", "-", "", 100.0),
        DryRunRow("email", "E-1", "GET", "https://email.prim.sh/v1/x", "email", "hold", None),
    ]
    lines = dry_run_lines(rows)
    assert lines[0].split() == ["group", "id", "method", "url", "/", "script", "prim", "status",
                                "threshold", "%"]
    assert lines[1].split() == ["infer", "INF-T1", "POST", "http://127.0.0.1:8080/infer/v1/chat",
                                "infer", "testing", "80"]
    assert lines[2].split()[-3:] == ["faucet", "live", "100"]
    assert lines[3].split() == ["smoke", "lint-clean", "RUN", "bash", "smoke/lint.sh", "-",
                                "unknown", "100"]
    assert lines[4].split()[-1] == "off"
    assert lines[-1] == "4 items would run"
    assert lines[1].index("INF-T1") == lines[3].index("lint-clean") == lines[0].index("id")
    assert dry_run_lines([])[-1] == "0 items would run"


def test_spend_line_counts_unconfirmed_payments() -> None:
    settled = pay("a", "300000")
    unsettled = dataclasses.replace(pay("b", "300000"), settlement="unsettled")
    contradicting = dataclasses.replace(pay("c", "10000"), settlement="contradicting")
    assert spend_line([settled, unsettled, contradicting], NET) == (
        "paid 0.61 USDC in 3 payments (2 unconfirmed) on eip155:84532"
    )
    assert spend_line([], None) == "paid 0.00 USDC in 0 payments"
