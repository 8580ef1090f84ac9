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


def _table(rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


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
    """``paid 0.34 USDC in 27 payments on eip155:84532``."""
    if network is None:
        networks = sorted({p.network for p in payments if p.network})
        network = ", ".join(networks) or None
    count = len(payments)
    noun = "payment" if count == 1 else "payments"
    line = f"paid {format_usdc(usdc_total(payments))} USDC in {count} {noun}"
    return f"{line} on {network}" if network else line


def banner_lines(items: Sequence[ItemRecord]) -> list[str]:
    """The loud banner: unreachable and skipped items are never a pass."""
    if not items:
        return []
    lines = [f"!!! {len(items)} UNREACHABLE / SKIPPED — not a pass:"]
    lines.extend(f"  {r.nodeid}: {r.reason or r.outcome}" for r in items)
    return lines


def summary_lines(
    result: GateResult, *, payments: Sequence[Payment], network: str | None,
    verdict: bool = True,
) -> list[str]:
    """The gate table (groups, prims, totals), banner, spend line and (last) the verdict line."""
    rows: list[list[str]] = [list(HEADER)]
    rows.extend(_row_cells(row) for row in result.group_rows)
    rows.extend(_row_cells(row) for row in result.prim_rows)
    rows.append(["total", "", "", *_counts(result.totals), format_rate(result.totals.rate), "", ""])
    lines = _table(rows, RIGHT)
    lines.extend(banner_lines([*result.unreachable, *result.loud_skips]))
    lines.extend(f"infra error: {line}" for line in result.infra)
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


def dry_run_lines(rows: Sequence[DryRunRow]) -> list[str]:
    """Aligned listing of what would run, and a count; nothing is sent."""
    table = [list(DRY_RUN_HEADER)]
    table.extend(
        [r.group, r.id, r.method, r.target, r.prim, r.status or "unknown",
         format_percent(r.threshold) if r.threshold is not None else "off"]
        for r in rows
    )
    lines = _table(table, frozenset({6}))
    noun = "item" if len(rows) == 1 else "items"
    lines.append(f"{len(rows)} {noun} would run")
    return lines
