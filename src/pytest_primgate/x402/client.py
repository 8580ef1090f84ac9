"""``X402Client``: an ``httpx.Client`` that pays 402 challenges, at most once per request.

Auto-payment runs as an ``httpx.Auth`` flow (the client's default auth); ``pay`` pays a
challenge the caller already parsed. Spend controls run before anything is signed; the amount
is committed when the authorization is handed out. Payment headers go only to the origin that
issued the challenge. The client never shows the key or a payment header: not in its repr,
not in any error, not in a frame local (they live in a ``Secret``).
"""

from __future__ import annotations

import os
import secrets
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
    encode_header,
    parse_challenge,
)
from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.ledger import Ledger
from pytest_primgate.x402.networks import caip2_of, find_network
from pytest_primgate.x402.secret import Secret
from pytest_primgate.x402.settlement import settlement_state
from pytest_primgate.x402.signer import amount_of, sign_authorization
from pytest_primgate.x402.spend import SpendCounter, SpendPolicy
from pytest_primgate.x402.text import clean

TEST_ID_EXTENSION = "primgate_test_id"
"""Request extension carrying the test id recorded with an auto-paid request."""
NETWORK_EXTENSION = "primgate_network"
"""Request extension naming the network a request may pay on (the plan's), unless pinned."""
_ORIGIN_EXTENSION = "primgate_paid_origin"
"""Set on a paid request: the only origin its payment header may be sent to."""
_SECRET_HEADERS = (PAYMENT_SIGNATURE, X_PAYMENT)


def again_after_paying(request: httpx.Request) -> str:
    """The error text for a server that still answers 402 once paid."""
    return f"402 again after paying for {request.method} {request.url.copy_with(query=None)}"


def _origin(url: httpx.URL) -> str:
    port = url.port or {"http": 80, "https": 443}.get(url.scheme, 0)
    return f"{url.scheme}://{url.host}:{port}"


def current_test_id() -> str:
    """The node id of the running test (``$PYTEST_CURRENT_TEST`` without the phase), or ''."""
    value = os.environ.get("PYTEST_CURRENT_TEST", "")
    return value.rsplit(" (", 1)[0] if value.endswith(")") else value


@dataclass(frozen=True)
class _Pending:
    """One authorization handed out; ``secret`` holds its headers (redacted repr)."""

    requirement: dict[str, Any]
    version: int
    amount: Decimal
    test_id: str
    secret: Secret
    ref: str


def _attach(request: httpx.Request, pending: _Pending, issuer: httpx.URL) -> None:
    """Put the payment headers on ``request``, bound to the origin that issued the challenge."""
    request.headers.update(pending.secret.reveal())
    request.extensions = {**request.extensions, _ORIGIN_EXTENSION: _origin(issuer)}


