"""The sandbox's x402 paywall: real challenges (v2 header or v1 body) and real verification.

Every payment is checked for signature recovery, recipient, exact amount, time window,
replayed nonce and balance (``x402.verify``), then settled on the ledger at ``settle``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pytest_primgate.sandbox.ledger import InsufficientFunds, Ledger, to_atomic
from pytest_primgate.sandbox.types import SandboxRequest, SandboxResponse
from pytest_primgate.x402.codec import (
    PAYMENT_REQUIRED,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    X_PAYMENT,
    X_PAYMENT_RESPONSE,
    decode_header,
    encode_header,
)
from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.networks import find_network
from pytest_primgate.x402.verify import INSUFFICIENT_FUNDS, nonce_key, verify_payment

MAX_TIMEOUT_SECONDS = 300
UNPAID_ERROR = {2: f"{PAYMENT_SIGNATURE} header is required", 1: f"{X_PAYMENT} header is required"}


@dataclass(frozen=True)
class PaywallCheck:
    """Result of ``Paywall.check``: a response to send (402/400), or a verified payment."""

    response: SandboxResponse | None
    payer: str | None = None
    requirement: dict[str, Any] = field(default_factory=dict)
    authorization: dict[str, Any] = field(default_factory=dict)
    version: int = 2


class Paywall:
    """Demands and verifies x402 payments for the sandbox's paid routes."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        network: str,
        pay_to: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        known = find_network(network)
        if known is None:
            raise ValueError(f"sandbox paywall: unknown network {network!r}")
        self.ledger = ledger
        self.network = known
        self.pay_to = pay_to
        self.clock = clock
        self._lock = threading.Lock()
        self._nonces: set[tuple[str, str]] = set()
        self.challenges = 0
        self.received = 0
        """Requests that carried a payment header (signatures the sandbox saw)."""
        self.settled = 0
        self.settled_atomic = 0
        self.rejected: Counter[str] = Counter()

    def requirement(self, request: SandboxRequest, price: str, version: int) -> dict[str, Any]:
        """The one ``exact`` requirement of a route (v2 or v1 shape)."""
        net = self.network
        common: dict[str, Any] = {"scheme": "exact"}
        if version == 1:
            return {
                **common,
                "network": net.v1_name,
                "maxAmountRequired": str(to_atomic(price)),
                "asset": net.usdc,
                "payTo": self.pay_to,
                "resource": request.url,
                "description": self._describe(request),
                "mimeType": "application/json",
                "outputSchema": None,
                "maxTimeoutSeconds": MAX_TIMEOUT_SECONDS,
                "extra": {"name": net.usdc_name, "version": net.usdc_version},
            }
        return {
            **common,
            "network": net.caip2,
            "amount": str(to_atomic(price)),
            "asset": net.usdc,
            "payTo": self.pay_to,
            "maxTimeoutSeconds": MAX_TIMEOUT_SECONDS,
            "extra": {"name": net.usdc_name, "version": net.usdc_version},
        }

    @staticmethod
    def _describe(request: SandboxRequest) -> str:
        return f"{request.prim}.sh {request.method} {request.path}"

    def _challenge(
        self, request: SandboxRequest, requirement: dict[str, Any], version: int, error: str,
        settlement: dict[str, Any] | None = None,
    ) -> SandboxResponse:
        headers = {"Cache-Control": "no-store"}
        if version == 1:
            body = {"x402Version": 1, "error": error, "accepts": [requirement]}
            if settlement is not None:
                headers[X_PAYMENT_RESPONSE] = encode_header(settlement)
            return SandboxResponse.json(402, body, headers)
        required = {
            "x402Version": 2,
            "error": error,
            "resource": {
                "url": request.url,
                "description": self._describe(request),
                "mimeType": "application/json",
            },
            "accepts": [requirement],
        }
        headers[PAYMENT_REQUIRED] = encode_header(required)
        if settlement is not None:
            headers[PAYMENT_RESPONSE] = encode_header(settlement)
        return SandboxResponse.json(402, {"error": error} if settlement else {}, headers)

    def check(self, request: SandboxRequest, *, price: str, version: int = 2) -> PaywallCheck:
        """Verify the request's payment; a 402 challenge when absent or invalid, 400 malformed."""
        requirement = self.requirement(request, price, version)
        name = PAYMENT_SIGNATURE if version == 2 else X_PAYMENT
        header = request.headers.get(name.lower())
        if header is None:
            with self._lock:
                self.challenges += 1
            unpaid = self._challenge(request, requirement, version, UNPAID_ERROR[version])
            return PaywallCheck(unpaid)
        with self._lock:
            self.received += 1
        try:
            payload = decode_header(header)
        except X402Error as exc:
            with self._lock:
                self.rejected["invalid_payload"] += 1
            return PaywallCheck(SandboxResponse.json(
                400, {"error": "invalid_payload", "message": f"{name} header {exc}"}
            ))
        with self._lock:
            result = verify_payment(
                payload, requirement, now=int(self.clock()), seen_nonces=self._nonces,
                balance_of=self.ledger.balance, version=version,
            )
            if result.ok:
                authorization: dict[str, Any] = payload["payload"]["authorization"]
                self._nonces.add(nonce_key(authorization))
            else:
                self.rejected[result.reason] += 1
                self.challenges += 1
        if not result.ok:
            failure = {
                "success": False, "errorReason": result.reason, "transaction": "",
                "network": requirement["network"], "payer": result.payer,
            }
            return PaywallCheck(self._challenge(request, requirement, version, result.reason,
                                                failure))
        return PaywallCheck(None, result.payer, requirement, authorization, version)

    def settle(self, check: PaywallCheck) -> dict[str, str]:
        """Debit the payer on the ledger; the settlement header for the response."""
        amount = int(check.authorization["value"])
        name = PAYMENT_RESPONSE if check.version == 2 else X_PAYMENT_RESPONSE
        payer = str(check.payer)
        try:
            tx = self.ledger.debit(payer, amount, to=self.pay_to)
        except InsufficientFunds:
            with self._lock:
                self.rejected[INSUFFICIENT_FUNDS] += 1
            failure = {"success": False, "errorReason": INSUFFICIENT_FUNDS, "transaction": "",
                       "network": check.requirement["network"], "payer": payer}
            return {name: encode_header(failure)}
        with self._lock:
            self.settled += 1
            self.settled_atomic += amount
        settlement: dict[str, Any] = {
            "success": True, "transaction": tx, "network": check.requirement["network"],
            "payer": payer,
        }
        if check.version == 2:
            settlement["amount"] = str(amount)
        return {name: encode_header(settlement)}

    def snapshot(self) -> dict[str, Any]:
        """Counts of challenges, received and settled payments, and rejections by reason."""
        with self._lock:
            return {
                "challenges": self.challenges,
                "received": self.received,
                "settled": self.settled,
                "settled_atomic": self.settled_atomic,
                "rejected": dict(self.rejected),
            }

    def reset(self) -> None:
        """Forget counters and used nonces."""
        with self._lock:
            self._nonces.clear()
            self.challenges = self.received = self.settled = self.settled_atomic = 0
            self.rejected.clear()
