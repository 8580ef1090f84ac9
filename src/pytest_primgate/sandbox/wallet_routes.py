"""wallet.sh: EIP-191 registration, wallet details, spending policy, fund requests, pause.

Every route but registration is paid; the payer must own the wallet (registered it or is it).
A deactivated wallet is gone: later reads answer 404.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_address, to_checksum_address

from pytest_primgate.sandbox.ledger import to_usdc
from pytest_primgate.sandbox.routing import BadRequest, cursor_page, guarded, json_object
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse
from pytest_primgate.wallet import iso_now, registration_message

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "wallet"
SIGNATURE_WINDOW_SECONDS = 300
DEFAULT_CHAIN = "eip155:8453"
REGISTER_FIELDS = ("address", "chain", "label", "registered_at", "created_at")
SCOPES = ("all", "send", "swap")
PRICES = {
    "GET /v1/wallets": "0.001",
    "GET /v1/wallets/{address}": "0.001",
    "DELETE /v1/wallets/{address}": "0.01",
    "POST /v1/wallets/{address}/fund-request": "0.001",
    "GET /v1/wallets/{address}/fund-requests": "0.001",
    "POST /v1/fund-requests/{id}/approve": "0.01",
    "POST /v1/fund-requests/{id}/deny": "0.001",
    "GET /v1/wallets/{address}/policy": "0.001",
    "PUT /v1/wallets/{address}/policy": "0.005",
    "POST /v1/wallets/{address}/pause": "0.001",
    "POST /v1/wallets/{address}/resume": "0.001",
}
"""x402 prices (USDC) of wallet.sh's paid routes, as its llms.txt states them."""


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
    fund_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Fund requests by id (``fr_<n>``), in creation order."""
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
            self.fund_requests.clear()
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
            400, "invalid_request", "Signature timestamp expired (>5 minutes)"
        )
    try:
        signer = Account.recover_message(
            encode_defunct(text=registration_message(address, timestamp)), signature=signature
        )
    except Exception:
        signer = ""
    if str(signer).lower() != address.lower():
        return SandboxResponse.error(403, "forbidden", "Signature does not match address")
    checksummed = str(to_checksum_address(address))
    now = iso_now()
    record = {
        "address": checksummed,
        "chain": str(body.get("chain") or DEFAULT_CHAIN),
        "label": body.get("label") if isinstance(body.get("label"), str) else None,
        "registered_at": now,
        "created_at": now,
        "created_by": checksummed,
        "paused": False,
        "policy": None,
    }
    with registry._lock:
        if checksummed.lower() in registry.wallets:
            return SandboxResponse.error(409, "duplicate_request", "Wallet already registered")
        registry.wallets[checksummed.lower()] = record
    return SandboxResponse.json(201, {k: record[k] for k in REGISTER_FIELDS})


def _day_reset() -> str:
    tomorrow = datetime.now(UTC).date().toordinal() + 1
    return datetime.fromordinal(tomorrow).replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def _limit(value: object, name: str) -> str | None:
    """A policy limit: a non-negative decimal string, or null (no limit)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            if float(value) >= 0:
                return value
        except ValueError:
            pass
    raise BadRequest(f"{name} must be a non-negative decimal string or null")


