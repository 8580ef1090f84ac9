"""GitHub Actions output: markdown summary, annotations and their escaping, step summary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_primgate.report import github
from pytest_primgate.report.github import (
    command,
    escape_data,
    escape_property,
    step_summary_markdown,
    write_step_summary,
)
from tests.test_gate import rec, run
from tests.test_report_terminal import pay, sample


def test_escaping_follows_the_actions_toolkit() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert command("warning", "hi") == "::warning::hi"
    assert command("error", "x: y", title="t: 1, 2") == "::error title=t%3A 1%2C 2::x: y"


def test_annotations_for_hard_and_soft_misses() -> None:
    result = run([
        rec("ST-1", "passed"),
        rec("ST-2", "failed", reason="expected 200, got 500.\nBody: {\"error\": 1}"),
        rec("B-1", "failed", prim="beta", status="testing", reason="shape mismatch: $.id"),
    ])
    assert github.annotations(result) == [
        "::error title=primgate FAIL store (live),file=plan.json::plan.json::store::ST-2 failed: "
        "expected 200, got 500.%0ABody: {\"error\": 1} "
        "(store is live: pass rate 50.0 %25 < 100 %25)",
        "::warning title=primgate WARN beta (new),file=plan.json::plan.json::beta::B-1 failed: "
        "shape mismatch: $.id (beta is testing: pass rate 0.0 %25 < 80 %25)",
    ]


def test_annotations_for_infra_errors() -> None:
    result = run([rec("SE-1", "unreachable", prim="search")])
    assert github.annotations(result) == [
        "::error title=primgate infra error::live prim search unreachable (plan.json::search::SE-1)"
    ]
    assert github.annotations(run([rec("ST-1", "passed")])) == []


def test_markdown_summary() -> None:
    md = step_summary_markdown(sample(), [pay("plan.json::store::ST-1", "50000")], "primgate gate")
    lines = md.splitlines()
    assert lines[:3] == [
        "## primgate gate", "",
        "**primgate: FAILED — store (live) 90.0 % < 100 %: failing plan.json::store::ST-2**",
    ]
    assert lines[4] == ("|  | name | status | passed | failed | blocked | skipped | unreachable "
                        "| flaky | retries | rate % | threshold % | verdict |")
    assert lines[5] == "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    assert "| prim | store | live | 9 | 1 | 0 | 0 | 0 | 0 | 0 | 90.0 | 100 | ❌ FAIL |" in lines
    assert "| prim | infer | testing | 1 | 0 | 0 | 1 | 0 | 1 | 0 | 100.0 | 80 | ✅ PASS |" in lines
    assert "| **total** |  |  | 11 | 1 | 1 | 1 | 0 | 1 | 0 | 84.6 |  |  |" in lines
    hard = lines.index("### Hard failures (block the merge)")
    assert lines[hard + 2] == (
        "- `plan.json::store::ST-2`: shape mismatch: $.buckets: expected array")
    skips = lines.index("### Unreachable / skipped — not a pass")
    assert lines[skips + 2] == "- `plan.json::infer::INF-T2`: exit 77: no GPU"
    assert lines[-1] == "paid 0.05 USDC in 1 payment on eip155:84532"
    assert md.endswith("\n")


def test_markdown_escapes_table_breakers() -> None:
    result = run([rec("ST-1", "failed", reason="a | b\nc")])
    md = step_summary_markdown(result, [], "t")
    assert "- `plan.json::store::ST-1`: a \\| b c" in md.splitlines()


def test_write_step_summary_appends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    assert write_step_summary("## one") == target
    assert write_step_summary("## two\n") == target
    assert target.read_text(encoding="utf-8") == "earlier step\n## one\n## two\n"
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert write_step_summary("## three") is None
