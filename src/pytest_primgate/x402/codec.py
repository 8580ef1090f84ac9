"""x402 wire codec: base64 JSON headers, 402 challenges (v2 header, v1 body), settlements.

Header names are matched case-insensitively (httpx headers are case-insensitive mappings).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.text import clean

PAYMENT_REQUIRED = "PAYMENT-REQUIRED"
PAYMENT_SIGNATURE = "PAYMENT-SIGNATURE"
PAYMENT_RESPONSE = "PAYMENT-RESPONSE"
X_PAYMENT = "X-PAYMENT"
X_PAYMENT_RESPONSE = "X-PAYMENT-RESPONSE"
EXPOSE_HEADERS = "Access-Control-Expose-Headers"


@dataclass(frozen=True)
class Challenge:
    """A parsed 402: protocol version, the offered requirements, the resource, the error text."""

    version: int
    accepts: tuple[dict[str, Any], ...]
    resource: dict[str, Any] | None
    error: str


def encode_header(obj: Any) -> str:
    """Standard padded base64 of compact UTF-8 JSON, as every x402 header carries."""
    raw = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return base64.b64encode(raw).decode("ascii")


def decode_header(value: str) -> dict[str, Any]:
    """Inverse of ``encode_header``; X402Error (one line, no value) when malformed."""
    text = value.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise X402Error("is not valid base64") from None
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise X402Error("is not base64 of JSON") from None
    if not isinstance(obj, dict):
        raise X402Error("is not base64 of a JSON object")
    return obj


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _challenge(obj: dict[str, Any], where: str) -> Challenge:
    version = obj.get("x402Version")
    if version not in (1, 2) or isinstance(version, bool):
        raise X402Error(f"{where} has x402Version {clean(version, 20)}, expected 1 or 2")
    accepts = obj.get("accepts")
    if not isinstance(accepts, list) or not accepts:
        raise X402Error(f"{where} has no 'accepts' requirements")
    if not all(isinstance(item, dict) for item in accepts):
        raise X402Error(f"{where} has an 'accepts' entry that is not an object")
    resource = obj.get("resource")
    error = obj.get("error")
    return Challenge(
        version=int(version),
        accepts=tuple(accepts),
        resource=resource if isinstance(resource, dict) else None,
        error=error if isinstance(error, str) else "",
    )


def parse_challenge(response: httpx.Response) -> Challenge:
    """Read a 402 challenge: the v2 ``PAYMENT-REQUIRED`` header first, then a v1 JSON body."""
    header = _header(response.headers, PAYMENT_REQUIRED)
    if header is not None:
        try:
            obj = decode_header(header)
        except X402Error as exc:
            raise X402Error(f"{PAYMENT_REQUIRED} header {exc}") from None
        return _challenge(obj, f"{PAYMENT_REQUIRED} header")
    try:
        body = json.loads(response.content) if response.content else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and body.get("x402Version") == 1:
        return _challenge(body, "x402 v1 body")
    raise X402Error(
        f"{response.status_code} without a {PAYMENT_REQUIRED} header or an x402 v1 JSON body"
    )


def decode_settlement(response: httpx.Response) -> dict[str, Any] | None:
    """The decoded ``PAYMENT-RESPONSE`` (v2) or ``X-PAYMENT-RESPONSE`` (v1) header, if any."""
    for name in (PAYMENT_RESPONSE, X_PAYMENT_RESPONSE):
        value = _header(response.headers, name)
        if value is not None:
            try:
                return decode_header(value)
            except X402Error as exc:
                raise X402Error(f"{name} header {exc}") from None
    return None
