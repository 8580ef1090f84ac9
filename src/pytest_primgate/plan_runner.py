"""One attempt of one plan test over HTTP: build the request, pay when the plan says so, check.

Free tests use a plain keep-alive ``httpx.Client``. Paid tests send the request unpaid first
(the answer must be a valid x402 challenge: that proves the paywall is wired), then pay once
through the x402 client and check the paid answer. Every failure has a precise reason for the
terminal and a generic one for holdout mode, which must not reveal the test's text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from pytest_primgate import checks
from pytest_primgate.bounded import DEFAULT_MAX_BYTES, ResponseLimitError, send_bounded
from pytest_primgate.model import AttemptResult
from pytest_primgate.urlmap import UrlMap

if TYPE_CHECKING:
    from pytest_primgate.manifests.plan import PlanTest
    from pytest_primgate.x402.client import X402Client

BODY_HEAD = 500
SECRET_HEADERS = frozenset(
    {"payment-signature", "x-payment", "authorization", "cookie", "x-internal-key"}
)


@dataclass(frozen=True)
class PreparedTest:
    """A plan test with its templates rendered: ready to send, or blocked on a variable."""

    method: str
    url: str
    body: bytes | None
    content_type: str | None
    expected_body: Any
    body_equals: str | None
    unresolved: tuple[str, ...]
    unresolved_in: str


def prepare(test: PlanTest, variables: Mapping[str, str], urlmap: UrlMap) -> PreparedTest:
    """Render the endpoint, input and expectations; note variables left unresolved."""
    endpoint = checks.render(test.endpoint, variables)
    payload = checks.render(test.input, variables)
    missing_endpoint = checks.unresolved(endpoint)
    missing_input = checks.unresolved(payload)
    body: bytes | None = None
    content_type: str | None = None
    if isinstance(payload, str):
        body, content_type = payload.encode(), "text/plain"
    elif payload is not None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        content_type = "application/json"
    extra = tuple(n for n in missing_input if n not in missing_endpoint)
    unresolved = (*missing_endpoint, *extra)
    where = "endpoint" if missing_endpoint else "input" if missing_input else ""
    return PreparedTest(
        method=test.method,
        url=urlmap.rewrite(endpoint),
        body=body,
        content_type=content_type,
        expected_body=checks.render(test.expected_body, variables),
        body_equals=(
            checks.render(test.body_equals, variables) if test.body_equals is not None else None
        ),
        unresolved=unresolved,
        unresolved_in=where,
    )


@dataclass(frozen=True)
class Outcome:
    """Internal: a finished attempt before it becomes an ``AttemptResult``."""

    result: AttemptResult


def _result(
    outcome: str,
    reason: str,
    generic: str,
    *,
    redact: bool,
    detail: str = "",
    status: int | None = None,
    started: float,
    captures: dict[str, str] | None = None,
) -> AttemptResult:
    return AttemptResult(
        outcome=outcome,  # type: ignore[arg-type]
        reason=generic if redact else reason,
        detail="" if redact else detail,
        status_code=status,
        duration=time.perf_counter() - started,
        captures=captures or {},
    )


def _headers_text(headers: httpx.Headers) -> str:
    lines = []
    for name, value in headers.items():
        shown = "<redacted>" if name.lower() in SECRET_HEADERS else value
        lines.append(f"    {name}: {shown}")
    return "\n".join(lines)


def _body_head(response: httpx.Response) -> str:
    raw = response.content[:BODY_HEAD]
    text = raw.decode("utf-8", errors="replace")
    more = " …" if len(response.content) > BODY_HEAD else ""
    return text + more


def _detail(response: httpx.Response, expected: str, problem: str) -> str:
    request = response.request
    return (
        f"request: {request.method} {request.url}\n"
        f"  headers:\n{_headers_text(request.headers)}\n"
        f"expected: {expected}\n"
        f"actual:   {response.status_code}\n"
        f"problem:  {problem}\n"
        f"body (first {BODY_HEAD} bytes):\n    {_body_head(response)}"
    )


def _expected_text(test: PlanTest) -> str:
    statuses = "/".join(str(s) for s in test.expected_status)
    return f"status {statuses}"


def _transport_failure(
    exc: httpx.HTTPError, url: str, *, redact: bool, started: float, timeout: float
) -> AttemptResult:
    if isinstance(exc, httpx.ConnectTimeout):
        why = f"connect timeout after {timeout:g} s"
    elif isinstance(exc, httpx.ConnectError | httpx.UnsupportedProtocol):
        why = str(exc) or type(exc).__name__
    else:
        why = ""
    if why:
        return _result(
            "unreachable", f"unreachable: {url} ({why})", "endpoint unreachable",
            redact=redact, started=started,
        )
    if isinstance(exc, httpx.TimeoutException):
        return _result(
            "failed", f"timeout after {timeout:g} s: {url}", f"timed out after {timeout:g} s",
            redact=redact, started=started,
        )
    message = str(exc) or type(exc).__name__
    return _result(
        "failed", f"connection error: {message} ({url})", "connection error",
        redact=redact, started=started,
    )


def _json_body(response: httpx.Response) -> tuple[bool, Any]:
    try:
        return True, response.json()
    except ValueError:
        return False, None


def check_response(
    test: PlanTest, prepared: PreparedTest, response: httpx.Response, *, redact: bool,
    started: float,
) -> AttemptResult:
    """Check a final response against the test's expectations and apply its captures."""
    status = response.status_code
    excused = checks.counts_as_pass(test.notes).get(status)
    if excused is not None and not checks.status_ok(status, test.expected_status):
        return _result(
            "passed", f"{status} {excused} (counts as pass)", "", redact=redact,
            status=status, started=started,
        )
    if not checks.status_ok(status, test.expected_status):
        expected = _expected_text(test)
        return _result(
            "failed",
            f"expected {expected}, got {status}",
            f"status {status}, {expected.replace('status ', 'expected ')}",
            redact=redact, status=status, started=started,
            detail=_detail(response, expected, f"status {status}"),
        )
    if prepared.body_equals is not None and response.text != prepared.body_equals:
        got = response.text[:200]
        return _result(
            "failed", f"body mismatch: expected {prepared.body_equals!r}, got {got!r}",
            "body mismatch", redact=redact, status=status, started=started,
            detail=_detail(response, f"body {prepared.body_equals!r}", "body mismatch"),
        )
    body: Any = None
    parsed = False
    if test.has_body_shape or test.captures:
        parsed, body = _json_body(response)
    if test.has_body_shape:
        problem = (
            checks.match_shape(body, prepared.expected_body)
            if parsed else "$: expected JSON body, got non-JSON"
        )
        if problem is not None:
            return _result(
                "failed", f"shape mismatch: {problem}", "shape mismatch",
                redact=redact, status=status, started=started,
                detail=_detail(response, "body shape", problem),
            )
    captures: dict[str, str] = {}
    for name, path in test.captures:
        found, value = checks.resolve_capture(body, path) if parsed else (False, None)
        if not found:
            problem = f"capture {name!r} not found at {path}"
            return _result(
                "failed", f"missing capture: {problem}", "missing capture",
                redact=redact, status=status, started=started,
                detail=_detail(response, f"a value at {path}", problem),
            )
        captures[name] = checks.capture_value(value)
    return _result("passed", "", "", redact=redact, status=status, started=started,
                   captures=captures)


