"""The retry policy's rules: what is transient, for which methods, and how long to wait."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from pytest_primgate.transport.policy import (
    RetryPolicy,
    fault_reason,
    parse_retry_after,
    status_reason,
)


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_idempotent_methods_retry_every_transient_status(method: str, status: int) -> None:
    assert status_reason(method, status, replay_safe=False) == str(status)


@pytest.mark.parametrize(("status", "retried"), [(429, True), (503, True), (502, False),
                                                 (504, False)])
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_post_retries_only_answers_that_say_not_processed(
    method: str, status: int, retried: bool
) -> None:
    assert (status_reason(method, status, replay_safe=False) is not None) is retried
    assert status_reason(method, status, replay_safe=True) == str(status)


@pytest.mark.parametrize("status", [200, 201, 400, 401, 402, 403, 404, 409, 422, 500, 501])
def test_answers_are_never_retried(status: int) -> None:
    assert status_reason("GET", status, replay_safe=True) is None


def test_statuses_the_caller_accepts_are_answers() -> None:
    assert status_reason("POST", 429, replay_safe=True, answers=frozenset({429})) is None
    assert status_reason("GET", 503, replay_safe=False, answers=frozenset({429})) == "503"


def test_faults_before_sending_retry_any_method_after_sending_only_safe_ones() -> None:
    for fault in ("connect timeout", "reset before send"):
        assert fault_reason("POST", fault, replay_safe=False) == fault  # type: ignore[arg-type]
    assert fault_reason("POST", "reset after send", replay_safe=False) is None
    assert fault_reason("PATCH", "reset after send", replay_safe=False) is None
    assert fault_reason("POST", "reset after send", replay_safe=True) == "reset after send"
    assert fault_reason("GET", "reset after send", replay_safe=False) == "reset after send"


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    policy = RetryPolicy(backoff=0.1, max_backoff=0.3)
    rng = random.Random(7)
    for retry, base in ((1, 0.1), (2, 0.2), (3, 0.3), (9, 0.3)):
        waits = [policy.delay(retry, rng=rng) for _ in range(200)]
        assert all(base * 0.5 <= w < base for w in waits), (retry, min(waits), max(waits))
        assert max(waits) - min(waits) > base * 0.3, "jitter spreads the waits"


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(retry_after_cap=5)
    assert policy.delay(1, 2.0) == 2.0
    assert policy.delay(1, 3600.0) == 5.0
    assert policy.delay(1, -3.0) == 0.0


def test_allows_is_bounded_in_count_and_time() -> None:
    policy = RetryPolicy(retries=2, budget=1.0)
    assert policy.allows(1, 0.0, 0.5) and policy.allows(2, 0.4, 0.5)
    assert not policy.allows(3, 0.0, 0.0), "count bound"
    assert not policy.allows(1, 0.8, 0.3), "time bound"
    assert not RetryPolicy(retries=0).enabled


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 3600 ") == 3600.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_negative_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="budget must not be negative"):
        RetryPolicy(budget=-1)
