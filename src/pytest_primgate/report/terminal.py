"""Terminal lines: the gate table, the loud-SKIP banner, the spend line, the dry-run listing.

Plain strings without colour codes; the plugin writes them through the terminal reporter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from pytest_primgate.gate import GateResult, Row, Tally, format_percent, format_rate, prim_label
from pytest_primgate.model import ItemRecord, Payment

USDC_DECIMALS = 6
COUNT_COLUMNS = ("passed", "failed", "blocked", "skipped", "unreachable", "flaky", "retries")
HEADER = ("", "name", "status", *COUNT_COLUMNS, "rate %", "threshold %", "verdict")
RIGHT = frozenset(range(3, 3 + len(COUNT_COLUMNS) + 2))
"""Columns aligned right (counts and percentages)."""
DRY_RUN_HEADER = ("group", "id", "method", "url / script", "prim", "status", "threshold %")


COMPACT = {
    "passed": "pass", "failed": "fail", "blocked": "blkd", "skipped": "skip",
    "unreachable": "unr", "flaky": "flky", "rate %": "rate%", "threshold %": "thr%",
}
"""Header abbreviations of the compact layout (a column without one keeps its name)."""
COMPACT_LEGEND = "pass/fail/blkd/skip/unr/flky = passed/failed/blocked/skipped/unreachable/flaky"
ELLIPSIS = "…"


def _table(
    rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset(), sep: str = "  "
) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append(sep.join(cells).rstrip())
    return lines


def fit_line(line: str, width: int | None) -> str:
    """``line`` cut to ``width`` columns with an ellipsis (None: unchanged)."""
    if width is None or len(line) <= width:
        return line
    return line[: max(width - 1, 0)] + ELLIPSIS


def _fit_table(
    rows: list[list[str]], right: frozenset[int], width: int | None, squeeze: int
) -> tuple[list[str], bool]:
    """The full table when it fits; else abbreviated headers, single spaces, and column
    ``squeeze`` (the names) shortened with an ellipsis until the table fits. Returns the lines
    and whether the compact layout was used."""
    lines = _table(rows, right)
    if width is None or max(len(line) for line in lines) <= width:
        return lines, False
    rows = [[COMPACT.get(cell, cell) for cell in rows[0]], *rows[1:]]
    lines = _table(rows, right, sep=" ")
    excess = max(len(line) for line in lines) - width
    if excess > 0:
        longest = max(len(row[squeeze]) for row in rows)
        keep = max(longest - excess, 4)
        for row in rows:
            if len(row[squeeze]) > keep:
                row[squeeze] = row[squeeze][: keep - 1] + ELLIPSIS
        lines = _table(rows, right, sep=" ")
    return [fit_line(line, width) for line in lines], True


def _wrap_entry(head: str, tail: str, width: int | None) -> list[str]:
    """``head: tail`` on one line when it fits, else ``tail`` indented on a second line."""
    line = f"{head}: {tail}"
    if width is None or len(line) <= width:
        return [line]
    return [fit_line(head + ":", width), fit_line("      " + tail, width)]


def _counts(tally: Tally) -> list[str]:
    return [str(getattr(tally, name)) for name in COUNT_COLUMNS]


def _row_cells(row: Row) -> list[str]:
    name = prim_label(row.name) if row.kind == "prim" else row.name
    status = (row.status or "unknown") if row.kind == "prim" else ""
    return [
        row.kind, name, status, *_counts(row.tally), row.rate_text,
        format_percent(row.threshold) if row.kind == "prim" else "", row.verdict_text,
    ]


def usdc_total(payments: Sequence[Payment]) -> Decimal:
    """Exact sum of the payments' atomic amounts, in USDC."""
    atomic = sum((Decimal(p.amount) for p in payments), Decimal(0))
    return atomic.scaleb(-USDC_DECIMALS)


