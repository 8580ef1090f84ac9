"""The paying client against real loopback servers: payments, spend controls, hostile servers.

Each adversarial test counts, at the server, how many requests arrived and how many carried a
payment header, and, at the client, how many authorizations were signed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from pytest_primgate.sandbox.process import serve_in_thread
from pytest_primgate.x402.client import X402Client, make_x402_client
from pytest_primgate.x402.codec import encode_header, parse_challenge
from pytest_primgate.x402.errors import PaymentRefused, X402Error
from pytest_primgate.x402.spend import FileSpendCounter, SpendPolicy

USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
PAYMENT_HEADERS = ("payment-signature", "x-payment")

Responder = Callable[[dict[str, str]], tuple[int, dict[str, str], bytes]]


class StubServer(ThreadingHTTPServer):
    """A loopback server answering through ``respond``; records each request's headers."""

    daemon_threads = True

    def __init__(self, respond: Responder) -> None:
        self.respond = respond
        self.seen: list[dict[str, str]] = []
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/paid"

    @property
    def payments(self) -> int:
        return sum(1 for h in self.seen if any(k in h for k in PAYMENT_HEADERS))


class _Handler(BaseHTTPRequestHandler):
    server: StubServer

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        with self.server.lock:
            self.server.seen.append(headers)
        status, out, body = self.server.respond(headers)
        self.send_response(status)
        for key, value in out.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def stub() -> Iterator[Callable[[Responder], StubServer]]:
    servers: list[StubServer] = []

    def start(respond: Responder) -> StubServer:
        server = StubServer(respond)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


def req(**overrides: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "scheme": "exact", "network": "eip155:84532", "amount": "10000", "asset": USDC,
        "payTo": PAY_TO, "maxTimeoutSeconds": 60, "extra": {"name": "USDC", "version": "2"},
    }
    out.update(overrides)
    return out


def challenge_header(*accepts: dict[str, Any]) -> str:
    return encode_header({"x402Version": 2, "error": "pay", "resource": {"url": "u"},
                          "accepts": list(accepts)})


def paywall(header: str, *, pay_ok: bool = True) -> Responder:
    """402 with ``header``; once paid, 200 with a settlement (or 402 again)."""

    def respond(headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if "payment-signature" in headers and pay_ok:
            settled = encode_header({"success": True, "transaction": "0x" + "ab" * 32,
                                     "network": "eip155:84532"})
            return 200, {"PAYMENT-RESPONSE": settled, "Content-Type": "application/json"}, b"{}"
        return 402, {"PAYMENT-REQUIRED": header}, b"{}"

    return respond


def client(**policy: Any) -> X402Client:
    return make_x402_client(Account.create(), SpendPolicy(**policy), timeout=5.0)


def test_pays_once_and_records(stub: Callable[[Responder], StubServer]) -> None:
    server = stub(paywall(challenge_header(req())))
    with client() as c:
        response = c.get(server.url, extensions={"primgate_test_id": "ST-1"})
        assert response.status_code == 200
        [payment] = c.payments
        assert payment.test_id == "ST-1" and payment.amount == "10000"
        assert payment.asset == USDC and payment.network == "eip155:84532"
        assert payment.pay_to == PAY_TO and payment.transaction == "0x" + "ab" * 32
        assert payment.payer == c.address and payment.x402_version == 2
        assert c.total_spent() == Decimal("0.01")
    assert len(server.seen) == 2 and server.payments == 1
    paid = server.seen[1]
    assert "x-payment" not in paid


@pytest.mark.parametrize(
    ("accepts", "policy", "message"),
    [
        ([req(amount="2000000")], {},
         "payment of 2.00 USDC exceeds --primgate-max-payment 1.00 USDC"),
        ([req(network="eip155:1")], {},
         "402 asks for eip155:1; this run pays on eip155:84532"),
        ([req(asset="0x" + "11" * 20)], {},
         "unknown asset '0x1111111111111111111111111111111111111111' on eip155:84532"),
        ([req(payTo="0x" + "22" * 20)], {"pay_to": (PAY_TO.lower(),)},
         "payTo 0x2222222222222222222222222222222222222222 is not in --primgate-pay-to"),
    ],
    ids=["over-cap", "unknown-network", "unknown-asset", "payto-not-allowed"],
)
def test_refusals_sign_nothing(
    stub: Callable[[Responder], StubServer], accepts: list[dict[str, Any]],
    policy: dict[str, Any], message: str,
) -> None:
    server = stub(paywall(challenge_header(*accepts)))
    with client(**policy) as c:
        with pytest.raises(PaymentRefused) as info:
            c.get(server.url)
        assert str(info.value) == message
        assert c.signatures == 0 and c.payments == []
    assert len(server.seen) == 1 and server.payments == 0


def test_acceptable_requirement_chosen_among_others(
    stub: Callable[[Responder], StubServer],
) -> None:
    server = stub(paywall(challenge_header(req(network="eip155:1"), req(scheme="upto"), req())))
    with client() as c:
        assert c.get(server.url).status_code == 200
    assert server.payments == 1


def test_budget_exhausted_mid_run(stub: Callable[[Responder], StubServer]) -> None:
    server = stub(paywall(challenge_header(req())))
    with client(budget=Decimal("0.025")) as c:
        assert c.get(server.url).status_code == 200
        assert c.get(server.url).status_code == 200
        with pytest.raises(PaymentRefused) as info:
            c.get(server.url)
        assert str(info.value) == (
            "payment of 0.01 USDC would bring the session total to 0.03 USDC, "
            "over --primgate-budget 0.025 USDC"
        )
        assert c.signatures == 2 and len(c.payments) == 2
    assert len(server.seen) == 5 and server.payments == 2


def test_402_again_after_paying(stub: Callable[[Responder], StubServer]) -> None:
    server = stub(paywall(challenge_header(req()), pay_ok=False))
    with client() as c:
        with pytest.raises(X402Error) as info:
            c.get(server.url)
        assert str(info.value) == f"402 again after paying for GET {server.url}"
        assert c.signatures == 1
        assert [p.settlement for p in c.payments] == ["unsettled"]
        assert c.total_spent() == Decimal("0.01") == c.committed()
    assert len(server.seen) == 2 and server.payments == 1


def test_pay_pays_a_parsed_challenge_exactly_once(stub: Callable[[Responder], StubServer]) -> None:
    server = stub(paywall(challenge_header(req()), pay_ok=False))
    with client() as c:
        request = c.build_request("POST", server.url, json={"a": 1})
        first = c.send(request, auth=None)
        assert first.status_code == 402
        again = c.pay(request, parse_challenge(first), test_id="P-1")
        assert again.status_code == 402
        assert c.signatures == 1 and [p.settlement for p in c.payments] == ["unsettled"]
        assert "payment-signature" not in request.headers
    assert len(server.seen) == 2 and server.payments == 1


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("!!!", "PAYMENT-REQUIRED header is not valid base64"),
        ("bm90IGpzb24=", "PAYMENT-REQUIRED header is not base64 of JSON"),
        (challenge_header(req(scheme="upto")),
         "challenge offers no 'exact' requirement (schemes: upto)"),
    ],
    ids=["bad-base64", "bad-json", "no-exact"],
)
def test_malformed_challenges(
    stub: Callable[[Responder], StubServer], header: str, message: str
) -> None:
    server = stub(paywall(header))
    with client() as c:
        with pytest.raises(X402Error) as info:
            c.get(server.url)
        assert str(info.value) == message
        assert c.signatures == 0
    assert len(server.seen) == 1 and server.payments == 0


