"""Registration and funding against the sandbox's wallet.sh and faucet.sh (real loopback HTTP)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.process import SandboxHandle, serve_in_thread
from pytest_primgate.urlmap import UrlMap
from pytest_primgate.wallet import Wallet, WalletError, fund, register


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    with serve_in_thread(SandboxConfig(faucet_cooldown_seconds=7200)) as handle:
        yield handle


def wallet() -> Wallet:
    account = Account.create()
    return Wallet(account=account, address=account.address, source="ephemeral")


def urlmap(handle: SandboxHandle) -> UrlMap:
    return UrlMap.from_pairs({"*.prim.sh": f"{handle.url}/{{prim}}"})


def registration(w: Wallet, stamp: str, signer: Wallet | None = None) -> dict[str, str]:
    message = f"Register {w.address} with prim.sh at {stamp}"
    signed = (signer or w).account.sign_message(encode_defunct(text=message))
    return {"address": w.address, "signature": "0x" + bytes(signed.signature).hex(),
            "timestamp": stamp}


def test_register_201_then_409(sandbox: SandboxHandle) -> None:
    w = wallet()
    with httpx.Client(timeout=5) as http:
        assert register(http, w, urlmap(sandbox)) == 201
        assert register(http, w, urlmap(sandbox)) == 409
        again = http.post(f"{sandbox.url}/wallet/v1/wallets",
                          json=registration(w, w.template_variables()["iso_timestamp"]))
    assert again.json() == {"error": {"code": "duplicate_request",
                                      "message": "Wallet already registered"}}
    assert sandbox.state()["state"]["wallet"]["registered"] == [w.address]


def test_register_201_body(sandbox: SandboxHandle) -> None:
    w = wallet()
    stamp = w.template_variables()["iso_timestamp"]
    response = httpx.post(f"{sandbox.url}/wallet/v1/wallets", json=registration(w, stamp))
    assert response.status_code == 201
    body = response.json()
    assert body["address"] == w.address and body["chain"] == "eip155:8453"
    assert set(body) == {"address", "chain", "label", "registered_at", "created_at"}


def test_register_expired_timestamp_400(sandbox: SandboxHandle) -> None:
    w = wallet()
    old = (datetime.now(UTC) - timedelta(minutes=6)).isoformat(timespec="milliseconds")
    response = httpx.post(f"{sandbox.url}/wallet/v1/wallets",
                          json=registration(w, old.replace("+00:00", "Z")))
    assert response.status_code == 400
    assert response.json() == {"error": {"code": "invalid_request",
                                         "message": "Signature timestamp expired (>5 minutes)"}}


def test_register_bad_signature_403(sandbox: SandboxHandle) -> None:
    w = wallet()
    stamp = w.template_variables()["iso_timestamp"]
    response = httpx.post(f"{sandbox.url}/wallet/v1/wallets",
                          json=registration(w, stamp, signer=wallet()))
    assert response.status_code == 403
    assert response.json() == {"error": {"code": "forbidden",
                                         "message": "Signature does not match address"}}


def test_faucet_200_then_429_with_retry_after(sandbox: SandboxHandle) -> None:
    w = wallet()
    url = f"{sandbox.url}/faucet/v1/faucet/usdc"
    with httpx.Client(timeout=5) as http:
        first = http.post(url, json={"address": w.address})
        second = http.post(url, json={"address": w.address})
        status = http.get(f"{sandbox.url}/faucet/v1/faucet/status",
                          params={"address": w.address}).json()
        eth = http.post(f"{sandbox.url}/faucet/v1/faucet/eth", json={"address": w.address})
    assert first.status_code == 200
    body = first.json()
    assert (body["amount"], body["currency"], body["chain"]) == ("10.00", "USDC", "eip155:84532")
    assert body["tx_hash"].startswith("0x")
    assert second.status_code == 429
    assert 7190 <= int(second.headers["Retry-After"]) <= 7200
    error = second.json()["error"]
    assert error["code"] == "rate_limited" and error["message"] == "Next drip in 120 minutes"
    assert error["retryAfter"] == int(second.headers["Retry-After"])
    assert status["usdc"]["available"] is False and status["usdc"]["balance"] == "10.00"
    assert status["eth"] == {"available": True, "retry_after_ms": 0}
    assert eth.status_code == 200 and eth.json()["amount"] == "0.01"


def test_faucet_cooldown_expires() -> None:
    w = wallet()
    with serve_in_thread(SandboxConfig(faucet_cooldown_seconds=2.0)) as handle:
        url = f"{handle.url}/faucet/v1/faucet/usdc"
        assert httpx.post(url, json={"address": w.address}).status_code == 200
        assert httpx.post(url, json={"address": w.address}).status_code == 429
        time.sleep(2.2)
        assert httpx.post(url, json={"address": w.address}).status_code == 200


def test_faucet_rejects_bad_address(sandbox: SandboxHandle) -> None:
    response = httpx.post(f"{sandbox.url}/faucet/v1/faucet/usdc", json={"address": "0x12"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"


def test_fund_reads_balance_then_funds_once(sandbox: SandboxHandle) -> None:
    w = wallet()
    with httpx.Client(timeout=5) as http:
        funded = fund(http, w, urlmap(sandbox), Decimal("1.00"))
        assert funded == "funded 10.00 USDC from the faucet"
        assert fund(http, w, urlmap(sandbox), Decimal("1.00")) == (
            "balance 10.00 USDC, at least --primgate-min-balance 1.00: not funded"
        )
        assert fund(http, w, urlmap(sandbox), Decimal("50")) == (
            "recently funded (faucet rate limit, retry after 7200 s)"
        )
    assert sandbox.state()["state"]["faucet"]["calls"] == {"usdc": 2, "usdc_rate_limited": 1}


def test_fund_failure_is_a_clear_error(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(["path=/faucet/v1/faucet/usdc,status=503"])
    w = wallet()
    with httpx.Client(timeout=5) as http, pytest.raises(WalletError) as info:
        fund(http, w, urlmap(sandbox), Decimal("1.00"))
    assert str(info.value).startswith(
        f"wallet could not be funded: faucet at {sandbox.url}/faucet/v1/faucet/usdc answered 503"
    )
