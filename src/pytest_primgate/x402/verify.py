"""Off-chain verification of an ``exact`` EIP-3009 payment, with the official error codes.

Used by the sandbox paywall and by the local facilitator of the interop tests. Pure: the
caller owns the clock, the set of used nonces and the balances.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.networks import caip2_of
from pytest_primgate.x402.signer import amount_of, domain_for, recover_authorization

INVALID_PAYLOAD = "invalid_payload"
INVALID_VERSION = "invalid_x402_version"
INVALID_SCHEME = "invalid_scheme"
INVALID_NETWORK = "invalid_network"
INVALID_SIGNATURE = "invalid_exact_evm_payload_signature"
RECIPIENT_MISMATCH = "invalid_exact_evm_payload_recipient_mismatch"
VALUE_MISMATCH = "invalid_exact_evm_payload_authorization_value_mismatch"
VALID_AFTER = "invalid_exact_evm_payload_authorization_valid_after"
VALID_BEFORE = "invalid_exact_evm_payload_authorization_valid_before"
NONCE_USED = "invalid_exact_evm_nonce_already_used"
INSUFFICIENT_FUNDS = "insufficient_funds"
VALID_BEFORE_BUFFER = 6
"""Seconds ``validBefore`` must still lie ahead (as the official facilitator)."""


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification: ``reason`` is an x402 error code ('' when ok)."""

    ok: bool
    reason: str = ""
    payer: str = ""


def nonce_key(authorization: dict[str, Any]) -> tuple[str, str]:
    """Key of an authorization in the set of used nonces: (payer, nonce), lower-cased."""
    return str(authorization.get("from", "")).lower(), str(authorization.get("nonce", "")).lower()


def _fail(reason: str, payer: str = "") -> VerifyResult:
    return VerifyResult(False, reason, payer)


def verify_payment(
    payload: dict[str, Any],
    requirement: dict[str, Any],
    *,
    now: int,
    seen_nonces: Container[tuple[str, str]],
    balance_of: Callable[[str], int],
    version: int | None = None,
) -> VerifyResult:
    """Check signature, recipient, exact amount, time window, replay and balance, in that order."""
    inner = payload.get("payload")
    got_version = payload.get("x402Version")
    if got_version not in (1, 2) or (version is not None and got_version != version):
        return _fail(INVALID_VERSION)
    if not isinstance(inner, dict):
        return _fail(INVALID_PAYLOAD)
    auth, signature = inner.get("authorization"), inner.get("signature")
    if not isinstance(auth, dict) or not isinstance(signature, str):
        return _fail(INVALID_PAYLOAD)
    sender = auth.get("from")
    if not isinstance(sender, str) or not is_address(sender):
        return _fail(INVALID_PAYLOAD)
    payer = str(to_checksum_address(sender))
    chosen = payload.get("accepted") if got_version == 2 else payload
    if not isinstance(chosen, dict):
        return _fail(INVALID_PAYLOAD, payer)
    if chosen.get("scheme") != "exact" or requirement.get("scheme", "exact") != "exact":
        return _fail(INVALID_SCHEME, payer)
    if caip2_of(str(chosen.get("network"))) != caip2_of(str(requirement.get("network"))):
        return _fail(INVALID_NETWORK, payer)
    try:
        signer = recover_authorization(auth, signature, domain_for(requirement))
        expected = amount_of(requirement)
        value = int(str(auth["value"]))
        valid_after = int(str(auth["validAfter"]))
        valid_before = int(str(auth["validBefore"]))
    except (X402Error, KeyError, ValueError):
        return _fail(INVALID_PAYLOAD, payer)
    if signer.lower() != payer.lower():
        return _fail(INVALID_SIGNATURE, payer)
    if str(auth.get("to", "")).lower() != str(requirement.get("payTo", "")).lower():
        return _fail(RECIPIENT_MISMATCH, payer)
    if value != expected:
        return _fail(VALUE_MISMATCH, payer)
    if valid_after > now:
        return _fail(VALID_AFTER, payer)
    if valid_before < now + VALID_BEFORE_BUFFER:
        return _fail(VALID_BEFORE, payer)
    if nonce_key(auth) in seen_nonces:
        return _fail(NONCE_USED, payer)
    if balance_of(payer) < value:
        return _fail(INSUFFICIENT_FUNDS, payer)
    return VerifyResult(True, "", payer)
