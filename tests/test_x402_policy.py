"""Pure payment rules: text sanitizing, option choice, settlement state, network parsing."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from pytest_primgate.x402.codec import Challenge, encode_header
from pytest_primgate.x402.errors import PaymentRefused, X402Error
from pytest_primgate.x402.networks import is_mainnet, pinned_network
from pytest_primgate.x402.secret import Secret
from pytest_primgate.x402.settlement import settlement_state
from pytest_primgate.x402.signer import sign_authorization
from pytest_primgate.x402.spend import SpendPolicy
from pytest_primgate.x402.text import clean
from tests.hostile import option


def challenge(*accepts: dict[str, object]) -> Challenge:
    return Challenge(version=2, accepts=tuple(accepts), resource=None, error="")


def test_clean_escapes_control_characters_and_bounds_length() -> None:
    assert clean("upto\nPASSED\r\x1b[2K\t\u2028") == "upto\\nPASSED\\r\\x1b[2K\\t\\u2028"
    assert clean("x" * 500) == "x" * 80 + "…"
    assert clean(12) == "12" and clean(None) == "None"


def test_cheapest_option_wins_ties_go_to_the_first() -> None:
    policy = SpendPolicy()
    first, second = option("10000", payTo="0x" + "01" * 20), option("10000")
    assert policy.choose(challenge(option("900000"), first, second),
                         spent=Decimal(0)) is first


def test_budget_applies_to_the_cheapest_option() -> None:
    policy = SpendPolicy(budget=Decimal("0.02"))
    with pytest.raises(PaymentRefused, match=r"would bring the session total to 0\.03 USDC"):
        policy.choose(challenge(option("900000"), option("10000")), spent=Decimal("0.02"))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"amount": "¹²"}, "requirement field 'amount' is not a decimal amount"),
        ({"amount": "1" * 31}, "requirement field 'amount' is not a decimal amount"),
        ({"amount": -5}, "requirement field 'amount' is not a decimal amount"),
        ({"payTo": 7}, "requirement field 'payTo' is not an address"),
        ({"asset": "usdc"}, "requirement field 'asset' is not an address"),
        ({"extra": {}, "network": "eip155:84532"}, None),
        ({"maxTimeoutSeconds": "60"}, "maxTimeoutSeconds '60' is not a positive integer"),
        ({"maxTimeoutSeconds": 0}, "maxTimeoutSeconds 0 is not a positive integer"),
    ],
    ids=["unicode-digits", "too-long", "negative", "payto", "asset", "known-domain",
         "timeout-str", "timeout-0"],
)
def test_malformed_options_are_skipped_with_a_reason(
    bad: dict[str, object], reason: str | None
) -> None:
    policy = SpendPolicy()
    broken = option(**bad)
    if reason is None:  # extra name/version fall back to the network's USDC domain
        assert policy.choose(challenge(broken), spent=Decimal(0)) is broken
        return
    with pytest.raises(X402Error) as info:
        policy.choose(challenge(broken), spent=Decimal(0))
    assert str(info.value) == reason
    good = option("20000")
    assert policy.choose(challenge(broken, good), spent=Decimal(0)) is good


def test_timeout_cap_bounds_valid_before() -> None:
    from eth_account import Account

    payload = sign_authorization(Account.create(), option(maxTimeoutSeconds=10**80),
                                 version=2, resource=None, now=1_000_000, max_timeout=3600)
    assert payload["payload"]["authorization"]["validBefore"] == str(1_000_000 + 3600)


def _response(status: int, header: str | None) -> httpx.Response:
    headers = {"PAYMENT-RESPONSE": header} if header is not None else {}
    return httpx.Response(status, headers=headers)


@pytest.mark.parametrize(
    ("status", "header", "state"),
    [
        (200, encode_header({"success": True, "transaction": "0x1"}), "settled"),
        (200, None, "unsettled"),
        (402, None, "unsettled"),
        (402, encode_header({"success": False}), "unsettled"),
        (200, encode_header({"success": False}), "contradicting"),
        (200, encode_header({"success": "yes"}), "contradicting"),
        (200, "%%%", "contradicting"),
        (500, "%%%", "unsettled"),
        (500, encode_header({"success": True}), "contradicting"),
    ],
)
def test_settlement_state(status: int, header: str | None, state: str) -> None:
    assert settlement_state(_response(status, header))[0] == state


def test_no_answer_is_unsettled() -> None:
    assert settlement_state(None) == ("unsettled", {})


@pytest.mark.parametrize(
    ("text", "network"),
    [("Base Sepolia (eip155:84532)", "eip155:84532"), ("base-sepolia", "eip155:84532"),
     ("eip155:8453", "eip155:8453"), ("Base Sepolia", None), ("", None)],
)
def test_pinned_network(text: str, network: str | None) -> None:
    assert pinned_network(text) == network


def test_mainnet_chains() -> None:
    assert is_mainnet("eip155:8453") and is_mainnet("base") and is_mainnet("eip155:1")
    assert not is_mainnet("eip155:84532") and not is_mainnet("nonsense")


def test_secret_repr_is_redacted() -> None:
    secret = Secret({"PAYMENT-SIGNATURE": "c2VjcmV0"})
    assert repr(secret) == str(secret) == "<secret: 1 header(s)>"
    assert "c2VjcmV0" not in repr([secret]) and secret.reveal() == {"PAYMENT-SIGNATURE": "c2VjcmV0"}


def test_deeply_nested_challenge_is_a_one_line_error() -> None:
    import base64

    from pytest_primgate.x402.codec import parse_challenge

    header = base64.b64encode(b"[" * 50_000 + b"]" * 50_000).decode()
    one_line = r"^PAYMENT-REQUIRED header is not base64 of (a )?JSON( object)?$"
    with pytest.raises(X402Error, match=one_line):
        parse_challenge(httpx.Response(402, headers={"PAYMENT-REQUIRED": header}))
    with pytest.raises(X402Error, match=r"^402 without a PAYMENT-REQUIRED header"):
        parse_challenge(httpx.Response(402, content=b"[" * 50_000))
