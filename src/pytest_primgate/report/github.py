"""GitHub Actions output: the markdown summary (step summary, PR comment) and annotations.

No ``from __future__ import annotations`` here: it would shadow the public ``annotations()``
function (the annotations below need no postponed evaluation on Python >= 3.11).
"""

import os
from collections.abc import Sequence
from pathlib import Path

from pytest_primgate.gate import (
    GateResult,
    Row,
    format_percent,
    format_rate,
    prim_label,
    unstable_text,
)
from pytest_primgate.model import ItemRecord, Payment
from pytest_primgate.report.terminal import COUNT_COLUMNS, spend_line

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
MD_HEADER = ("", "name", "status", *COUNT_COLUMNS, "rate %", "threshold %", "verdict")
VERDICT_ICON = {"PASS": "✅ PASS", "FAIL": "❌ FAIL", "WARN": "⚠️ WARN", "OFF": "OFF"}


def escape_data(text: str) -> str:
    """Escape a workflow command's message (``%``, CR, LF), as actions/toolkit does."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (also ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: str) -> str:
    """One workflow command line: ``::kind key=value,...::message``."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    head = f"{kind} {props}" if props else kind
    return f"::{head}::{escape_data(message)}"


def _file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def _row_of(result: GateResult, prim: str) -> Row | None:
    return next((row for row in result.prim_rows if row.name == prim), None)


def _miss_message(record: ItemRecord, row: Row | None) -> str:
    message = f"{record.nodeid} failed: {record.reason or 'failed'}"
    if row is not None:
        message += (
            f" ({prim_label(row.name)} is {row.status or 'unknown'}: pass rate "
            f"{row.rate_text} % < {format_percent(row.threshold)} %)"
        )
    return message


def annotations(result: GateResult) -> list[str]:
    """``::error`` for hard misses and infra errors, ``::warning`` for soft misses."""
    lines: list[str] = []
    for record in result.hard_failures:
        lines.append(command(
            "error", _miss_message(record, _row_of(result, record.prim)),
            title=f"primgate FAIL {prim_label(record.prim)} ({record.status_class})",
            file=_file_of(record.nodeid),
        ))
    for record in result.soft_misses:
        lines.append(command(
            "warning", _miss_message(record, _row_of(result, record.prim)),
            title=f"primgate WARN {prim_label(record.prim)} ({record.status_class})",
            file=_file_of(record.nodeid),
        ))
    for row in result.prim_rows:
        if row.unstable:
            kind = "error" if row.verdict == "FAIL" else "warning"
            lines.append(command(
                kind, f"{prim_label(row.name)} ({row.status_class}) {unstable_text(row)}",
                title=f"primgate {row.verdict} UNSTABLE {prim_label(row.name)}",
            ))
    lines.extend(command("error", line, title="primgate infra error") for line in result.infra)
    return lines


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text.replace('`', chr(39))}`"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _row_cells(row: Row) -> list[str]:
    tally = row.tally
    counts = [str(getattr(tally, name)) for name in COUNT_COLUMNS]
    is_prim = row.kind == "prim"
    return [
        row.kind, prim_label(row.name) if is_prim else row.name,
        (row.status or "unknown") if is_prim else "", *counts, row.rate_text,
        format_percent(row.threshold) if is_prim else "",
        VERDICT_ICON[row.verdict] + (" UNSTABLE" if row.unstable else ""),
    ]


def _item_lines(records: Sequence[ItemRecord]) -> list[str]:
    return [f"- {_code(r.nodeid)}: {_cell(r.reason or r.outcome)}" for r in records]


def step_summary_markdown(result: GateResult, payments: Sequence[Payment], title: str) -> str:
    """The gate as markdown: verdict, table, failing items, loud skips, infra, spend."""
    lines = [f"## {title}", "", f"**{_cell(result.verdict_line)}**", ""]
    lines.append(_md_row(MD_HEADER))
    numeric = range(3, 5 + len(COUNT_COLUMNS))
    lines.append("|" + "|".join("---:" if i in numeric else "---" for i in range(len(MD_HEADER)))
                 + "|")
    lines.extend(_md_row(_row_cells(row)) for row in [*result.group_rows, *result.prim_rows])
    totals = [str(getattr(result.totals, name)) for name in COUNT_COLUMNS]
    lines.append(_md_row(["**total**", "", "", *totals, format_rate(result.totals.rate), "", ""]))
    sections = (
        ("Hard failures (block the merge)", result.hard_failures),
        ("Soft misses (warnings)", result.soft_misses),
        ("Unreachable / skipped — not a pass", [*result.unreachable, *result.loud_skips]),
    )
    for heading, records in sections:
        if records:
            lines.extend(["", f"### {heading}", "", *_item_lines(records)])
    if result.infra:
        lines.extend(["", "### Infrastructure errors", ""])
        lines.extend(f"- {_cell(line)}" for line in result.infra)
    lines.extend(["", spend_line(payments, None), ""])
    return "\n".join(lines)


def write_step_summary(markdown: str, path: str | None = None) -> Path | None:
    """Append to ``$GITHUB_STEP_SUMMARY`` (or ``path``); None when there is nowhere to write."""
    target = path or os.environ.get(STEP_SUMMARY_ENV)
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return Path(target)
