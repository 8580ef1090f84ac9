"""The gate: status classes, thresholds, majority voting, per-prim verdicts and the exit code.

Pure arithmetic over ``ItemRecord``s; no pytest import. Rates are compared as exact fractions
(4 of 5 meets 80 %). Rules and the decisions taken where the spec is silent: ``docs/gate.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

from pytest_primgate.model import ItemRecord, StatusClass, Verdict

LIVE_STATUSES = frozenset({"live", "mainnet", "testnet", "deployed"})
NEW_STATUSES = frozenset({"building", "testing"})
OFF_STATUSES = frozenset({"idea", "planning", "phantom", "hold"})
DEFAULT_THRESHOLDS: dict[str, float | None] = {"live": 100.0, "new": 80.0, "off": None}
NON_IDEMPOTENT = frozenset({"POST", "PATCH", "DELETE"})
DEFAULT_MAX_RETRY_RATE = 20.0
"""Percent of a prim's requests that may need a transient-fault retry before it is UNSTABLE."""
MIN_RETRIED_UNSTABLE = 3
"""Retried requests a prim needs before its retry rate can make it UNSTABLE: on a prim with
a handful of requests one or two blips are noise, not a rate (docs/gate.md)."""
UNKNOWN_PRIM = "(unknown prim)"
"""How an item with no prim is named in rows and messages."""
NAMES_SHOWN = 3
"""How many node ids a verdict or infra message names before '+N more'."""

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_INFRA = 2

RunVerdict = Literal["PASSED", "FAILED", "INFRA ERROR", "INTERRUPTED", "NOTHING VERIFIED"]
UNVERIFIED = frozenset({"blocked", "not_run"})
"""Outcomes of items that were selected but not verified: they count as not passed."""


def status_class(status: str) -> StatusClass:
    """Gate class of a prim.yaml status of any era; unknown or empty is a hard gate."""
    key = status.strip().lower()
    if key in NEW_STATUSES:
        return "new"
    if key in OFF_STATUSES:
        return "off"
    return "live"


def default_threshold(cls: StatusClass) -> float | None:
    """Default pass threshold in percent: live 100, new 80, off none."""
    return DEFAULT_THRESHOLDS[cls]


@dataclass(frozen=True)
class PrimGate:
    """How one prim is gated in this run."""

    prim: str
    status: str
    status_class: StatusClass
    threshold: float | None
    """Percent, or None for off prims (reported, never gated)."""
    max_retry_rate: float | None = DEFAULT_MAX_RETRY_RATE
    """Percent of requests needing a retry above which the prim is UNSTABLE (None: no limit)."""


def override_keys(prim: str) -> tuple[str, ...]:
    """Names a ``--primgate-threshold`` key may use for a prim: id, ``<id>.sh`` or name."""
    base = prim.removesuffix(".sh")
    return (prim, base, f"{base}.sh")


def resolve_gate(
    prim: str, status: str, prim_yaml_threshold: float | None, overrides: Mapping[str, float]
) -> PrimGate:
    """Gate of a prim: command-line override, else prim.yaml ``gates.pass_threshold``, else the
    class default. Off prims stay ungated whatever threshold is set."""
    cls = status_class(status)
    if cls == "off":
        return PrimGate(prim, status, cls, None)
    threshold = default_threshold(cls)
    if prim_yaml_threshold is not None:
        threshold = float(prim_yaml_threshold)
    for key in override_keys(prim):
        if key in overrides:
            threshold = float(overrides[key])
            break
    return PrimGate(prim, status, cls, threshold)


def attempt_decision(outcomes: Sequence[bool], runs: int, quorum: int) -> bool | None:
    """Majority rule: True once ``quorum`` attempts passed, False once that is impossible,
    None while another attempt could still change the outcome."""
    passes = sum(1 for ok in outcomes if ok)
    if passes >= quorum:
        return True
    if quorum - passes > runs - len(outcomes):
        return False
    return None


def effective_runs(method: str, retry: bool, runs: int, quorum: int) -> tuple[int, int]:
    """(runs, quorum) of a plan test: non-idempotent methods get one attempt unless ``retry``."""
    if method.strip().upper() in NON_IDEMPOTENT and not retry:
        return 1, 1
    return runs, quorum


