"""Item facts as ``user_properties``: written on the worker, read back into ``ItemRecord``s.

``user_properties`` travel with every report through pytest-xdist and land in junit-xml as
``<property>`` elements, so this is the one channel for per-item data. Values are builtins only
(execnet refuses anything else). The junit names SPEC §8 asks for are used as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_primgate.model import ItemRecord, Payment

if TYPE_CHECKING:
    from pytest_primgate.transport.retry import RetrySummary

KIND = "primgate_kind"
TEST_ID = "primgate_test_id"
GROUP = "group"
PRIM = "prim"
PRIM_STATUS = "prim_status"
STATUS_CLASS = "primgate_status_class"
THRESHOLD = "primgate_threshold"
OUTCOME = "outcome"
REASON = "primgate_reason"
ATTEMPTS = "attempts"
PASSES = "passes"
ATTEMPT_OUTCOMES = "primgate_attempt_outcomes"
BLOCKED_BY = "blocked_by"
STATUS_CODE = "primgate_status_code"
EXIT_CODE = "primgate_exit_code"
PULLED_IN = "primgate_pulled_in"
PAYMENTS = "primgate_payments"
INFRA_ERROR = "primgate_infra_error"
SERVER = "primgate_server"
HOLDOUT = "primgate_holdout"
RETRIES = "retries"
REQUESTS = "primgate_requests"
RETRIED_REQUESTS = "primgate_retried_requests"
RETRY_LOG = "primgate_retry_log"
MAX_RETRY_RATE = "primgate_max_retry_rate"
CANARY_VERDICT = "canary_verdict"
CANARY_STEPS = "canary_steps"
CANARY = "primgate_canary"
"""The group's canary result as compact JSON (steps, ux_notes; never prompts or bodies)."""


def as_dict(props: Iterable[tuple[str, object]]) -> dict[str, Any]:
    """``user_properties`` as a dict (last value wins)."""
    return {str(k): v for k, v in props}


def set_props(props: list[tuple[str, object]], values: Mapping[str, object]) -> None:
    """Replace or append properties in place, keeping one entry per name."""
    names = set(values)
    props[:] = [(k, v) for k, v in props if k not in names]
    props.extend(values.items())


def payments_to_prop(payments: Iterable[Payment]) -> str:
    """Payments as a compact JSON string (execnet- and junit-safe)."""
    return json.dumps([p.__dict__ for p in payments], separators=(",", ":"))


def payments_from_prop(value: object) -> list[Payment]:
    """Inverse of ``payments_to_prop``; tolerant of absent values."""
    if not isinstance(value, str) or not value:
        return []
    return [Payment(**item) for item in json.loads(value)]


def retry_props(summary: RetrySummary) -> dict[str, object]:
    """An item's transient-fault retries: count, requests sent, and what each retry was for."""
    return {
        RETRIES: summary.retries,
        REQUESTS: summary.requests,
        RETRIED_REQUESTS: summary.retried,
        RETRY_LOG: json.dumps(list(summary.events)),
    }


def _retry_log_from_prop(value: object) -> tuple[str, ...]:
    if not isinstance(value, str) or not value:
        return ()
    try:
        items = json.loads(value)
    except ValueError:
        return ()
    return tuple(str(x) for x in items) if isinstance(items, list) else ()


def _int_or_none(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def node_test_id(nodeid: str) -> str:
    """The test id in a node id: ``plan.json::group::ST-1`` -> ``ST-1``,
    ``smoke.toml::name`` -> ``name``. Items are named after their test or scenario, so the id
    is not stored per item (it may itself contain ``::``)."""
    path, _, rest = nodeid.partition("::")
    return rest.partition("::")[2] if path.endswith(".json") else rest


def record_from_report(
    nodeid: str, when: str, report_outcome: str, props: Mapping[str, Any], longrepr_line: str,
    duration: float, worker: str,
) -> ItemRecord | None:
    """Rebuild an ``ItemRecord`` from one report of a primgate item, or None for other items.

    The call report carries the final properties. A setup report that failed or skipped (a
    fixture error, a skip marker) ends the item too, with the outcome pytest gives it.
    """
    if KIND not in props:
        return None
    outcome = props.get(OUTCOME)
    reason = str(props.get(REASON, ""))
    if when != "call" or outcome is None:
        outcome = {"passed": "passed", "skipped": "skipped"}.get(report_outcome, "failed")
        reason = reason or longrepr_line
    letters = str(props.get(ATTEMPT_OUTCOMES, ""))
    return ItemRecord(
        nodeid=nodeid,
        kind="scenario" if props.get(KIND) == "scenario" else "plan",
        test_id=str(props.get(TEST_ID) or node_test_id(nodeid)),
        group=str(props.get(GROUP, "")),
        prim=str(props.get(PRIM, "")),
        prim_status=str(props.get(PRIM_STATUS, "")),
        status_class=props.get(STATUS_CLASS, "live"),
        outcome=outcome,  # type: ignore[arg-type]
        prim_threshold=float(props[THRESHOLD]) if props.get(THRESHOLD) not in (None, "") else None,
        reason=reason,
        attempts=int(props.get(ATTEMPTS, 0) or 0),
        passes=int(props.get(PASSES, 0) or 0),
        attempt_outcomes=tuple(x for x in letters.split(",") if x),
        blocked_by=str(props.get(BLOCKED_BY, "")),
        status_code=_int_or_none(props.get(STATUS_CODE)),
        exit_code=_int_or_none(props.get(EXIT_CODE)),
        duration=duration,
        pulled_in=bool(props.get(PULLED_IN, False)),
        worker=worker,
        server=str(props.get(SERVER, "")),
        holdout=bool(props.get(HOLDOUT, False)),
        retries=int(props.get(RETRIES, 0) or 0),
        requests=int(props.get(REQUESTS, 0) or 0),
        retried_requests=int(props.get(RETRIED_REQUESTS, 0) or 0),
        retry_log=_retry_log_from_prop(props.get(RETRY_LOG)),
        prim_max_retry_rate=(
            float(props[MAX_RETRY_RATE]) if props.get(MAX_RETRY_RATE) not in (None, "") else None
        ),
    )
