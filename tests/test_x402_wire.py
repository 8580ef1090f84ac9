"""Pure x402 logic: header codec, challenge parsing, EIP-3009 signing and recovery, verifier."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from pytest_primgate.x402 import verify as v
from pytest_primgate.x402.codec import (
    decode_header,
    decode_settlement,
    encode_header,
    parse_challenge,
)
from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.signer import (
    TWA_TYPES,
    domain_for,
    recover_authorization,
    sign_authorization,
)

USDC_SEPOLIA = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
SPEC_AUTH = {
    "from": "0x857b06519E91e3A54538791bDbb0E22373e36b66",
    "to": PAY_TO,
    "value": "10000",
    "validAfter": "1740672089",
    "validBefore": "1740672154",
    "nonce": "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480",
}
SPEC_SIG = (
    "0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8"
    "dbbf5836e9bd15092f9ecab05ded3d6293af148b571c"
)


def requirement(**overrides: Any) -> dict[str, Any]:
    """A v2 Base Sepolia USDC requirement of 0.01."""
    req: dict[str, Any] = {
        "scheme": "exact", "network": "eip155:84532", "amount": "10000",
        "asset": USDC_SEPOLIA, "payTo": PAY_TO, "maxTimeoutSeconds": 60,
        "extra": {"name": "USDC", "version": "2"},
    }
    req.update(overrides)
    return req


def domain(name: str = "USDC", chain_id: int = 84532) -> dict[str, Any]:
    return {"name": name, "version": "2", "chainId": chain_id, "verifyingContract": USDC_SEPOLIA}


# -- spec vector ---------------------------------------------------------------------------


def test_spec_vector_recovers_to_from() -> None:
    assert recover_authorization(SPEC_AUTH, SPEC_SIG, domain()) == SPEC_AUTH["from"]


@pytest.mark.parametrize(("name", "chain_id"), [("USDC", 8453), ("USD Coin", 84532)])
def test_spec_vector_wrong_domain_recovers_elsewhere(name: str, chain_id: int) -> None:
    assert recover_authorization(SPEC_AUTH, SPEC_SIG, domain(name, chain_id)) != SPEC_AUTH["from"]


def test_domain_from_extra_and_network() -> None:
    assert domain_for(requirement()) == domain()
    v1 = requirement(network="base-sepolia")
    assert domain_for(v1)["chainId"] == 84532
    assert domain_for(requirement(network="eip155:8453", extra={"name": "USD Coin",
                                                                  "version": "2"}))["name"] == (
        "USD Coin"
    )


# -- signing -------------------------------------------------------------------------------


def test_sign_v2_payload_shape_and_recovery() -> None:
    account = Account.create()
    now = int(time.time())
    resource = {"url": "http://127.0.0.1/x", "description": "d", "mimeType": "application/json"}
    payload = sign_authorization(account, requirement(), version=2, resource=resource, now=now)
    assert payload["x402Version"] == 2
    assert payload["accepted"] == requirement()
    assert payload["resource"] == resource
    auth = payload["payload"]["authorization"]
    assert auth["from"] == account.address
    assert auth["to"] == PAY_TO
    assert auth["value"] == "10000"
    assert int(auth["validAfter"]) < now
    assert auth["validBefore"] == str(now + 60)
    assert all(isinstance(auth[k], str) for k in ("value", "validAfter", "validBefore"))
    assert auth["nonce"].startswith("0x") and len(bytes.fromhex(auth["nonce"][2:])) == 32
    sig = payload["payload"]["signature"]
    assert len(bytes.fromhex(sig[2:])) == 65 and sig[-2:] in ("1b", "1c")
    # Our digest agrees with eth-account's own EIP-712 encoder.
    typed = {**auth, **{k: int(auth[k]) for k in ("value", "validAfter", "validBefore")}}
    reference = Account.recover_message(
        encode_typed_data(domain(), TWA_TYPES, typed), signature=sig
    )
    assert reference == account.address
    assert recover_authorization(auth, sig, domain()) == account.address


def test_sign_v1_payload_shape() -> None:
    account = Account.create()
    req = requirement(network="base-sepolia", maxAmountRequired="5000")
    del req["amount"]
    payload = sign_authorization(account, req, version=1, resource=None)
    assert set(payload) == {"x402Version", "scheme", "network", "payload"}
    assert payload["x402Version"] == 1 and payload["network"] == "base-sepolia"
    assert payload["payload"]["authorization"]["value"] == "5000"


def test_nonces_are_fresh() -> None:
    account = Account.create()
    nonces = {
        sign_authorization(account, requirement(), version=2, resource=None)["payload"][
            "authorization"]["nonce"]
        for _ in range(5)
    }
    assert len(nonces) == 5


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"payTo": "0x123"}, "requirement field 'payTo' is not an address"),
        ({"amount": "1.5"}, "requirement field 'amount' is not a decimal amount"),
        ({"extra": {}, "network": "eip155:1"}, "requirement has no extra.name/extra.version"),
        ({"network": "solana"}, "unknown network 'solana'"),
    ],
)
def test_sign_rejects_bad_requirements(override: dict[str, Any], message: str) -> None:
    with pytest.raises(X402Error, match=message.replace(".", r"\.")):
        sign_authorization(Account.create(), requirement(**override), version=2, resource=None)


# -- codec ---------------------------------------------------------------------------------


def challenge_response(
    headers: dict[str, str] | None = None, body: bytes = b"{}"
) -> httpx.Response:
    return httpx.Response(402, headers=headers or {}, content=body)


def test_header_round_trip() -> None:
    obj = {"a": 1, "b": ["x", {"c": None}]}
    assert decode_header(encode_header(obj)) == obj
    assert base64.b64decode(encode_header(obj)) == b'{"a":1,"b":["x",{"c":null}]}'


@pytest.mark.parametrize("name", ["PAYMENT-REQUIRED", "payment-required", "Payment-Required"])
def test_parse_v2_header_any_case(name: str) -> None:
    required = {"x402Version": 2, "error": "pay", "resource": {"url": "u"},
                "accepts": [requirement()]}
    challenge = parse_challenge(challenge_response({name: encode_header(required)}))
    assert challenge.version == 2
    assert challenge.accepts == (requirement(),)
    assert challenge.resource == {"url": "u"}
    assert challenge.error == "pay"


def test_parse_v1_body() -> None:
    body = {"x402Version": 1, "error": "X-PAYMENT header is required",
            "accepts": [requirement(network="base-sepolia")]}
    challenge = parse_challenge(challenge_response(body=json.dumps(body).encode()))
    assert challenge.version == 1 and challenge.resource is None


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"PAYMENT-REQUIRED": "%%%not-base64%%%"}, b"",
         "PAYMENT-REQUIRED header is not valid base64"),
        ({"PAYMENT-REQUIRED": base64.b64encode(b"{nope").decode()}, b"",
         "PAYMENT-REQUIRED header is not base64 of JSON"),
        ({"PAYMENT-REQUIRED": encode_header([1])}, b"",
         "PAYMENT-REQUIRED header is not base64 of a JSON object"),
        ({"PAYMENT-REQUIRED": encode_header({"x402Version": 2, "accepts": []})}, b"",
         "PAYMENT-REQUIRED header has no 'accepts' requirements"),
        ({"PAYMENT-REQUIRED": encode_header({"x402Version": 3, "accepts": [{}]})}, b"",
         "PAYMENT-REQUIRED header has x402Version 3, expected 1 or 2"),
        ({}, b'{"error": "pay me"}',
         "402 without a PAYMENT-REQUIRED header or an x402 v1 JSON body"),
    ],
)
def test_parse_malformed(headers: dict[str, str], body: bytes, message: str) -> None:
    with pytest.raises(X402Error) as info:
        parse_challenge(challenge_response(headers, body))
    assert str(info.value) == message


def test_decode_settlement_v2_v1_and_none() -> None:
    settled = {"success": True, "transaction": "0xab", "network": "eip155:84532"}
    for name in ("payment-response", "X-PAYMENT-RESPONSE"):
        response = httpx.Response(200, headers={name: encode_header(settled)})
        assert decode_settlement(response) == settled
    assert decode_settlement(httpx.Response(200)) is None
    with pytest.raises(X402Error, match="PAYMENT-RESPONSE header is not valid base64"):
        decode_settlement(httpx.Response(200, headers={"PAYMENT-RESPONSE": "@@"}))


# -- verifier ------------------------------------------------------------------------------


def _verify(payload: dict[str, Any], req: dict[str, Any], *, now: int | None = None,
            seen: set[tuple[str, str]] | None = None, balance: int = 10**9) -> v.VerifyResult:
    return v.verify_payment(payload, req, now=now or int(time.time()), seen_nonces=seen or set(),
                            balance_of=lambda _addr: balance)


def test_verify_accepts_and_rejects_each_rule() -> None:
    account = Account.create()
    req = requirement()
    payload = sign_authorization(account, req, version=2, resource=None)
    now = int(time.time())
    assert _verify(payload, req) == v.VerifyResult(True, "", account.address)
    assert _verify(payload, requirement(payTo=account.address)).reason == v.RECIPIENT_MISMATCH
    assert _verify(payload, requirement(amount="20000")).reason == v.VALUE_MISMATCH
    assert _verify(payload, req, now=now - 3600).reason == v.VALID_AFTER
    assert _verify(payload, req, now=now + 58).reason == v.VALID_BEFORE
    seen = {v.nonce_key(payload["payload"]["authorization"])}
    assert _verify(payload, req, seen=seen).reason == v.NONCE_USED
    assert _verify(payload, req, balance=9999).reason == v.INSUFFICIENT_FUNDS
    wrong_domain = requirement(extra={"name": "USD Coin", "version": "2"})
    assert _verify(payload, wrong_domain).reason == v.INVALID_SIGNATURE
    assert _verify(payload, requirement(network="eip155:8453")).reason == v.INVALID_NETWORK
    assert _verify({"x402Version": 2}, req).reason == v.INVALID_PAYLOAD
    assert _verify(payload, req, now=now).payer == account.address
    tampered = json.loads(json.dumps(payload))
    tampered["payload"]["authorization"]["value"] = "1"
    assert _verify(tampered, requirement(amount="1")).reason == v.INVALID_SIGNATURE


def test_verify_spec_vector_in_its_window() -> None:
    payload = {"x402Version": 2, "accepted": requirement(),
               "payload": {"signature": SPEC_SIG, "authorization": SPEC_AUTH}}
    assert _verify(payload, requirement(), now=1740672100).ok
