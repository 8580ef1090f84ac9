"""Admin routes under /_sandbox/: faults, state, reset."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.process import SandboxHandle, serve_in_thread


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with serve_in_thread(SandboxConfig()) as handle:
        yield handle


def test_set_get_and_clear_faults(sandbox: SandboxHandle) -> None:
    installed = sandbox.set_faults(["path=/a/*,every=2,status=500", {"latency_ms": 1}])
    assert [f["path_glob"] for f in installed] == ["/a/*", "*"]
    assert installed[0]["every"] == 2 and installed[1]["latency_ms"] == 1.0
    assert httpx.get(sandbox.url + "/_sandbox/faults").json()["faults"] == installed
    response = httpx.delete(sandbox.url + "/_sandbox/faults")
    assert response.json() == {"faults": []}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"every": 2}', "Body must be a JSON list of fault specs"),
        (b"[", "Body is not valid JSON"),
        (b'["nope=1"]', "fault spec: unknown key 'nope'"),
        (b"[3]", "fault spec: expected a string or object, got 3"),
    ],
)
def test_bad_fault_lists_are_400(sandbox: SandboxHandle, body: bytes, message: str) -> None:
    response = httpx.post(sandbox.url + "/_sandbox/faults", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(message)


def test_state_counts_requests_per_route_and_snapshots_modules(sandbox: SandboxHandle) -> None:
    with httpx.Client(base_url=sandbox.url) as client:
        for _ in range(3):
            client.get("/store/")
        client.get("/store/v1/nope")
        client.post("/faucet/v1/faucet/usdc", json={"address": "0x" + "11" * 20})
    state = sandbox.state()
    assert state["requests"]["GET /store/"] == 3
    assert state["requests"]["unmatched"] == 1
    assert state["requests"]["POST /faucet/v1/faucet/usdc"] == 1
    assert state["prims"]["store"] == {"requests": 4, "payments": 0, "errors": 1}
    assert state["state"]["store"] == {"buckets": 0, "objects": 0, "bytes": 0}
    assert {"store", "faucet"} <= set(state["state"])
    assert "ledger" in state and state["faults"] == []


def test_reset_forgets_state_and_counters(sandbox: SandboxHandle) -> None:
    address = "0x" + "22" * 20
    drip = sandbox.prim_url("faucet") + "/v1/faucet/usdc"
    assert httpx.post(drip, json={"address": address}).status_code == 200
    assert httpx.post(drip, json={"address": address}).status_code == 429
    sandbox.set_faults(["path=/x/*,every=2,status=500"])
    httpx.get(sandbox.url + "/x/")
    sandbox.reset()
    assert httpx.post(drip, json={"address": address}).status_code == 200
    state = sandbox.state()
    assert state["requests"] == {"POST /faucet/v1/faucet/usdc": 1}
    assert len(state["faults"]) == 1  # faults stay, counters restart
    assert httpx.get(sandbox.url + "/x/").status_code == 200
    assert httpx.get(sandbox.url + "/x/").status_code == 500


def test_close_calls_close_on_state_objects_even_after_a_failure() -> None:
    from typing import Any

    from pytest_primgate.sandbox.app import SandboxApp

    closed: list[str] = []

    class Holder:
        def __init__(self, name: str, fail: bool = False) -> None:
            self.name, self.fail = name, fail

        def snapshot(self) -> dict[str, Any]:
            return {}

        def close(self) -> None:
            closed.append(self.name)
            if self.fail:
                raise OSError("sshd would not die")

    app = SandboxApp(SandboxConfig())
    app.state["a"] = Holder("a", fail=True)
    app.state["b"] = Holder("b")
    with pytest.raises(OSError, match="sshd would not die"):
        app.close()
    assert closed == ["a", "b"]