def format_usdc(amount: Decimal) -> str:
    """USDC with at least two decimals and no trailing zeros beyond them: 0.34, 0.005, 1.00."""
    text = format(amount.normalize(), "f")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def spend_line(payments: Sequence[Payment], network: str | None) -> str:
    """``paid 0.34 USDC in 27 payments (2 unconfirmed) on eip155:84532``: every authorization
    handed out counts; those without a settlement proof are unconfirmed (said when any)."""
    if network is None:
        networks = sorted({p.network for p in payments if p.network})
        network = ", ".join(networks) or None
    count = len(payments)
    noun = "payment" if count == 1 else "payments"
    line = f"paid {format_usdc(usdc_total(payments))} USDC in {count} {noun}"
    unconfirmed = sum(1 for p in payments if p.settlement != "settled")
    if unconfirmed:
        line += f" ({unconfirmed} unconfirmed)"
    return f"{line} on {network}" if network else line


def banner_lines(items: Sequence[ItemRecord], width: int | None = None) -> list[str]:
    """The loud banner: unreachable and skipped items are never a pass."""
    if not items:
        return []
    lines = [f"!!! {len(items)} UNREACHABLE / SKIPPED — not a pass:"]
    for r in items:
        lines.extend(_wrap_entry(f"  {r.nodeid}", r.reason or r.outcome, width))
    return lines


def summary_lines(
    result: GateResult, *, payments: Sequence[Payment], network: str | None,
    verdict: bool = True, width: int | None = None,
) -> list[str]:
    """The gate table (groups, prims, totals), banner, spend line and (last) the verdict line.

    With ``width`` (the terminal's columns) every line fits it: a table too wide for it gets
    the compact layout (abbreviated headers and a legend) and long banner entries wrap. The
    verdict line is one line and never cut (it names the failing items). ``None`` keeps the
    full layout.
    """
    rows: list[list[str]] = [list(HEADER)]
    rows.extend(_row_cells(row) for row in result.group_rows)
    rows.extend(_row_cells(row) for row in result.prim_rows)
    rows.append(["total", "", "", *_counts(result.totals), format_rate(result.totals.rate),
                 *[""] * (len(HEADER) - 4 - len(COUNT_COLUMNS))])
    lines, compact = _fit_table(rows, RIGHT, width, squeeze=1)
    if compact:
        lines.append(fit_line(COMPACT_LEGEND, width))
    lines.extend(banner_lines([*result.unreachable, *result.loud_skips], width))
    for line in result.infra:
        lines.extend(_wrap_entry("infra error", line, width))
    lines.append(spend_line(payments, network))
    if verdict:
        lines.append(result.verdict_line)
    return lines


@dataclass(frozen=True)
class DryRunRow:
    """What one selected item would do under ``--primgate-dry-run``."""

    group: str
    id: str
    method: str
    target: str
    """URL after base-URL rewriting, or ``bash <script>`` for scenarios."""
    prim: str
    status: str
    threshold: float | None


def dry_run_lines(rows: Sequence[DryRunRow], width: int | None = None) -> list[str]:
    """Aligned listing of what would run, and a count; nothing is sent.

    When the table is wider than ``width``, the URL / script column moves to a second line
    under each row (never cut: it is what will be requested).
    """
    table = [list(DRY_RUN_HEADER)]
    table.extend(
        [r.group, r.id, r.method, r.target, r.prim, r.status or "unknown",
         format_percent(r.threshold) if r.threshold is not None else "off"]
        for r in rows
    )
    lines = _table(table, frozenset({6}))
    if width is not None and max(len(line) for line in lines) > width:
        narrow = [[COMPACT.get(c, c) for i, c in enumerate(row) if i != 3] for row in table]
        short = _table(narrow, frozenset({5}), sep=" ")
        lines = [fit_line(short[0], width), "    url / script"]
        for row, line in zip(rows, short[1:], strict=True):
            lines += [fit_line(line, width), f"    {row.target}"]
    noun = "item" if len(rows) == 1 else "items"
    lines.append(f"{len(rows)} {noun} would run")
    return lines
