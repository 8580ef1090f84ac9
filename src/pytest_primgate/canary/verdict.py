"""Verdicts and UX notes as prim.sh's canary runner decides them (pure)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pytest_primgate.canary.result import CanaryVerdict, Step

_NOTE_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"ux[:\s]+(.+)", r"observation[s]?[:\s]+(.+)", r"confus(?:ing|ed)[:\s]+(.+)",
        r"unclear[:\s]+(.+)", r"issue[s]?[:\s]+(.+)", r"note[s]?[:\s]+(.+)",
    )
)


def verdict(steps: Sequence[Step], error: str | None = None) -> CanaryVerdict:
    """No steps -> warn; any network error -> error; none failed -> pass; some -> warn;
    all -> fail. An ``error`` (model unreachable, refused payment, ...) is always ``error``."""
    if error is not None or any(s.network_error for s in steps):
        return "error"
    if not steps:
        return "warn"
    failed = sum(1 for s in steps if not s.ok)
    if failed == 0:
        return "pass"
    return "warn" if failed < len(steps) else "fail"


def ux_notes(summary: str | None) -> tuple[str, ...]:
    """Observations the agent's final report states (``UX: ...``, ``Issue: ...``), upstream's
    patterns: each captured note longer than 10 characters, once, in pattern order."""
    if not summary:
        return ()
    notes: list[str] = []
    for pattern in _NOTE_PATTERNS:
        for match in pattern.finditer(summary):
            note = match.group(1).strip()
            if len(note) > 10 and note not in notes:
                notes.append(note)
    return tuple(notes)


def effective(verdict_: CanaryVerdict, status_class: str) -> CanaryVerdict:
    """A ``new`` (or ``off``) prim's canary misses only warn, as its plan tests do."""
    if status_class in ("new", "off") and verdict_ in ("fail", "error"):
        return "warn"
    return verdict_


def reason(result_verdict: CanaryVerdict, steps: Sequence[Step], error: str | None) -> str:
    """One line saying why a canary is not a pass (names the first failing step)."""
    if error:
        return f"canary error: {error}"
    failing = [s for s in steps if not s.ok]
    if not steps:
        return "canary: the agent made no tool call"
    if not failing:
        return "canary passed"
    first = failing[0]
    what = f"status {first.status}" if first.status is not None else (
        f"exit {first.exit_code}" if first.exit_code is not None else first.note or "failed"
    )
    head = f"canary {result_verdict}: {len(failing)} of {len(steps)} step(s) failed"
    return f"{head}; first: {first.target} ({what})"
