"""gate.sh: one-time invite codes that allowlist and fund a wallet (free, no x402).

The sandbox recognizes every code that starts with ``PRIM-`` or ``sandbox-`` (case as given);
each code can be redeemed once. Redeeming credits the wallet's USDC on the sandbox ledger.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from eth_utils.address import is_address, to_checksum_address

from pytest_primgate.sandbox.ledger import to_atomic
from pytest_primgate.sandbox.routing import BadRequest, guarded, json_object
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "gate"
CODE_PREFIXES = ("PRIM-", "sandbox-")
FUND_USDC = "5.00"
FUND_ETH = "0.001"


@dataclass
class GateState:
    """Redeemed codes: code -> wallet."""

    redeemed: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"redeemed": len(self.redeemed)}

    def reset(self) -> None:
        with self.lock:
            self.redeemed.clear()


def _tx(*parts: str) -> str:
    return "0x" + hashlib.sha256("/".join(parts).encode()).hexdigest()


def routes(app: SandboxApp) -> list[Route]:
    """``POST /gate/v1/redeem`` (free)."""
    state = GateState()
    app.state[PRIM] = state
    network = app.config.network

    def redeem(request: SandboxRequest) -> SandboxResponse:
        """Redeem an invite code: the wallet is allowlisted and funded."""
        data = json_object(request)
        code, wallet = data.get("code"), data.get("wallet")
        if not isinstance(wallet, str) or not is_address(wallet):
            raise BadRequest("wallet must be an EVM address")
        if not isinstance(code, str) or not code:
            raise BadRequest("code is required")
        if not code.startswith(CODE_PREFIXES):
            raise BadRequest("Invite code not recognized", 400, "invalid_code")
        address = str(to_checksum_address(wallet))
        with state.lock:
            if code in state.redeemed:
                raise BadRequest("Invite code already used", 409, "code_redeemed")
            state.redeemed[code] = address
        usdc_tx = app.ledger.credit(address, to_atomic(FUND_USDC))
        registry = app.state.get("wallet")
        registered = registry is not None and address.lower() in registry.wallets
        return SandboxResponse.json(200, {
            "status": "redeemed", "wallet": address, "network": network,
            "funded": {"usdc": FUND_USDC, "eth": FUND_ETH, "usdc_tx": usdc_tx,
                       "eth_tx": _tx("eth", code, address)},
            "wallet_registered": registered, "credit_seeded": True})

    return [Route("POST", PRIM, "/v1/redeem", guarded(redeem))]
