"""RetryTransport against a real loopback server: what is re-sent, how often, and counted."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pytest_primgate.transport.policy import RetryPolicy
from pytest_primgate.transport.retry import (
    ANSWERS_EXTENSION,
    RetryLog,
    RetrySummary,
    _made_ssl_context,
    append_log_file,
    read_log_file,
    recording,
    retrying_transport,
    shared_ssl_context,
)
from tests.fault_proxy import FaultProxy, Rule, fault_proxy


def client(policy: RetryPolicy | None = None, log: RetryLog | None = None) -> httpx.Client:
    return httpx.Client(timeout=5, transport=retrying_transport(policy or RetryPolicy(), log=log))


@pytest.fixture
def server() -> Iterator[FaultProxy]:
    with fault_proxy() as proxy:
        yield proxy


def test_503_then_200_is_one_retry_counted(server: FaultProxy) -> None:
    server.rules.append(Rule("GET", "/a", 503))
    with client() as http, recording() as log:
        response = http.get(server.url + "/a?x=1")
    assert response.status_code == 200
    assert server.count("GET", "/a") == 2
    assert (log.requests, log.retried, log.retries) == (1, 1, 1)
    event = log.events[0]
    assert (event.method, event.url, event.reason) == ("GET", server.url + "/a", "503")
    assert RetrySummary.of(log, redact=True).events == ("503",)


def test_reset_get_is_retried_reset_post_is_not(server: FaultProxy) -> None:
    server.rules += [Rule("GET", "/g", "reset"), Rule("POST", "/p", "reset")]
    with client() as http, recording() as log:
        assert http.get(server.url + "/g").status_code == 200
        with pytest.raises(httpx.TransportError):
            http.post(server.url + "/p", json={"a": 1})
    assert server.count("GET", "/g") == 2
    assert server.count("POST", "/p") == 1, "a POST that reached the server is never re-sent"
    assert [e.reason for e in log.events] == ["reset after send"]
    assert (log.requests, log.retried) == (2, 1)


def test_post_503_and_429_retried_502_not(server: FaultProxy) -> None:
    server.rules += [Rule("POST", "/a", 503), Rule("POST", "/b", 429), Rule("POST", "/c", 502)]
    with client() as http:
        assert http.post(server.url + "/a", json={}).status_code == 200
        assert http.post(server.url + "/b", json={}).status_code == 200
        assert http.post(server.url + "/c", json={}).status_code == 502
    assert [server.count("POST", p) for p in ("/a", "/b", "/c")] == [2, 2, 1]


@pytest.mark.parametrize("status", [500, 404, 400])
def test_answers_are_returned_at_once(server: FaultProxy, status: int) -> None:
    server.rules.append(Rule("GET", "/a", status, hits=()))
    with client() as http, recording() as log:
        assert http.get(server.url + "/a").status_code == status
    assert server.count("GET", "/a") == 1 and log.retries == 0


def test_accepted_status_is_not_retried(server: FaultProxy) -> None:
    server.rules.append(Rule("POST", "/faucet", 429, hits=()))
    with client() as http:
        response = http.post(server.url + "/faucet", json={},
                             extensions={ANSWERS_EXTENSION: frozenset({429})})
    assert response.status_code == 429 and server.count("POST", "/faucet") == 1


def test_retry_after_2_is_honoured(server: FaultProxy) -> None:
    server.rules.append(Rule("GET", "/a", 429, headers={"Retry-After": "2"}))
    with client() as http, recording() as log:
        started = time.monotonic()
        assert http.get(server.url + "/a").status_code == 200
        elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 4.0
    assert log.events[0].wait == 2.0


def test_retry_after_3600_is_capped(server: FaultProxy) -> None:
    server.rules.append(Rule("GET", "/a", 503, headers={"Retry-After": "3600"}))
    with client(RetryPolicy(retry_after_cap=1.0, budget=5.0)) as http, recording() as log:
        started = time.monotonic()
        assert http.get(server.url + "/a").status_code == 200
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 3.0
    assert log.events[0].wait == 1.0


def test_retry_after_beyond_the_budget_returns_the_answer(server: FaultProxy) -> None:
    server.rules.append(Rule("GET", "/a", 503, headers={"Retry-After": "3600"}))
    with client(RetryPolicy(retry_after_cap=60, budget=2.0)) as http:
        started = time.monotonic()
        assert http.get(server.url + "/a").status_code == 503
        assert time.monotonic() - started < 1.0
    assert server.count("GET", "/a") == 1


def test_total_time_is_bounded(server: FaultProxy) -> None:
    server.rules.append(Rule("GET", "/down", 503, hits=()))
    policy = RetryPolicy(retries=1000, budget=1.0, backoff=0.05, max_backoff=0.2)
    with client(policy) as http, recording() as log:
        started = time.monotonic()
        assert http.get(server.url + "/down").status_code == 503
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    assert 4 <= log.retries < 100
    assert server.count("GET", "/down") == log.retries + 1


def test_retries_off(server: FaultProxy) -> None:
    server.rules.append(Rule("GET", "/a", 503))
    with client(RetryPolicy(retries=0)) as http, recording() as log:
        assert http.get(server.url + "/a").status_code == 503
    assert log.requests == 1 and log.retries == 0


def test_transport_log_counts_outside_items(server: FaultProxy) -> None:
    server.rules.append(Rule("GET", "/a", 504))
    log = RetryLog()
    with client(log=log) as http:
        http.get(server.url + "/a")
        http.get(server.url + "/b")
    assert (log.requests, log.retried, log.retries) == (2, 1, 1)


def test_every_threads_pool_shares_one_verifying_tls_context(
    server: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[ssl.SSLContext] = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(self)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    _made_ssl_context.cache_clear()
    statuses: list[int] = []
    with client() as http:
        threads = [threading.Thread(target=lambda: statuses.append(
            http.get(server.url + "/a").status_code)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert statuses == [200] * 4
    assert len(loads) == 1  # the CA bundle is loaded once, not by every thread's pool
    assert loads[0] is shared_ssl_context()
    assert loads[0].verify_mode == ssl.CERT_REQUIRED and loads[0].check_hostname


def test_log_file_round_trip(tmp_path: Path) -> None:
    path = str(tmp_path / "r.jsonl")
    append_log_file(path, RetrySummary(3, 1, ("GET http://h/p: 503 (waited 0.10 s)",)))
    append_log_file(path, RetrySummary(2, 0, ()))
    with open(path, "a") as handle:
        handle.write("not json\n")
    assert read_log_file(path) == RetrySummary(5, 1, ("GET http://h/p: 503 (waited 0.10 s)",))
    assert read_log_file(path, redact=True).events == ("503",)
    assert read_log_file(path + ".missing") == RetrySummary()
