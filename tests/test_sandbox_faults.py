"""Fault injection: parsing, and each knob over real sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.faults import (
    FaultInjector,
    FaultSpec,
    FaultSpecError,
    fault_from_mapping,
    parse_fault,
)
from pytest_primgate.sandbox.process import SandboxHandle, serve_in_thread


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with serve_in_thread(SandboxConfig()) as handle:
        yield handle


@pytest.fixture
def client(sandbox: SandboxHandle) -> Iterator[httpx.Client]:
    sandbox.clear_faults()
    with httpx.Client(base_url=sandbox.url, timeout=10.0) as c:
        yield c
    sandbox.clear_faults()


# -- parsing ---------------------------------------------------------------------------------


def test_parse_full_spec() -> None:
    spec = parse_fault("path=/store/*,method=get,every=3,status=500,latency=20,seed=4")
    assert spec == FaultSpec(path_glob="/store/*", method="GET", every=3, status=500,
                             latency_ms=20.0, seed=4)


def test_parse_flags_and_long_names() -> None:
    assert parse_fault("reset").reset is True
    assert parse_fault("malformed_json=yes,rate=0.5").malformed_json is True
    assert parse_fault("path_glob=/a,latency_ms=5").latency_ms == 5.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour=red", "fault spec: unknown key 'colour' (known: every, hits, latency, "
                       "latency_ms, malformed, malformed_json, method, path, path_glob, per_url, "
                       "rate, reset, seed, status)"),
        ("every=3,hits=4", "fault spec: hits must be between 1 and every (3), got 4"),
        ("every=x", "fault spec: bad value for 'every': 'x'"),
        ("status=42", "fault spec: status must be 100-599, got 42"),
        ("rate=2", "fault spec: rate must be between 0 and 1, got 2.0"),
        ("reset=maybe", "fault spec: bad value for 'reset': 'maybe'"),
        ("", "fault spec: empty spec ''"),
    ],
)
def test_parse_errors_name_the_bad_key(text: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_fault(text)
    assert str(info.value) == message


def test_mapping_round_trip() -> None:
    spec = FaultSpec(path_glob="/x/*", every=2, status=503)
    assert fault_from_mapping(spec.to_dict()) == spec


def test_every_counts_matches_from_one() -> None:
    injector = FaultInjector([FaultSpec(path_glob="/store/*", every=3, status=500)])
    hits = [injector.decide("GET", "/store/v1/x") is not None for _ in range(9)]
    assert hits == [False, False, True] * 3
    assert injector.decide("GET", "/infer/v1/x") is None


def test_hits_makes_k_of_every_n_fail() -> None:
    injector = FaultInjector([FaultSpec(every=3, hits=2, status=503)])
    hits = [injector.decide("GET", "/a") is not None for _ in range(9)]
    assert hits == [False, True, True] * 3
    per_url = FaultInjector([FaultSpec(every=3, hits=2, status=503, per_url=True)])
    for target in ("/a", "/b", "/a", "/b", "/a", "/b"):
        per_url.decide("GET", target, target)
    assert per_url.decide("GET", "/a", "/a") is None, "the 4th /a starts a new cycle"


def test_rate_is_seeded() -> None:
    def pattern(seed: int) -> list[bool]:
        injector = FaultInjector([FaultSpec(rate=0.5, status=500, seed=seed)])
        return [injector.decide("GET", "/a") is not None for _ in range(50)]

    assert pattern(7) == pattern(7)
    assert pattern(7) != pattern(8)
    assert 10 < sum(pattern(7)) < 40


def test_method_filter() -> None:
    injector = FaultInjector([FaultSpec(method="post", status=500)])
    assert injector.decide("GET", "/a") is None
    assert injector.decide("POST", "/a") is not None


# -- over the wire ---------------------------------------------------------------------------


def test_latency_applies_to_every_matching_request(
    sandbox: SandboxHandle, client: httpx.Client
) -> None:
    sandbox.set_faults(["path=/slow/*,latency=150"])
    for _ in range(2):
        start = time.perf_counter()
        assert client.get("/slow/").status_code == 200
        assert time.perf_counter() - start >= 0.9 * 0.150
    start = time.perf_counter()
    client.get("/fast/")
    assert time.perf_counter() - start < 0.150


def test_every_third_request_fails(sandbox: SandboxHandle, client: httpx.Client) -> None:
    sandbox.set_faults(["path=/store/*,method=GET,every=3,status=500"])
    statuses = [client.get("/store/").status_code for _ in range(9)]
    assert statuses == [200, 200, 500] * 3
    response = client.get("/store/")
    assert client.post("/store/").status_code == 405  # other methods untouched
    assert response.status_code == 200


def test_status_fault_uses_the_error_envelope(
    sandbox: SandboxHandle, client: httpx.Client
) -> None:
    sandbox.set_faults(["status=503"])
    response = client.get("/infer/")
    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "sandbox_fault", "message": "injected fault: status 503"}
    }


def test_rate_with_seed_is_deterministic(sandbox: SandboxHandle, client: httpx.Client) -> None:
    def run() -> list[int]:
        sandbox.set_faults(["rate=0.3,status=500,seed=11"])
        return [client.get("/store/").status_code for _ in range(30)]

    first = run()
    assert first == run()
    assert 500 in first and 200 in first


def test_reset_closes_the_connection(sandbox: SandboxHandle, client: httpx.Client) -> None:
    sandbox.set_faults(["path=/store/*,reset"])
    with pytest.raises(httpx.TransportError):
        client.get("/store/")
    assert client.get("/infer/").status_code == 200  # a new connection works


def test_malformed_json(sandbox: SandboxHandle, client: httpx.Client) -> None:
    sandbox.set_faults([{"path": "/infer/*", "malformed_json": True}])
    response = client.get("/infer/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_faults_apply_before_routing(sandbox: SandboxHandle, client: httpx.Client) -> None:
    sandbox.set_faults(["status=502"])
    assert client.get("/store/v1/does-not-exist").status_code == 502


def test_admin_routes_are_never_faulted(sandbox: SandboxHandle, client: httpx.Client) -> None:
    sandbox.set_faults(["reset"])
    assert client.get("/_sandbox/state").status_code == 200
    sandbox.clear_faults()


def test_faults_from_config() -> None:
    config = SandboxConfig(faults=(FaultSpec(path_glob="/wallet/*", status=418),))
    with serve_in_thread(config) as handle:
        assert httpx.get(handle.url + "/wallet/").status_code == 418
        assert httpx.get(handle.url + "/store/").status_code == 200


def test_latency_overlaps_across_connections(sandbox: SandboxHandle) -> None:
    """Requests are served by threads: five 300 ms requests in parallel take far less than 1.5 s."""
    from concurrent.futures import ThreadPoolExecutor

    sandbox.set_faults(["path=/slow/*,latency=300"])
    try:
        start = time.perf_counter()
        with ThreadPoolExecutor(5) as pool:
            statuses = list(pool.map(lambda _: httpx.get(sandbox.url + "/slow/").status_code,
                                     range(5)))
        elapsed = time.perf_counter() - start
    finally:
        sandbox.clear_faults()
    assert statuses == [200] * 5
    assert elapsed < 1.2


def test_per_url_counts_every_separately_for_each_target() -> None:
    from pytest_primgate.sandbox.faults import FaultInjector, parse_fault

    injector = FaultInjector([parse_fault("path=/store/*,every=2,per_url,status=500")])
    seen = {
        target: [injector.decide("GET", "/store/", target) is not None for _ in range(4)]
        for target in ("/store/?a=1", "/store/?a=2")
    }
    assert seen == {"/store/?a=1": [False, True, False, True],
                    "/store/?a=2": [False, True, False, True]}
