"""Canary results on the controller: records from reports, terminal rows, the gate's part."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from pytest_primgate import records as rp
from pytest_primgate.session import PrimgateSession

HEADER = ("", "group", "prim", "verdict", "steps ok", "rounds", "stopped", "first failing step")


def canary_from_report(
    session: PrimgateSession, report: pytest.TestReport, props: Mapping[str, Any]
) -> None:
    """Keep the final report of a canary item (the call, or a setup that did not pass)."""
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return
    raw = props.get(rp.CANARY)
    data: dict[str, Any] = json.loads(raw) if isinstance(raw, str) and raw else {}
    if not data:
        known = props.get(rp.CANARY_VERDICT) or {"passed": "pass", "warn": "warn"}.get(
            str(props.get(rp.OUTCOME)), "error")
        data = {"group": props.get(rp.GROUP, ""), "verdict": known, "steps": [],
                "ux_notes": [], "agent_summary": None, "rounds": 0, "stopped": "setup error",
                "error": (str(props[rp.INFRA_ERROR]) if props.get(rp.INFRA_ERROR)
                          else None if props.get(rp.OUTCOME)
                          else f"item did not run: {report.outcome}"),
                "model": "", "prim_home": None, "vps": None}
    entry = {
        "nodeid": report.nodeid,
        "prim": str(props.get(rp.PRIM, "")),
        "prim_status": str(props.get(rp.PRIM_STATUS, "")),
        "status_class": str(props.get(rp.STATUS_CLASS, "live")),
        "outcome": str(props.get(rp.OUTCOME, "failed")),
        "reason": str(props.get(rp.REASON, "")),
        **data,
    }
    session.canary_results.append(entry)
    session.payments.extend(rp.payments_from_prop(props.get(rp.PAYMENTS)))


def _first_failing(steps: Sequence[Mapping[str, Any]]) -> str:
    for step in steps:
        if not step.get("ok"):
            if step.get("tool") == "shell_exec":
                return f"{step.get('command')} (exit {step.get('exit_code')})"
            what = step.get("status") if step.get("status") is not None else step.get("note")
            return f"{step.get('method')} {step.get('url')} ({what})"
    return ""


def canary_lines(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """A canary row per group (aligned), then each group's UX notes and errors."""
    if not results:
        return []
    rows = [list(HEADER)]
    for r in results:
        steps = r.get("steps") or []
        ok = sum(1 for s in steps if s.get("ok"))
        rows.append([
            "canary", str(r.get("group", "")), str(r.get("prim") or "-"), str(r.get("verdict")),
            f"{ok}/{len(steps)}", str(r.get("rounds", 0)), str(r.get("stopped", "")),
            _first_failing(steps),
        ])
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]
    for r in results:
        if r.get("verdict") != "pass":
            lines.append(f"canary {r.get('group')}: {r.get('reason')}")
        lines.extend(f"canary {r.get('group')}: ux: {note}" for note in r.get("ux_notes") or [])
    return lines


def canary_misses(results: Sequence[Mapping[str, Any]]) -> list[str]:
    """``group (verdict)`` of the canaries that fail the gate (a fail or error, prim live)."""
    return [f"{r.get('group')} ({r.get('verdict')})" for r in results
            if r.get("outcome") == "failed"]


def canary_warnings(results: Sequence[Mapping[str, Any]]) -> int:
    """How many canaries are soft misses (warn, or a non-live prim's fail/error)."""
    return sum(1 for r in results if r.get("outcome") == "warn")


def canary_section(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The results file's ``canary`` section: every group and the verdict counts."""
    counts = {v: sum(1 for r in results if r.get("verdict") == v)
              for v in ("pass", "warn", "fail", "error")}
    return {"groups": [dict(r) for r in results],
            "summary": {"total_groups": len(results), **counts}}


def verdict_line(line: str, results: Sequence[Mapping[str, Any]], plan_items: bool) -> str:
    """The run's verdict line with the canaries' part: misses fail it, warnings are counted."""
    misses = canary_misses(results)
    warns = canary_warnings(results)
    if misses:
        text = "canary " + ", ".join(misses)
        if line.startswith("primgate: PASSED"):
            return f"primgate: FAILED — {text}"
        return f"{line}; also FAILED: {text}"
    if not plan_items and line.startswith("primgate: PASSED"):
        line = f"primgate: PASSED — {len(results)} canary group(s), none failed"
    if warns:
        line += f" (canary: {warns} warn)"
    return line
