"""Interop with the official ``x402`` package (2.25), both ways, on real loopback servers.

(a) our client pays a Flask app guarded by the official payment middleware, whose facilitator
is a local object recovering signatures with eth-account and rejecting replays; (b) the
official client (requests adapter) pays our sandbox paywall; (c) our client answers v1 and
v2 servers in kind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from eth_account import Account
from flask import Flask
from werkzeug.serving import make_server
from x402 import x402ClientSync, x402ResourceServerSync
from x402.http.clients import x402_requests
from x402.http.middleware.flask import payment_middleware
from x402.http.types import PaymentOption, RouteConfig
from x402.mechanisms.evm import EthAccountSigner
from x402.mechanisms.evm.exact import ExactEvmServerScheme
from x402.mechanisms.evm.exact.register import register_exact_evm_client
from x402.schemas import (
    SettleResponse,
    SupportedKind,
    SupportedResponse,
    VerifyResponse,
)

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.process import serve_in_thread
from pytest_primgate.x402.client import make_x402_client
from pytest_primgate.x402.spend import SpendPolicy
from pytest_primgate.x402.verify import nonce_key, verify_payment

NETWORK = "eip155:84532"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"


class LocalFacilitator:
    """A synchronous facilitator: recovers the signer (eth-account), rejects replayed nonces."""

    def __init__(self) -> None:
        self.settled: set[tuple[str, str]] = set()
        self.payers: list[str] = []
        self.verified = 0

    def get_supported(self) -> SupportedResponse:
        return SupportedResponse(kinds=[SupportedKind(x402_version=2, scheme="exact",
                                                      network=NETWORK)])

    def _check(self, payload: Any, requirements: Any) -> tuple[str | None, str]:
        data = payload.model_dump(by_alias=True, exclude_none=True)
        req = requirements.model_dump(by_alias=True, exclude_none=True)
        result = verify_payment(data, req, now=int(time.time()), seen_nonces=self.settled,
                                balance_of=lambda _a: 10**12)
        return (None if result.ok else result.reason), result.payer

    def verify(self, payload: Any, requirements: Any) -> VerifyResponse:
        self.verified += 1
        reason, payer = self._check(payload, requirements)
        return VerifyResponse(is_valid=reason is None, invalid_reason=reason, payer=payer)

    def settle(self, payload: Any, requirements: Any) -> SettleResponse:
        reason, payer = self._check(payload, requirements)
        if reason is not None:
            return SettleResponse(success=False, error_reason=reason, transaction="",
                                  network=NETWORK, payer=payer)
        self.settled.add(nonce_key(payload.payload["authorization"]))
        self.payers.append(payer)
        return SettleResponse(success=True, transaction="0x" + "cd" * 32, network=NETWORK,
                              payer=payer)


@pytest.fixture
def official_server() -> Iterator[tuple[str, LocalFacilitator]]:
    """A Flask app behind the official middleware, served by werkzeug on a loopback port."""
    facilitator = LocalFacilitator()
    server = x402ResourceServerSync(facilitator)
    server.register(NETWORK, ExactEvmServerScheme())
    app = Flask("official")

    @app.get("/weather")
    def weather() -> dict[str, str]:
        return {"weather": "sunny"}

    routes = {"GET /weather": RouteConfig(
        accepts=PaymentOption(scheme="exact", pay_to=PAY_TO, price="$0.01", network=NETWORK),
        description="weather",
    )}
    payment_middleware(app, routes, server)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}", facilitator
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)


def test_our_client_pays_official_middleware(
    official_server: tuple[str, LocalFacilitator],
) -> None:
    base, facilitator = official_server
    with make_x402_client(Account.create(), SpendPolicy(), timeout=10.0) as client:
        response = client.get(f"{base}/weather", extensions={"primgate_test_id": "OFF-1"})
        assert response.status_code == 200
        assert response.json() == {"weather": "sunny"}
        assert facilitator.payers == [client.address]
        [payment] = client.payments
        assert payment.transaction == "0x" + "cd" * 32 and payment.amount == "10000"
        assert payment.test_id == "OFF-1"


def test_official_middleware_rejects_a_replayed_payment(
    official_server: tuple[str, LocalFacilitator],
) -> None:
    import httpx

    base, facilitator = official_server
    with make_x402_client(Account.create(), SpendPolicy(), timeout=10.0) as client:
        first = client.get(f"{base}/weather")
        replay_header = first.request.headers["payment-signature"]
        replay = httpx.get(f"{base}/weather", headers={"PAYMENT-SIGNATURE": replay_header})
        assert replay.status_code == 402
        assert len(facilitator.payers) == 1


def official_session(account: Any) -> Any:
    client = x402ClientSync()
    register_exact_evm_client(client, EthAccountSigner(account))
    return x402_requests(client)


def test_official_client_pays_sandbox_paywall() -> None:
    account = Account.create()
    with serve_in_thread() as sandbox:
        funded = official_session(account).post(
            f"{sandbox.url}/faucet/v1/faucet/usdc", json={"address": account.address}, timeout=10
        )
        assert funded.status_code == 200
        session = official_session(account)
        response = session.get(f"{sandbox.url}/store/v1/buckets", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers.get("PAYMENT-RESPONSE")
        state = sandbox.state()
        assert state["state"]["paywall"]["settled"] == 1
        assert state["ledger"]["balances"][account.address.lower()] == "9.999"


def test_official_client_pays_sandbox_v1_route() -> None:
    account = Account.create()
    config = SandboxConfig(v1_routes=("GET /infer/v1/models",))
    with serve_in_thread(config) as sandbox:
        official_session(account).post(
            f"{sandbox.url}/faucet/v1/faucet/usdc", json={"address": account.address}, timeout=10
        )
        response = official_session(account).get(f"{sandbox.url}/infer/v1/models", timeout=10)
        assert response.status_code == 200, response.text
        assert response.headers.get("X-PAYMENT-RESPONSE")


def test_our_client_speaks_v1_and_v2_in_kind() -> None:
    config = SandboxConfig(v1_routes=("GET /infer/v1/models",))
    with serve_in_thread(config) as sandbox, \
            make_x402_client(Account.create(), SpendPolicy(), timeout=10.0) as client:
        client.post(f"{sandbox.url}/faucet/v1/faucet/usdc", json={"address": client.address})
        v1 = client.get(f"{sandbox.url}/infer/v1/models")
        v2 = client.get(f"{sandbox.url}/store/v1/buckets")
        assert "x-payment" in v1.request.headers and "payment-signature" not in v1.request.headers
        assert "payment-signature" in v2.request.headers and "x-payment" not in v2.request.headers
        assert [p.x402_version for p in client.payments] == [1, 2]


def test_official_v2_server_ignores_v1_header(
    official_server: tuple[str, LocalFacilitator],
) -> None:
    """A v2-only server answers an ``X-PAYMENT`` with 402; our client sends it v2, once."""
    import httpx

    base, facilitator = official_server
    with httpx.Client() as plain:
        assert plain.get(f"{base}/weather", headers={"X-PAYMENT": "e30="}).status_code == 402
    with make_x402_client(Account.create(), SpendPolicy(), timeout=10.0) as client:
        assert client.get(f"{base}/weather").status_code == 200
    assert facilitator.verified == 1


FIXTURE_TEST = """
def test_weather(x402_client, prim_wallet):
    response = x402_client.get({url!r})
    assert response.status_code == 200 and response.json() == {{"weather": "sunny"}}
    assert [p.settlement for p in x402_client.payments] == ["settled"]
    assert prim_wallet.source == "ephemeral"
"""


def test_fixture_pays_official_middleware_without_prim_registration(
    official_server: tuple[str, LocalFacilitator], pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``x402_client`` against a plain x402 server: it pays; nothing is registered or funded."""
    for name in ("AGENT_PRIVATE_KEY", "PRIM_HOME", "PRIM_WALLET_PASSPHRASE", "PRIM_NETWORK",
                 "PRIMGATE_SANDBOX_URL"):
        monkeypatch.delenv(name, raising=False)
    base, facilitator = official_server
    pytester.makepyfile(test_weather=FIXTURE_TEST.format(url=f"{base}/weather"))
    result = pytester.runpytest_subprocess(
        "--primgate", "-p", "no:cacheprovider", "-p", "no:xdist", "--primgate-wallet",
        "ephemeral", "--primgate-results-dir", "out",
    )
    assert result.ret == 0, result.stdout.str()
    assert len(facilitator.payers) == 1
    result.stdout.fnmatch_lines(["paid 0.01 USDC in 1 payment on eip155:84532"])
    assert "prim.sh" not in result.stdout.str()