def _exact(value: float) -> Fraction:
    """A threshold as written (``repr``), so 33.3 means 333/10, not the nearest binary float."""
    return Fraction(repr(float(value)))


def meets(passed: int, total: int, threshold: float) -> bool:
    """``passed / total * 100 >= threshold`` in exact rational arithmetic (4/5 meets 80)."""
    if total <= 0:
        return False
    return Fraction(passed * 100, total) >= _exact(threshold)


def format_rate(rate: Fraction | None) -> str:
    """A percentage with one truncated decimal (99.96 shows 99.9, never a false 100.0)."""
    if rate is None:
        return "—"
    tenths = rate.numerator * 10 // rate.denominator
    return f"{tenths // 10}.{tenths % 10}"


def format_percent(value: float | Fraction | None) -> str:
    """A threshold or ratio without a trailing '.0': 100, 87.5, 33.3 (truncated); None is '—'."""
    if value is None:
        return "—"
    text = format_rate(_exact(value) if isinstance(value, float | int) else value)
    return text.removesuffix(".0")


@dataclass(frozen=True)
class Tally:
    """Item counts of a row. Flaky items are also counted as passed."""

    passed: int = 0
    failed: int = 0
    blocked: int = 0
    skipped: int = 0
    unreachable: int = 0
    flaky: int = 0
    not_run: int = 0
    retries: int = 0
    """Transient-fault re-sends (not attempts)."""
    requests: int = 0
    retried_requests: int = 0

    @property
    def retry_rate(self) -> Fraction | None:
        """Exact percent of requests that needed a retry; None when no request was counted."""
        return Fraction(self.retried_requests * 100, self.requests) if self.requests else None

    @property
    def decided(self) -> int:
        """Items that count in the pass rate: passed, failed, and the unverified (blocked and
        not run), which count as not passed."""
        return self.passed + self.failed + self.unverified

    @property
    def unverified(self) -> int:
        """Selected items that were not verified: blocked or without a result."""
        return self.blocked + self.not_run

    @property
    def executed(self) -> int:
        """Items that really ran to a verdict (passed + failed)."""
        return self.passed + self.failed

    @property
    def total(self) -> int:
        """All items of the row."""
        return (self.passed + self.failed + self.blocked + self.skipped + self.unreachable
                + self.not_run)

    @property
    def rate(self) -> Fraction | None:
        """Exact pass rate in percent, None when no item passed, failed or went unverified."""
        return Fraction(self.passed * 100, self.decided) if self.decided else None

    @property
    def pass_rate(self) -> float | None:
        """passed / (passed + failed + blocked + not run) x 100; None when all are zero."""
        rate = self.rate
        return float(rate) if rate is not None else None

    @classmethod
    def of(cls, records: Iterable[ItemRecord]) -> Tally:
        """Count the records' outcomes."""
        counts = dict.fromkeys(
            ("passed", "failed", "blocked", "skipped", "unreachable", "not_run"), 0
        )
        flaky = retries = requests = retried = 0
        for record in records:
            counts[record.outcome] += 1
            flaky += record.flaky
            retries += record.retries
            requests += record.requests
            retried += record.retried_requests
        return cls(flaky=flaky, retries=retries, requests=requests, retried_requests=retried,
                   **counts)


@dataclass(frozen=True)
class Row:
    """One row of the summary: a plan group (informational) or a prim (gated)."""

    name: str
    kind: Literal["group", "prim"]
    status: str
    status_class: StatusClass | None
    """None for group rows."""
    tally: Tally
    threshold: float | None
    verdict: Verdict
    unstable: bool = False
    """The prim's retry rate exceeds its ``max_retry_rate`` (verdict FAIL or WARN)."""
    max_retry_rate: float | None = None

    @property
    def verdict_text(self) -> str:
        """The verdict as shown: ``FAIL UNSTABLE`` when retries made the prim miss."""
        return f"{self.verdict} UNSTABLE" if self.unstable else self.verdict

    @property
    def rate_text(self) -> str:
        """Pass rate for display ('—' when nothing passed or failed)."""
        return format_rate(self.tally.rate)


