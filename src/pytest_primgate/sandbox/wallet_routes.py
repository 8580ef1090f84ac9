"""wallet.sh registration: ``POST /wallet/v1/wallets`` with a verified EIP-191 signature."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_address, to_checksum_address

from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse
from pytest_primgate.wallet import iso_now, registration_message

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "wallet"
SIGNATURE_WINDOW_SECONDS = 300
DEFAULT_CHAIN = "eip155:8453"


def _parse_iso(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass
class WalletRegistry:
    """Registered wallets by lower-case address."""

    wallets: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        """Registered addresses and the number of registration requests."""
        with self._lock:
            return {"registered": sorted(w["address"] for w in self.wallets.values()),
                    "attempts": self.attempts}

    def reset(self) -> None:
        """Forget every registration."""
        with self._lock:
            self.wallets.clear()
            self.attempts = 0


def register(registry: WalletRegistry, request: SandboxRequest) -> SandboxResponse:
    """Verify timestamp window and signature, then register once (201, 400, 403, 409)."""
    with registry._lock:
        registry.attempts += 1
    try:
        body = request.json()
    except ValueError:
        return SandboxResponse.error(400, "invalid_request", "Body is not valid JSON")
    if not isinstance(body, dict):
        return SandboxResponse.error(400, "invalid_request", "Body must be a JSON object")
    address, signature = body.get("address"), body.get("signature")
    timestamp = body.get("timestamp")
    if not isinstance(address, str) or not is_address(address):
        return SandboxResponse.error(400, "invalid_request", "address must be an EVM address")
    if not isinstance(signature, str) or not isinstance(timestamp, str):
        return SandboxResponse.error(400, "invalid_request", "signature and timestamp are required")
    moment = _parse_iso(timestamp)
    if moment is None:
        return SandboxResponse.error(400, "invalid_request", "timestamp must be ISO 8601")
    age = (datetime.now(UTC) - moment).total_seconds()
    if abs(age) > SIGNATURE_WINDOW_SECONDS:
        return SandboxResponse.error(
            400, "signature_expired", "Signature timestamp expired (>5 minutes)"
        )
    try:
        signer = Account.recover_message(
            encode_defunct(text=registration_message(address, timestamp)), signature=signature
        )
    except Exception:
        signer = ""
    if str(signer).lower() != address.lower():
        return SandboxResponse.error(403, "invalid_signature", "Signature verification failed")
    checksummed = str(to_checksum_address(address))
    now = iso_now()
    record = {
        "address": checksummed,
        "chain": str(body.get("chain") or DEFAULT_CHAIN),
        "label": body.get("label") if isinstance(body.get("label"), str) else None,
        "registered_at": now,
        "created_at": now,
    }
    with registry._lock:
        if checksummed.lower() in registry.wallets:
            return SandboxResponse.error(409, "already_registered", "Wallet already registered")
        registry.wallets[checksummed.lower()] = record
    return SandboxResponse.json(201, record)


def routes(app: SandboxApp) -> list[Route]:
    """``POST /wallet/v1/wallets`` (free)."""
    registry = app.state.setdefault("wallet", WalletRegistry())
    return [Route("POST", PRIM, "/v1/wallets", lambda request: register(registry, request))]