def routes(app: SandboxApp) -> list[Route]:
    """wallet.sh routes: registration free, the rest at their prim.sh prices."""
    registry = app.state.setdefault("wallet", WalletRegistry())
    ledger = app.ledger

    def owned(request: SandboxRequest) -> dict[str, Any]:
        """The wallet of the ``address`` path parameter, owned by the payer (404, 403)."""
        record: dict[str, Any] | None = registry.wallets.get(request.params["address"].lower())
        if record is None:
            raise BadRequest("Wallet not found", 404, "not_found")
        payer = str(request.payer).lower()
        if payer not in (record["address"].lower(), record["created_by"].lower()):
            raise BadRequest("Caller does not own this wallet", 403, "forbidden")
        return record

    def balance(record: dict[str, Any]) -> str:
        return to_usdc(ledger.balance(record["address"]))

    def policy_of(record: dict[str, Any]) -> dict[str, Any]:
        policy = record["policy"] or {"max_per_tx": None, "max_per_day": None,
                                      "allowed_primitives": None}
        return {"wallet_address": record["address"], **policy, "daily_spent": "0.00",
                "daily_reset_at": _day_reset()}

    def item(record: dict[str, Any]) -> dict[str, Any]:
        funded = ledger.balance(record["address"]) > 0
        return {"address": record["address"], "chain": record["chain"],
                "balance": balance(record), "eth_balance": "0.000000", "funded": funded,
                "paused": record["paused"], "created_at": record["created_at"]}

    def list_wallets(request: SandboxRequest) -> SandboxResponse:
        """List registered wallets owned by the calling wallet."""
        payer = str(request.payer).lower()
        with registry._lock:
            mine = sorted((item(r) for r in registry.wallets.values()
                           if payer in (r["address"].lower(), r["created_by"].lower())),
                          key=lambda r: str(r["address"]))
        return SandboxResponse.json(200, cursor_page(request, mine, "address"))

    def get_wallet(request: SandboxRequest) -> SandboxResponse:
        """Get full wallet details including balance, policy, and status."""
        with registry._lock:
            record = owned(request)
            policy = None
            if record["policy"] is not None:
                full = policy_of(record)
                policy = {k: full[k] for k in ("max_per_tx", "max_per_day", "daily_spent",
                                               "daily_reset_at")}
            body = {**item(record), "created_by": record["created_by"], "policy": policy}
            body.pop("created_at")
            body["created_at"] = record["created_at"]
        return SandboxResponse.json(200, body)

    def deactivate(request: SandboxRequest) -> SandboxResponse:
        """Permanently deactivate a wallet; its pending fund requests are cancelled."""
        with registry._lock:
            record = owned(request)
            del registry.wallets[record["address"].lower()]
            for fr in registry.fund_requests.values():
                if fr["wallet_address"] == record["address"] and fr["status"] == "pending":
                    fr["status"] = "denied"
        return SandboxResponse.json(200, {"address": record["address"], "deactivated": True,
                                          "deactivated_at": iso_now()})

    def create_fund_request(request: SandboxRequest) -> SandboxResponse:
        """Request USDC funding for a wallet."""
        data = json_object(request)
        amount, reason = data.get("amount"), data.get("reason")
        if not isinstance(amount, str) or not isinstance(reason, str) or not reason:
            raise BadRequest("amount (decimal string) and reason (string) are required")
        try:
            if float(amount) <= 0:
                raise ValueError(amount)
        except ValueError:
            raise BadRequest("amount must be a positive decimal string") from None
        with registry._lock:
            record = owned(request)
            fr_id = f"fr_{len(registry.fund_requests) + 1:06d}"
            fr = {"id": fr_id, "wallet_address": record["address"], "amount": amount,
                  "reason": reason, "status": "pending", "created_at": iso_now()}
            registry.fund_requests[fr_id] = fr
        return SandboxResponse.json(200, dict(fr))

    def list_fund_requests(request: SandboxRequest) -> SandboxResponse:
        """List all fund requests for a wallet."""
        with registry._lock:
            record = owned(request)
            mine = [dict(fr) for fr in registry.fund_requests.values()
                    if fr["wallet_address"] == record["address"]]
        return SandboxResponse.json(200, cursor_page(request, mine, "id"))

    def decide(request: SandboxRequest, verdict: str) -> dict[str, Any]:
        fr: dict[str, Any] | None = registry.fund_requests.get(request.params["id"])
        if fr is None:
            raise BadRequest("Fund request not found", 404, "not_found")
        record = registry.wallets.get(fr["wallet_address"].lower())
        if record is None or str(request.payer).lower() not in (
                record["address"].lower(), record["created_by"].lower()):
            raise BadRequest(f"Caller not authorized to {verdict[:-1]}", 403, "forbidden")
        if fr["status"] != "pending":
            raise BadRequest(f"Fund request already {fr['status']}", 409, "duplicate_request")
        fr["status"] = verdict
        return fr

    def approve(request: SandboxRequest) -> SandboxResponse:
        """Approve a pending fund request; returns the address to send USDC to."""
        with registry._lock:
            fr = decide(request, "approved")
            chain = registry.wallets[fr["wallet_address"].lower()]["chain"]
        return SandboxResponse.json(200, {
            "id": fr["id"], "status": "approved", "funding_address": fr["wallet_address"],
            "amount": fr["amount"], "chain": chain, "approved_at": iso_now()})

    def deny(request: SandboxRequest) -> SandboxResponse:
        """Deny a pending fund request."""
        data = json_object(request, allow_empty=True)
        reason = data.get("reason")
        if reason is not None and not isinstance(reason, str):
            raise BadRequest("reason must be a string")
        with registry._lock:
            fr = decide(request, "denied")
        return SandboxResponse.json(200, {"id": fr["id"], "status": "denied", "reason": reason,
                                          "denied_at": iso_now()})

    def get_policy(request: SandboxRequest) -> SandboxResponse:
        """Get the spending policy for a wallet."""
        with registry._lock:
            return SandboxResponse.json(200, policy_of(owned(request)))

    def put_policy(request: SandboxRequest) -> SandboxResponse:
        """Update the spending policy (fields optional; null removes a limit)."""
        data = json_object(request)
        update: dict[str, Any] = {}
        if "maxPerTx" in data:
            update["max_per_tx"] = _limit(data["maxPerTx"], "maxPerTx")
        if "maxPerDay" in data:
            update["max_per_day"] = _limit(data["maxPerDay"], "maxPerDay")
        if "allowedPrimitives" in data:
            allowed = data["allowedPrimitives"]
            if allowed is not None and (not isinstance(allowed, list)
                                        or not all(isinstance(a, str) for a in allowed)):
                raise BadRequest("allowedPrimitives must be an array of hostnames or null")
            update["allowed_primitives"] = allowed
        with registry._lock:
            record = owned(request)
            policy = record["policy"] or {"max_per_tx": None, "max_per_day": None,
                                          "allowed_primitives": None}
            record["policy"] = {**policy, **update}
            return SandboxResponse.json(200, policy_of(record))

    def scope_of(request: SandboxRequest) -> str:
        data = json_object(request, allow_empty=True)
        scope = data.get("scope", "all")
        if scope not in SCOPES:
            raise BadRequest("scope must be one of all, send, swap")
        return str(scope)

    def pause(request: SandboxRequest) -> SandboxResponse:
        """Pause operations for a wallet."""
        scope = scope_of(request)
        with registry._lock:
            record = owned(request)
            record["paused"] = True
        return SandboxResponse.json(200, {"wallet_address": record["address"], "paused": True,
                                          "scope": scope, "paused_at": iso_now()})

    def resume(request: SandboxRequest) -> SandboxResponse:
        """Resume operations for a paused wallet."""
        scope = scope_of(request)
        with registry._lock:
            record = owned(request)
            record["paused"] = False
        return SandboxResponse.json(200, {"wallet_address": record["address"], "paused": False,
                                          "scope": scope, "resumed_at": iso_now()})

    handlers = {
        "GET /v1/wallets": list_wallets,
        "GET /v1/wallets/{address}": get_wallet,
        "DELETE /v1/wallets/{address}": deactivate,
        "POST /v1/wallets/{address}/fund-request": create_fund_request,
        "GET /v1/wallets/{address}/fund-requests": list_fund_requests,
        "POST /v1/fund-requests/{id}/approve": approve,
        "POST /v1/fund-requests/{id}/deny": deny,
        "GET /v1/wallets/{address}/policy": get_policy,
        "PUT /v1/wallets/{address}/policy": put_policy,
        "POST /v1/wallets/{address}/pause": pause,
        "POST /v1/wallets/{address}/resume": resume,
    }
    out = [Route("POST", PRIM, "/v1/wallets", lambda request: register(registry, request))]
    for spec, handler in handlers.items():
        method, pattern = spec.split(" ", 1)
        out.append(Route(method, PRIM, pattern, guarded(handler), price=PRICES[spec]))
    return out
