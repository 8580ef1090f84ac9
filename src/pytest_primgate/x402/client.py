"""``X402Client``: an ``httpx.Client`` that pays 402 challenges, at most once per request.

Auto-payment runs as an ``httpx.Auth`` flow (the client's default auth); ``pay`` pays a
challenge the caller already parsed. Spend controls run before anything is signed. The
client never shows the key or a payment header: not in its repr, not in any error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from pytest_primgate.model import Payment
from pytest_primgate.x402.codec import (
    EXPOSE_HEADERS,
    PAYMENT_RESPONSE,
    PAYMENT_SIGNATURE,
    X_PAYMENT,
    X_PAYMENT_RESPONSE,
    Challenge,
    decode_settlement,
    encode_header,
    parse_challenge,
)
from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.networks import caip2_of, find_network
from pytest_primgate.x402.signer import sign_authorization
from pytest_primgate.x402.spend import SpendCounter, SpendPolicy

TEST_ID_EXTENSION = "primgate_test_id"
"""Request extension carrying the test id recorded with an auto-paid request."""


def again_after_paying(request: httpx.Request) -> str:
    """The error text for a server that still answers 402 once paid."""
    return f"402 again after paying for {request.method} {request.url.copy_with(query=None)}"


@dataclass(frozen=True)
class _Pending:
    requirement: dict[str, Any]
    version: int
    amount: Decimal
    test_id: str


class _PaymentAuth(httpx.Auth):
    """Send; on 402 pay once and resend; a second 402 is an error, never a second payment."""

    requires_request_body = True
    requires_response_body = True

    def __init__(self, client: X402Client) -> None:
        self._client = client

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield request
        if response.status_code != 402:
            return
        challenge = parse_challenge(response)
        test_id = str(request.extensions.get(TEST_ID_EXTENSION, ""))
        pending, headers = self._client._authorize(challenge, test_id)
        request.headers.update(headers)
        response = yield request
        self._client._settled(pending, request, response)
        if response.status_code == 402:
            raise X402Error(again_after_paying(request))


def _rewriter(rewrite: Callable[[str], str]) -> Callable[[httpx.Request], None]:
    """A request hook sending live prim URLs where the URL map says (e.g. the sandbox)."""

    def hook(request: httpx.Request) -> None:
        target = rewrite(str(request.url))
        if target != str(request.url):
            request.url = httpx.URL(target)
            request.headers["Host"] = request.url.netloc.decode("ascii")

    return hook


class X402Client(httpx.Client):
    """HTTP client that pays x402 challenges with ``account`` under ``policy``."""

    def __init__(
        self,
        account: Any,
        policy: SpendPolicy,
        *,
        timeout: float,
        network: str | None = None,
        rewrite: Callable[[str], str] | None = None,
        counter: SpendCounter | None = None,
        **kwargs: Any,
    ) -> None:
        hooks = {"request": [_rewriter(rewrite)]} if rewrite is not None else None
        super().__init__(timeout=timeout, auth=_PaymentAuth(self), event_hooks=hooks, **kwargs)
        self._account = account
        self.policy = policy
        self.network = network
        self.payments: list[Payment] = []
        self.signatures = 0
        """Authorizations signed so far (each one sent at most once)."""
        self._counter = counter or SpendCounter()
        """Committed total (signed and not refused) that the budget applies to."""
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """Checksummed address of the paying account."""
        return str(self._account.address)

    def __repr__(self) -> str:
        return f"<X402Client payer={self.address} payments={len(self.payments)}>"

    def total_spent(self) -> Decimal:
        """USDC paid in accepted payments so far."""
        total = Decimal(0)
        for p in list(self.payments):
            known = find_network(p.network)
            total += Decimal(p.amount).scaleb(-(known.decimals if known else 6))
        return total

    def _authorize(
        self, challenge: Challenge, test_id: str
    ) -> tuple[_Pending, dict[str, str]]:
        """Choose a requirement (spend controls first), reserve its amount, sign it."""
        chosen: list[dict[str, Any]] = []

        def reserve(total: Decimal) -> Decimal:
            chosen.append(self.policy.choose(challenge, spent=total, network=self.network))
            return total + self.policy.amount(chosen[0])

        self._counter.update(reserve)
        requirement = chosen[0]
        amount = self.policy.amount(requirement)
        try:
            payload = sign_authorization(
                self._account, requirement, version=challenge.version,
                resource=challenge.resource,
            )
        except BaseException:
            self._counter.update(lambda total: total - amount)
            raise
        with self._lock:
            self.signatures += 1
        name = PAYMENT_SIGNATURE if challenge.version == 2 else X_PAYMENT
        headers = {
            name: encode_header(payload),
            EXPOSE_HEADERS: f"{PAYMENT_RESPONSE},{X_PAYMENT_RESPONSE}",
        }
        return _Pending(requirement, challenge.version, amount, test_id), headers

    def _settled(
        self, pending: _Pending, request: httpx.Request, response: httpx.Response
    ) -> Payment | None:
        """Record an accepted payment; release the reservation of a refused one."""
        if response.status_code == 402:
            self._counter.update(lambda total: total - pending.amount)
            return None
        try:
            settlement = decode_settlement(response) or {}
        except X402Error:
            settlement = {}
        req = pending.requirement
        transaction = settlement.get("transaction")
        payment = Payment(
            test_id=pending.test_id,
            amount=str(req.get("amount", req.get("maxAmountRequired", ""))),
            asset=str(req.get("asset", "")),
            network=caip2_of(str(req.get("network", ""))),
            pay_to=str(req.get("payTo", "")),
            transaction=transaction if isinstance(transaction, str) else "",
            url=str(request.url.copy_with(query=None)),
            x402_version=pending.version,
            payer=self.address,
        )
        with self._lock:
            self.payments.append(payment)
        return payment

    def pay(self, request: httpx.Request, challenge: Challenge, *, test_id: str) -> httpx.Response:
        """Pay ``challenge`` once and resend ``request``; a 402 answer is returned, not re-paid."""
        pending, headers = self._authorize(challenge, test_id)
        request.read()
        paid = httpx.Request(
            request.method, request.url, headers=request.headers.copy(),
            content=request.content, extensions=dict(request.extensions),
        )
        paid.headers.update(headers)
        # On a transport error the server may have settled: the reservation stays.
        response = self.send(paid, auth=None)
        self._settled(pending, paid, response)
        return response


def make_x402_client(
    account: Any,
    policy: SpendPolicy,
    *,
    timeout: float,
    network: str | None = None,
    rewrite: Callable[[str], str] | None = None,
    counter: SpendCounter | None = None,
    transport: httpx.BaseTransport | None = None,
) -> X402Client:
    """A paying client; ``network`` restricts payments to one network (CAIP-2 or v1 name);
    ``rewrite`` maps each request URL (``UrlMap.rewrite``) before it is sent; ``counter``
    holds the committed total the budget applies to (shared between processes if a file);
    ``transport`` (e.g. the retrying one) sits below the payment flow, so a re-sent paid
    request carries the same authorization."""
    return X402Client(account, policy, timeout=timeout, network=network, rewrite=rewrite,
                      counter=counter, transport=transport)
