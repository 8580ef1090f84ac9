"""The sandbox paywall called directly: challenge formats and every verification rule."""

from __future__ import annotations

import json
from typing import Any

from eth_account import Account

from pytest_primgate.sandbox.ledger import Ledger
from pytest_primgate.sandbox.paywall import Paywall
from pytest_primgate.sandbox.types import SandboxRequest
from pytest_primgate.x402.codec import decode_header, encode_header
from pytest_primgate.x402.signer import sign_authorization

USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
PAY_TO = "0x5A4db0C5b1C0e9F1ab3c6F7d8E9a0b1c2D3e4f50"
URL = "http://127.0.0.1:8402/store/v1/buckets"


def request(headers: dict[str, str] | None = None) -> SandboxRequest:
    return SandboxRequest(method="POST", prim="store", path="/v1/buckets", query={},
                          headers={k.lower(): v for k, v in (headers or {}).items()},
                          body=b"", url=URL)


def setup(balance: int = 10**7) -> tuple[Paywall, Ledger, Any]:
    ledger = Ledger()
    account = Account.create()
    ledger.credit(account.address, balance)
    return Paywall(ledger, network="eip155:84532", pay_to=PAY_TO), ledger, account


def challenge(paywall: Paywall, version: int = 2) -> dict[str, Any]:
    response = paywall.check(request(), price="0.05", version=version).response
    assert response is not None and response.status == 402
    if version == 2:
        return decode_header(response.headers["PAYMENT-REQUIRED"])
    body: dict[str, Any] = json.loads(response.body)
    return body


def paid(
    account: Any, required: dict[str, Any], version: int = 2, **changes: Any
) -> dict[str, str]:
    req = {**required["accepts"][0], **changes}
    payload = sign_authorization(account, req, version=version, resource=required.get("resource"))
    return {"PAYMENT-SIGNATURE" if version == 2 else "X-PAYMENT": encode_header(payload)}


def test_v2_challenge_format() -> None:
    paywall, _, _ = setup()
    response = paywall.check(request(), price="0.05").response
    assert response is not None
    assert response.headers["Cache-Control"] == "no-store"
    required = decode_header(response.headers["PAYMENT-REQUIRED"])
    assert required["x402Version"] == 2 and required["resource"]["url"] == URL
    assert required["accepts"] == [{
        "scheme": "exact", "network": "eip155:84532", "amount": "50000", "asset": USDC,
        "payTo": PAY_TO, "maxTimeoutSeconds": 300, "extra": {"name": "USDC", "version": "2"},
    }]


def test_v1_challenge_format() -> None:
    paywall, _, _ = setup()
    body = challenge(paywall, version=1)
    assert body["x402Version"] == 1 and body["error"] == "X-PAYMENT header is required"
    [req] = body["accepts"]
    assert req["network"] == "base-sepolia" and req["maxAmountRequired"] == "50000"
    assert req["resource"] == URL and req["asset"] == USDC


def test_pay_settle_and_replay() -> None:
    paywall, ledger, account = setup()
    headers = paid(account, challenge(paywall))
    check = paywall.check(request(headers), price="0.05")
    assert check.response is None and check.payer == account.address
    settlement = decode_header(paywall.settle(check)["PAYMENT-RESPONSE"])
    assert settlement["success"] is True and settlement["payer"] == account.address
    assert ledger.balance(account.address) == 10**7 - 50000 and ledger.balance(PAY_TO) == 50000
    replay = paywall.check(request(headers), price="0.05").response
    assert replay is not None and replay.status == 402
    assert json.loads(replay.body) == {"error": "invalid_exact_evm_nonce_already_used"}


def test_v1_payment() -> None:
    paywall, _, account = setup()
    check = paywall.check(request(paid(account, challenge(paywall, 1), 1)), price="0.05", version=1)
    assert check.response is None
    assert "X-PAYMENT-RESPONSE" in paywall.settle(check)


def reason(paywall: Paywall, headers: dict[str, str]) -> str:
    response = paywall.check(request(headers), price="0.05").response
    assert response is not None and response.status == 402
    return str(decode_header(response.headers["PAYMENT-REQUIRED"])["error"])


def test_each_rejection() -> None:
    paywall, _, account = setup()
    required = challenge(paywall)
    assert reason(paywall, paid(account, required, amount="10000")) == (
        "invalid_exact_evm_payload_authorization_value_mismatch")
    assert reason(paywall, paid(account, required, payTo=account.address)) == (
        "invalid_exact_evm_payload_recipient_mismatch")
    assert reason(paywall, paid(account, required, maxTimeoutSeconds=3)) == (
        "invalid_exact_evm_payload_authorization_valid_before")
    wrong_name = paid(account, required, extra={"name": "USD Coin", "version": "2"})
    assert reason(paywall, wrong_name) == "invalid_exact_evm_payload_signature"
    poor, _, poor_account = setup(balance=10)
    assert reason(poor, paid(poor_account, challenge(poor))) == "insufficient_funds"
    assert paywall.snapshot()["settled"] == 0


def test_malformed_payment_header_400() -> None:
    paywall, _, _ = setup()
    response = paywall.check(request({"PAYMENT-SIGNATURE": "%%%"}), price="0.05").response
    assert response is not None and response.status == 400
    assert json.loads(response.body) == {
        "error": "invalid_payload", "message": "PAYMENT-SIGNATURE header is not valid base64"}


def test_v1_header_on_v2_route_is_unpaid() -> None:
    paywall, _, account = setup()
    headers = paid(account, challenge(paywall, 1), 1)
    response = paywall.check(request(headers), price="0.05", version=2).response
    assert response is not None and response.status == 402
    assert paywall.snapshot()["received"] == 0