def retry_extensions(test: PlanTest, *, paid: bool) -> dict[str, object]:
    """How the retry transport may treat this test's requests (docs/gate.md).

    Statuses the notes count as pass are answers, never retried. A request is replay-safe when
    a repeat cannot do harm: the unpaid probe of a paid test (a paid route refuses it with 402
    before processing anything) and a test whose notes accept the repeat's 4xx answer ("409 =
    already registered, counts as pass"). The paid request itself is replay-safe through its
    authorization: one nonce settles once.
    """
    from pytest_primgate.transport.retry import ANSWERS_EXTENSION, REPLAY_SAFE_EXTENSION

    answers = frozenset(checks.counts_as_pass(test.notes))
    safe = paid or any(400 <= code < 500 for code in answers)
    return {ANSWERS_EXTENSION: answers, REPLAY_SAFE_EXTENSION: safe}


def run_attempt(
    test: PlanTest,
    prepared: PreparedTest,
    *,
    http: httpx.Client,
    payer: Callable[[], X402Client | None],
    test_id: str,
    redact: bool,
    timeout: float,
    network: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> AttemptResult:
    """Send one attempt of ``test`` and check it; never raises for HTTP or payment problems.

    ``network`` is the plan's (the run pays there unless an option pins another). Every
    response is read by ``send_bounded``: at most ``max_bytes`` decoded bytes, and ``timeout``
    seconds in total per request (connect, headers and body).
    """
    from pytest_primgate.x402.codec import parse_challenge
    from pytest_primgate.x402.errors import PaymentRefused, X402Error

    started = time.perf_counter()
    paid = checks.needs_payment(test)
    client: httpx.Client = http
    x402: X402Client | None = None
    if paid:
        x402 = payer()
        if x402 is not None:
            client = x402
    headers = {"content-type": prepared.content_type} if prepared.content_type else {}
    request = client.build_request(
        prepared.method, prepared.url, content=prepared.body, headers=headers,
        extensions={"primgate_test_id": test_id, **retry_extensions(test, paid=paid)},
    )
    def send(outgoing: httpx.Request) -> httpx.Response:
        return send_bounded(client, outgoing, max_bytes=max_bytes, deadline=timeout)

    try:
        response = send(request)
    except ResponseLimitError as exc:
        return _result("failed", str(exc), str(exc), redact=redact, started=started)
    except httpx.HTTPError as exc:
        return _transport_failure(exc, prepared.url, redact=redact, started=started,
                                  timeout=timeout)
    if not paid:
        if response.status_code == 402:
            return _result(
                "failed", "route expected free but demanded payment",
                "status 402, expected free route", redact=redact, status=402, started=started,
                detail=_detail(response, _expected_text(test), "402 Payment Required"),
            )
        return check_response(test, prepared, response, redact=redact, started=started)
    excused = checks.counts_as_pass(test.notes).get(response.status_code)
    if response.status_code != 402:
        if excused is not None:
            return check_response(test, prepared, response, redact=redact, started=started)
        return _result(
            "failed",
            f"route expected payment but answered {response.status_code} without a 402 challenge",
            f"status {response.status_code}, expected 402 challenge",
            redact=redact, status=response.status_code, started=started,
            detail=_detail(response, "402 with an x402 challenge", "no payment demanded"),
        )
    try:
        challenge = parse_challenge(response)
    except X402Error as exc:
        return _result(
            "failed", f"invalid 402 challenge: {exc}", "invalid 402 challenge",
            redact=redact, status=402, started=started,
            detail=_detail(response, "a valid x402 challenge", str(exc)),
        )
    if x402 is None:
        return _result(
            "failed", "payment required: no x402 client", "payment required: no x402 client",
            redact=redact, status=402, started=started,
        )
    try:
        paid_response = x402.pay(request, challenge, test_id=test_id, network=network,
                                 issuer=response.request.url, send=send)
    except ResponseLimitError as exc:
        return _result("failed", str(exc), str(exc), redact=redact, status=402,
                       started=started)
    except PaymentRefused as exc:
        return _result("failed", f"payment refused: {exc}", "payment refused",
                       redact=redact, status=402, started=started)
    except X402Error as exc:
        return _result("failed", f"payment failed: {exc}", "payment failed",
                       redact=redact, status=402, started=started)
    except httpx.HTTPError as exc:
        return _transport_failure(exc, prepared.url, redact=redact, started=started,
                                  timeout=timeout)
    if paid_response.status_code == 402:
        return _result(
            "failed", "402 again after paying", "status 402 after payment",
            redact=redact, status=402, started=started,
            detail=_detail(paid_response, _expected_text(test), "402 after payment"),
        )
    return check_response(test, prepared, paid_response, redact=redact, started=started)