@dataclass(frozen=True)
class GateResult:
    """The gate's decision over one run."""

    group_rows: list[Row]
    prim_rows: list[Row]
    totals: Tally
    hard_failures: list[ItemRecord]
    """Failed items of prims whose verdict is FAIL."""
    soft_misses: list[ItemRecord]
    """Failed items of prims whose verdict is WARN."""
    unreachable: list[ItemRecord]
    loud_skips: list[ItemRecord]
    """Skipped items (exit 77, ``skip``) shown in the banner with their reasons."""
    infra: list[str]
    exit_code: int
    verdict: RunVerdict
    verdict_line: str
    warnings: int = 0
    """Prim rows with verdict WARN."""
    gates: dict[str, PrimGate] = field(default_factory=dict)


def prim_label(prim: str) -> str:
    """Display name of a prim id ('' is the unknown prim)."""
    return prim or UNKNOWN_PRIM


def _names(records: Sequence[ItemRecord]) -> str:
    shown = ", ".join(r.nodeid for r in records[:NAMES_SHOWN])
    more = len(records) - NAMES_SHOWN
    return f"{shown}, +{more} more" if more > 0 else shown


def rate_missed(gate: PrimGate, tally: Tally) -> bool:
    """The prim's pass rate is below its threshold (never for off prims or without a rate)."""
    if gate.threshold is None or gate.status_class == "off" or tally.decided == 0:
        return False
    return not meets(tally.passed, tally.decided, gate.threshold)


def unstable(gate: PrimGate, tally: Tally) -> bool:
    """More than ``max_retry_rate`` percent of the prim's requests needed a retry (and at least
    ``MIN_RETRIED_UNSTABLE`` of them did)."""
    rate = tally.retry_rate
    if gate.status_class == "off" or gate.max_retry_rate is None or rate is None:
        return False
    if tally.retried_requests < MIN_RETRIED_UNSTABLE:
        return False
    return rate > _exact(gate.max_retry_rate)


def unstable_text(row: Row) -> str:
    """``UNSTABLE 33.3 % of requests retried > 20 % (4 of 12)``."""
    tally = row.tally
    return (
        f"UNSTABLE {format_rate(tally.retry_rate)} % of requests retried > "
        f"{format_percent(row.max_retry_rate)} % ({tally.retried_requests} of {tally.requests})"
    )


def prim_verdict(gate: PrimGate, tally: Tally, allow_unreachable: bool) -> Verdict:
    """OFF for off prims; FAIL (live) or WARN (new) when the rate misses the threshold or an
    item was unreachable (unless allowed: a gate that could not look must not pass); a live
    prim with blocked or not-run items FAILs whatever its threshold; else PASS.
    Nothing passed, failed or went unverified and nothing unreachable is a PASS without a rate."""
    if gate.status_class == "off" or gate.threshold is None:
        return "OFF"
    unreachable_miss = tally.unreachable > 0 and not allow_unreachable
    unverified_miss = tally.unverified > 0 and gate.status_class == "live"
    if rate_missed(gate, tally) or unreachable_miss or unverified_miss or unstable(gate, tally):
        return "FAIL" if gate.status_class == "live" else "WARN"
    return "PASS"


def _group_verdict(
    records: Sequence[ItemRecord], verdicts: Mapping[str, Verdict], missed: Mapping[str, bool],
    allow_unreachable: bool,
) -> Verdict:
    """Worst verdict among the prims whose items in this group caused a miss; else PASS
    (OFF when every item belongs to an off prim)."""
    if all(r.status_class == "off" for r in records):
        return "OFF"
    culprits = {
        verdicts[r.prim] for r in records
        if (r.outcome == "failed" and missed[r.prim])
        or (r.outcome == "unreachable" and not allow_unreachable)
        or (r.outcome in UNVERIFIED and verdicts[r.prim] != "PASS")
    }
    if "FAIL" in culprits:
        return "FAIL"
    return "WARN" if "WARN" in culprits else "PASS"


def unverified_text(records: Sequence[ItemRecord]) -> str:
    """``3 items not verified (blocked by ST-1, F-1; not run: a::b)``."""
    blockers = list(dict.fromkeys(r.blocked_by or r.reason for r in records
                                  if r.outcome == "blocked"))
    not_run = [r for r in records if r.outcome == "not_run"]
    why = []
    if blockers:
        shown = ", ".join(blockers[:NAMES_SHOWN])
        more = len(blockers) - NAMES_SHOWN
        why.append(f"blocked by {shown}" + (f", +{more} more" if more > 0 else ""))
    if not_run:
        why.append(f"not run: {_names(not_run)}")
    noun = "item" if len(records) == 1 else "items"
    return f"{len(records)} {noun} not verified ({'; '.join(why)})"