def _same_origin_only(request: httpx.Request) -> None:
    """A request hook: a paid request redirected to another origin loses its payment header."""
    origin = request.extensions.get(_ORIGIN_EXTENSION)
    if origin is not None and _origin(request.url) != origin:
        for name in _SECRET_HEADERS:
            request.headers.pop(name, None)


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
        issuer = response.request.url
        if _origin(issuer) != _origin(request.url):
            request.url = issuer
        network = request.extensions.get(NETWORK_EXTENSION)
        pending = self._client._authorize(
            challenge, str(request.extensions.get(TEST_ID_EXTENSION, "") or current_test_id()),
            network=str(network) if network else None,
        )
        _attach(request, pending, issuer)
        answered: httpx.Response | None = None
        try:
            answered = yield request
        finally:
            self._client._settled(pending, request, answered)
        if answered.status_code == 402:
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
    """HTTP client that pays x402 challenges with ``account`` under ``policy``.

    ``send(request)`` (or ``get``/``post``...) pays a 402 once; spend is committed when an
    authorization is handed out, whatever the server answers afterwards.
    """

    def __init__(
        self,
        account: Any,
        policy: SpendPolicy,
        *,
        timeout: float,
        network: str | None = None,
        rewrite: Callable[[str], str] | None = None,
        counter: SpendCounter | None = None,
        ledger: Ledger | None = None,
        **kwargs: Any,
    ) -> None:
        request_hooks = [_rewriter(rewrite)] if rewrite is not None else []
        request_hooks.append(_same_origin_only)
        hooks = kwargs.pop("event_hooks", None) or {}
        hooks = {**hooks, "request": [*request_hooks, *hooks.get("request", [])]}
        super().__init__(timeout=timeout, auth=_PaymentAuth(self), event_hooks=hooks, **kwargs)
        self._account = account
        self.policy = policy
        self.network = caip2_of(network) if network else None
        """Network pinned for every request (overrides a request's plan network)."""
        self.payments: list[Payment] = []
        """Authorizations this client handed out, each with its settlement state."""
        self.signatures = 0
        """Authorizations signed so far (each one sent at most once)."""
        self.ledger = ledger or Ledger()
        if counter is not None and ledger is None:
            self.ledger.counter = counter
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        """Checksummed address of the paying account."""
        return str(self._account.address)

    def __repr__(self) -> str:
        return f"<X402Client payer={self.address} payments={len(self.payments)}>"

    def total_spent(self) -> Decimal:
        """USDC committed by this client: every authorization handed out, settled or not."""
        total = Decimal(0)
        for p in list(self.payments):
            known = find_network(p.network)
            total += Decimal(p.amount).scaleb(-(known.decimals if known else 6))
        return total

    def committed(self) -> Decimal:
        """The run's committed total the budget applies to (all processes sharing the ledger)."""
        return self.ledger.counter.update(lambda total: total)

    def _authorize(
        self, challenge: Challenge, test_id: str, *, network: str | None = None
    ) -> _Pending:
        """Choose a requirement (spend controls first), commit its amount, sign it."""
        chosen: list[dict[str, Any]] = []
        pin = self.network or network

        def reserve(total: Decimal) -> Decimal:
            chosen.clear()
            chosen.append(self.policy.choose(challenge, spent=total, network=pin))
            return total + self.policy.amount(chosen[0])

        self.ledger.counter.update(reserve)
        requirement = chosen[0]
        amount = self.policy.amount(requirement)
        try:
            secret = _sealed(self._account, requirement, challenge, self.policy.max_timeout)
        except BaseException:
            self.ledger.counter.update(lambda total: total - amount)
            raise
        with self._lock:
            self.signatures += 1
        return _Pending(requirement, challenge.version, amount, test_id, secret,
                        secrets.token_hex(8))

    def _settled(
        self, pending: _Pending, request: httpx.Request, response: httpx.Response | None
    ) -> Payment:
        """Log a handed-out authorization with what the answer says about its settlement."""
        state, settlement = settlement_state(response)
        req = pending.requirement
        transaction = settlement.get("transaction")
        payment = Payment(
            test_id=pending.test_id,
            amount=str(amount_of(req)),
            asset=str(req.get("asset", "")),
            network=caip2_of(str(req.get("network", ""))),
            pay_to=str(req.get("payTo", "")),
            transaction=clean(transaction, 100) if isinstance(transaction, str) else "",
            url=str(request.url.copy_with(query=None)),
            x402_version=pending.version,
            payer=self.address,
            settlement=state,
            ref=pending.ref,
        )
        with self._lock:
            self.payments.append(payment)
        self.ledger.record(payment)
        return payment

    def pay(
        self, request: httpx.Request, challenge: Challenge, *, test_id: str,
        network: str | None = None, issuer: httpx.URL | None = None,
        send: Callable[[httpx.Request], httpx.Response] | None = None,
    ) -> httpx.Response:
        """Pay ``challenge`` once and resend ``request``; a 402 answer is returned, not re-paid.

        ``network`` is the plan's network (used unless the client is pinned); ``send`` sends the
        paid request (default ``self.send(..., auth=None)``), e.g. bounded in time and size.
        """
        pending = self._authorize(challenge, test_id, network=network)
        request.read()
        paid = httpx.Request(
            request.method, request.url, headers=request.headers.copy(),
            content=request.content, extensions=dict(request.extensions),
        )
        _attach(paid, pending, issuer or request.url)
        response: httpx.Response | None = None
        try:
            # On a transport error the server may have settled: the reservation stays.
            response = send(paid) if send is not None else self.send(paid, auth=None)
        finally:
            self._settled(pending, paid, response)
        return response


def _sealed(
    account: Any, requirement: dict[str, Any], challenge: Challenge, max_timeout: int
) -> Secret:
    """Sign ``requirement`` and wrap the payment headers in a ``Secret``."""
    name = PAYMENT_SIGNATURE if challenge.version == 2 else X_PAYMENT
    return Secret({
        name: encode_header(sign_authorization(
            account, requirement, version=challenge.version, resource=challenge.resource,
            max_timeout=max_timeout,
        )),
        EXPOSE_HEADERS: f"{PAYMENT_RESPONSE},{X_PAYMENT_RESPONSE}",
    })


def make_x402_client(
    account: Any,
    policy: SpendPolicy,
    *,
    timeout: float,
    network: str | None = None,
    rewrite: Callable[[str], str] | None = None,
    counter: SpendCounter | None = None,
    ledger: Ledger | None = None,
    transport: httpx.BaseTransport | None = None,
) -> X402Client:
    """A paying client; ``network`` pins payments to one network (CAIP-2 or v1 name);
    ``rewrite`` maps each request URL (``UrlMap.rewrite``) before it is sent; ``ledger``
    holds the committed total the budget applies to and the payment log (shared between
    processes when it has a directory); ``transport`` (e.g. the retrying one) sits below the
    payment flow, so a re-sent paid request carries the same authorization."""
    return X402Client(account, policy, timeout=timeout, network=network, rewrite=rewrite,
                      counter=counter, ledger=ledger, transport=transport)