def test_no_secret_in_repr_or_errors(stub: Callable[[Responder], StubServer]) -> None:
    account = Account.create()
    key = bytes(account.key).hex()
    server = stub(paywall(challenge_header(req()), pay_ok=False))
    with make_x402_client(account, SpendPolicy(), timeout=5.0) as c:
        with pytest.raises(X402Error) as info:
            c.get(server.url)
        assert key not in repr(c) and key not in str(info.value)
        assert repr(c) == f"<X402Client payer={account.address} payments=1>"
        signature_header = server.seen[1]["payment-signature"]
        assert signature_header not in str(info.value) and signature_header not in repr(c)


# -- against the sandbox paywall ------------------------------------------------------------


def test_sandbox_paid_routes_v2_and_v1() -> None:
    from pytest_primgate.sandbox.config import SandboxConfig

    config = SandboxConfig(v1_routes=("GET /infer/v1/models",))
    with serve_in_thread(config) as sandbox, client() as c:
        assert c.post(f"{sandbox.url}/faucet/v1/faucet/usdc",
                      json={"address": c.address}).status_code == 200
        v2 = c.post(f"{sandbox.url}/infer/v1/chat",
                    json={"model": "x", "messages": [{"role": "user", "content": "hi"}]})
        v1 = c.get(f"{sandbox.url}/infer/v1/models")
        assert (v2.status_code, v1.status_code) == (200, 200)
        assert "payment-response" in v2.headers and "x-payment-response" in v1.headers
        assert [p.x402_version for p in c.payments] == [2, 1]
        assert all(p.transaction.startswith("0x") for p in c.payments)
        state = sandbox.state()
        assert state["state"]["paywall"]["settled"] == 2
        assert state["state"]["paywall"]["received"] == 2


def test_sandbox_unfunded_wallet_gets_402_insufficient_funds() -> None:
    with serve_in_thread() as sandbox, client() as c:
        with pytest.raises(X402Error, match="402 again after paying"):
            c.get(f"{sandbox.url}/store/v1/buckets")
        assert sandbox.state()["state"]["paywall"]["rejected"] == {"insufficient_funds": 1}
        assert [p.settlement for p in c.payments] == ["unsettled"] and c.signatures == 1


def test_budget_shared_between_clients_through_a_file(
    stub: Callable[[Responder], StubServer], tmp_path: Path
) -> None:
    server = stub(paywall(challenge_header(req())))
    policy = SpendPolicy(budget=Decimal("0.025"))
    counter_path = tmp_path / "spent.txt"
    one = make_x402_client(Account.create(), policy, timeout=5.0,
                           counter=FileSpendCounter(counter_path))
    two = make_x402_client(Account.create(), policy, timeout=5.0,
                           counter=FileSpendCounter(counter_path))
    with one, two:
        assert one.get(server.url).status_code == 200
        assert two.get(server.url).status_code == 200
        with pytest.raises(PaymentRefused, match=r"over --primgate-budget 0\.025 USDC"):
            one.get(server.url)
    assert server.payments == 2 and Decimal(counter_path.read_text()) == Decimal("0.02")


def test_plan_runner_sequence_against_sandbox() -> None:
    """Unpaid send (auth=None) shows the 402; ``pay`` pays it once and records the test id."""
    with serve_in_thread() as sandbox, client() as c:
        c.post(f"{sandbox.url}/faucet/v1/faucet/usdc", json={"address": c.address})
        request = c.build_request("GET", f"{sandbox.url}/store/v1/buckets",
                                  extensions={"primgate_test_id": "ST-2"})
        unpaid = c.send(request, auth=None)
        assert unpaid.status_code == 402 and c.signatures == 0
        paid = c.pay(request, parse_challenge(unpaid), test_id="ST-2")
        assert paid.status_code == 200
        assert [p.test_id for p in c.payments] == ["ST-2"]
        assert sandbox.state()["state"]["paywall"]["settled"] == 1