def _miss_text(
    row: Row, failing: Sequence[ItemRecord], unreachable: Sequence[ItemRecord],
    unverified: Sequence[ItemRecord] = (),
) -> str:
    """``store (live) 90.0 % < 100 %: failing a::b; unreachable c::d; 2 items not verified``."""
    head = f"{prim_label(row.name)} ({row.status_class})"
    parts = []
    if failing or (unverified and row.tally.rate is not None and row.threshold is not None
                   and not meets(row.tally.passed, row.tally.decided, row.threshold)):
        head += f" {row.rate_text} % < {format_percent(row.threshold)} %"
    if failing:
        parts.append(f"failing {_names(failing)}")
    if unreachable:
        parts.append(f"unreachable {_names(unreachable)}")
    if unverified:
        parts.append(unverified_text(unverified))
    if row.unstable:
        parts.append(unstable_text(row))
    return f"{head}: {', '.join(parts)}"


def evaluate(
    records: Sequence[ItemRecord],
    gates: Mapping[str, PrimGate],
    *,
    allow_unreachable: bool = False,
    infra_errors: Sequence[str] = (),
    collection_errors: int = 0,
    interrupted: bool = False,
    allow_empty: bool = False,
    other_failures: int = 0,
    grow_only_removed: Sequence[str] = (),
) -> GateResult:
    """Tally groups and prims, apply thresholds and decide the exit code and verdict line.

    Exit 2 (interrupted, infrastructure error, nothing verified) takes precedence over 1: a run
    that could not look properly cannot vouch for anything, and its failures may be symptoms;
    the verdict line still names any regression after it. ``other_failures`` (failed tests that
    are not primgate items) and ``grow_only_removed`` make an otherwise green run FAILED.
    """
    by_prim: dict[str, list[ItemRecord]] = {}
    by_group: dict[str, list[ItemRecord]] = {}
    for record in records:
        by_prim.setdefault(record.prim, []).append(record)
        by_group.setdefault(record.group, []).append(record)

    prim_rows: list[Row] = []
    verdicts: dict[str, Verdict] = {}
    missed: dict[str, bool] = {}
    used: dict[str, PrimGate] = {}
    hard: list[ItemRecord] = []
    soft: list[ItemRecord] = []
    miss_texts: list[str] = []
    named_misses: list[str] = []
    """Misses that name a regression (not just items that could not run): also shown after an
    interruption or an infrastructure error."""
    infra = list(infra_errors)
    if collection_errors and not any("collection error" in line for line in infra_errors):
        infra.append(f"{collection_errors} collection error(s)")
    for prim in sorted(by_prim, key=lambda p: (p == "", p)):
        items = by_prim[prim]
        gate = gates.get(prim) or resolve_gate(prim, items[0].prim_status, None, {})
        used[prim] = gate
        tally = Tally.of(items)
        verdict = prim_verdict(gate, tally, allow_unreachable)
        verdicts[prim] = verdict
        row = Row(prim, "prim", gate.status, gate.status_class, tally, gate.threshold, verdict,
                  unstable=unstable(gate, tally), max_retry_rate=gate.max_retry_rate)
        prim_rows.append(row)
        missed[prim] = rate_missed(gate, tally)
        failed = [r for r in items if r.outcome == "failed"] if missed[prim] else []
        unreachable = [r for r in items if r.outcome == "unreachable"]
        unverified = [r for r in items if r.outcome in UNVERIFIED]
        if verdict == "FAIL":
            hard.extend(failed)
            text = _miss_text(row, failed, [] if allow_unreachable else unreachable, unverified)
            miss_texts.append(text)
            if tally.failed or tally.blocked or (unreachable and not allow_unreachable):
                named_misses.append(text)
        elif verdict == "WARN":
            soft.extend(failed)
        if gate.status_class == "live" and unreachable and not allow_unreachable:
            infra.append(f"live prim {prim_label(prim)} unreachable ({_names(unreachable)})")

    group_rows = [
        Row(group, "group", "", None, Tally.of(items), None,
            _group_verdict(items, verdicts, missed, allow_unreachable))
        for group, items in by_group.items()
    ]
    warnings = sum(1 for row in prim_rows if row.verdict == "WARN")
    gated = sum(1 for row in prim_rows if row.verdict != "OFF")

    not_run = [r for r in records if r.outcome == "not_run"]
    if not_run and not interrupted:
        infra.append(f"{len(not_run)} selected item(s) not run: {_names(not_run)}")
    totals = Tally.of(records)
    executed = sum(
        row.tally.executed for row in prim_rows if row.verdict != "OFF"
    )
    extra_fails = []
    if grow_only_removed:
        extra_fails.append(f"grow-only: removed {', '.join(grow_only_removed)}")
    if other_failures:
        noun = "test" if other_failures == 1 else "tests"
        extra_fails.append(f"{other_failures} other {noun} failed")
    fails = miss_texts + extra_fails
    also = named_misses + extra_fails

    run_verdict: RunVerdict
    if interrupted:
        exit_code, run_verdict = EXIT_INFRA, "INTERRUPTED"
        line = (f"primgate: INTERRUPTED — {totals.total - totals.not_run} of {totals.total} "
                f"selected item(s) finished, {totals.not_run} not run")
        if also:
            line += "; also FAILED: " + "; ".join(also)
    elif infra:
        exit_code, run_verdict = EXIT_INFRA, "INFRA ERROR"
        more = f" (+{len(infra) - 1} more)" if len(infra) > 1 else ""
        line = f"primgate: INFRA ERROR — {infra[0]}{more}"
        if also:
            line += "; also FAILED: " + "; ".join(also)
    elif executed == 0 and not allow_empty:
        exit_code, run_verdict = EXIT_INFRA, "NOTHING VERIFIED"
        line = "primgate: NOTHING VERIFIED — " + _nothing_text(totals)
        if fails:
            line += "; also FAILED: " + "; ".join(fails)
    elif fails:
        exit_code, run_verdict = EXIT_REGRESSION, "FAILED"
        line = "primgate: FAILED — " + "; ".join(fails)
    else:
        exit_code, run_verdict = EXIT_OK, "PASSED"
        if executed == 0:
            line = "primgate: PASSED — nothing verified (allowed by --primgate-allow-empty)"
        else:
            noun = "prim" if gated == 1 else "prims"
            line = f"primgate: PASSED — {gated} {noun} gated, all hard gates pass"
            if warnings:
                line += f" ({warnings} warning{'s' if warnings > 1 else ''})"
            shaky = [r for r in prim_rows if r.unstable and r.verdict == "WARN"]
            if shaky:
                line += "; " + "; ".join(
                    f"{prim_label(r.name)} ({r.status_class}) {unstable_text(r)}" for r in shaky
                )

    return GateResult(
        group_rows=group_rows,
        prim_rows=prim_rows,
        totals=totals,
        hard_failures=hard,
        soft_misses=soft,
        unreachable=[r for r in records if r.outcome == "unreachable"],
        loud_skips=[r for r in records if r.outcome == "skipped"],
        infra=infra,
        exit_code=exit_code,
        verdict=run_verdict,
        verdict_line=line,
        warnings=warnings,
        gates=used,
    )


def _nothing_text(totals: Tally) -> str:
    """Why no gated item was verified: nothing selected, or what the selected items became."""
    if totals.total == 0:
        return "no primgate items ran"
    parts = [f"{getattr(totals, name)} {name.replace('_', ' ')}"
             for name in ("blocked", "skipped", "unreachable", "not_run")
             if getattr(totals, name)]
    rest = totals.executed
    if rest:
        parts.append(f"{rest} of off prims")
    return f"no gated item ran ({totals.total} selected: {', '.join(parts)})"


def holdout_verdict(passed: int, total: int, threshold: float) -> tuple[bool, str]:
    """Holdout gate: pass when passed/total x 100 >= threshold (exact; no scenarios fails)."""
    ok = meets(passed, total, threshold)
    word = "PASSED" if ok else "FAILED"
    ratio = f"{format_percent(Fraction(passed * 100, total))} %" if total else "—"
    return ok, (
        f"holdout gate: {word} {passed}/{total} scenarios "
        f"({ratio}, threshold {format_percent(float(threshold))} %)"
    )
