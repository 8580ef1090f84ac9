"""EIP-3009 ``TransferWithAuthorization`` signing and recovery (EIP-712, eth-account).

The digest is built from a cached domain separator and the fixed type hash, then signed with
eth-account's public ``unsafe_sign_hash``; recovery goes through ``Account.recover_message``.
Both agree with ``eth_account.messages.encode_typed_data`` (tested against the spec vector).
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from typing import Any

from eth_account import Account
from eth_account.messages import SignableMessage
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.networks import chain_id_of, find_network

TWA_TYPES: dict[str, list[dict[str, str]]] = {
    "TransferWithAuthorization": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"},
        {"name": "nonce", "type": "bytes32"},
    ]
}
_TWA_TYPEHASH = keccak(
    b"TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,"
    b"uint256 validBefore,bytes32 nonce)"
)
_DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
VALID_AFTER_SKEW = 600
"""Seconds ``validAfter`` lies in the past (clock skew margin, as the official v1 client)."""
DEFAULT_TIMEOUT_SECONDS = 60
MAX_TIMEOUT_SECONDS = 3600
"""Default cap on ``maxTimeoutSeconds``: an authorization is never valid for longer."""
MAX_AMOUNT_DIGITS = 30
"""Longest atomic amount accepted (uint256 has 78 digits; no real price comes near 30)."""


def _address(value: object, field: str) -> str:
    if not isinstance(value, str) or not is_address(value):
        raise X402Error(f"requirement field {field!r} is not an address")
    return str(to_checksum_address(value))


def _uint(value: object, field: str) -> int:
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_AMOUNT_DIGITS:
        raise X402Error(f"requirement field {field!r} is not a decimal amount")
    return int(text)


def amount_of(requirement: dict[str, Any]) -> int:
    """Atomic amount of a requirement: ``amount`` (v2) or ``maxAmountRequired`` (v1)."""
    if "amount" in requirement:
        return _uint(requirement["amount"], "amount")
    if "maxAmountRequired" in requirement:
        return _uint(requirement["maxAmountRequired"], "maxAmountRequired")
    raise X402Error("requirement has no 'amount'")


def domain_for(requirement: dict[str, Any]) -> dict[str, Any]:
    """EIP-712 domain: name/version from ``extra`` (table fallback), chain id, asset."""
    network = str(requirement.get("network", ""))
    chain_id = chain_id_of(network)
    extra = requirement.get("extra")
    extra = extra if isinstance(extra, dict) else {}
    known = find_network(network)
    name = extra.get("name") or (known.usdc_name if known else None)
    version = extra.get("version") or (known.usdc_version if known else None)
    if not isinstance(name, str) or not isinstance(version, str):
        raise X402Error("requirement has no extra.name/extra.version for the EIP-712 domain")
    return {
        "name": name,
        "version": version,
        "chainId": chain_id,
        "verifyingContract": _address(requirement.get("asset"), "asset"),
    }


@lru_cache(maxsize=64)
def _separator(name: str, version: str, chain_id: int, contract: str) -> bytes:
    return keccak(
        _DOMAIN_TYPEHASH
        + keccak(name.encode())
        + keccak(version.encode())
        + chain_id.to_bytes(32, "big")
        + bytes(12) + bytes.fromhex(contract[2:])
    )


def domain_separator(domain: dict[str, Any]) -> bytes:
    """``hashStruct(EIP712Domain)`` of a domain dict (cached)."""
    return _separator(
        str(domain["name"]), str(domain["version"]), int(domain["chainId"]),
        str(domain["verifyingContract"]).lower(),
    )


def _nonce_bytes(nonce: str) -> bytes:
    text = nonce[2:] if nonce.startswith(("0x", "0X")) else ""
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise X402Error("authorization nonce is not 32 bytes of hex")
    return raw


def struct_hash(authorization: dict[str, Any]) -> bytes:
    """``hashStruct(TransferWithAuthorization)`` of wire-format (string) fields."""
    try:
        words = [
            bytes(12) + bytes.fromhex(str(authorization["from"])[2:]),
            bytes(12) + bytes.fromhex(str(authorization["to"])[2:]),
            int(authorization["value"]).to_bytes(32, "big"),
            int(authorization["validAfter"]).to_bytes(32, "big"),
            int(authorization["validBefore"]).to_bytes(32, "big"),
            _nonce_bytes(str(authorization["nonce"])),
        ]
    except (KeyError, TypeError, ValueError, OverflowError):
        raise X402Error("authorization is malformed") from None
    if any(len(w) != 32 for w in words):
        raise X402Error("authorization is malformed")
    return keccak(_TWA_TYPEHASH + b"".join(words))


def signable(authorization: dict[str, Any], domain: dict[str, Any]) -> SignableMessage:
    """The EIP-712 message, as ``encode_typed_data`` would build it."""
    return SignableMessage(b"\x01", domain_separator(domain), struct_hash(authorization))


def recover_authorization(
    authorization: dict[str, Any], signature: str, domain: dict[str, Any]
) -> str:
    """Checksummed address that signed ``authorization`` under ``domain``."""
    try:
        return str(Account.recover_message(signable(authorization, domain), signature=signature))
    except X402Error:
        raise
    except Exception:
        raise X402Error("signature is malformed") from None


def sign_authorization(
    account: Any,
    requirement: dict[str, Any],
    *,
    version: int,
    resource: dict[str, Any] | None,
    now: int | None = None,
    max_timeout: int = MAX_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """Sign the requirement and return the full payment payload (v2 or v1 shape); the
    authorization is valid for ``maxTimeoutSeconds`` but never longer than ``max_timeout``."""
    if version not in (1, 2):
        raise X402Error(f"unsupported x402Version {version!r}")
    domain = domain_for(requirement)
    value = amount_of(requirement)
    timeout = requirement.get("maxTimeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout <= 0:
        timeout = DEFAULT_TIMEOUT_SECONDS
    timeout = min(timeout, max_timeout)
    moment = int(time.time()) if now is None else now
    authorization = {
        "from": account.address,
        "to": _address(requirement.get("payTo"), "payTo"),
        "value": str(value),
        "validAfter": str(max(0, moment - VALID_AFTER_SKEW)),
        "validBefore": str(moment + timeout),
        "nonce": "0x" + os.urandom(32).hex(),
    }
    message = signable(authorization, domain)
    digest = keccak(b"\x19" + message.version + message.header + message.body)
    signature = "0x" + bytes(account.unsafe_sign_hash(digest).signature).hex()
    inner = {"signature": signature, "authorization": authorization}
    if version == 1:
        return {
            "x402Version": 1,
            "scheme": requirement.get("scheme", "exact"),
            "network": requirement.get("network"),
            "payload": inner,
        }
    payload: dict[str, Any] = {"x402Version": 2}
    if resource is not None:
        payload["resource"] = resource
    payload["accepted"] = requirement
    payload["payload"] = inner
    return payload
