"""A hostile x402 server on loopback: it misbehaves on purpose, one way per ``Behaviour``.

It answers a 402 challenge to every unpaid request and does what its behaviour says with a
paid one (402 again, redirect elsewhere, 500, a lying settlement header, ...). It counts the
signed authorizations it receives (requests whose payment header decodes to a payload with a
signature) and keeps every raw payment header value, so tests can search outputs for them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_primgate.x402.codec import decode_header, encode_header

USDC = "0x036CbD53842c5426634e7929541eC2318f3dCF7e"
MAINNET_USDC = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
PAY_TO = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
PAYMENT_HEADERS = ("payment-signature", "x-payment")


def option(amount: str = "10000", **overrides: Any) -> dict[str, Any]:
    """One ``exact`` requirement on Base Sepolia USDC (v2 shape)."""
    req: dict[str, Any] = {
        "scheme": "exact", "network": "eip155:84532", "amount": amount, "asset": USDC,
        "payTo": PAY_TO, "maxTimeoutSeconds": 60,
        "extra": {"name": "USDC", "version": "2"},
    }
    req.update(overrides)
    return req


def success(network: str = "eip155:84532") -> str:
    """A settlement header saying the payment settled."""
    return encode_header({"success": True, "transaction": "0x" + "ab" * 32,
                          "network": network, "payer": ""})


@dataclass
class Behaviour:
    """What the server offers and how it answers a paid request."""

    accepts: list[dict[str, Any]] = field(default_factory=lambda: [option()])
    paid_status: int = 200
    paid_headers: dict[str, str] = field(default_factory=lambda: {"PAYMENT-RESPONSE": success()})
    redirect_to: str = ""
    """Answer a paid request with a 307 to this URL (the payment is never accepted here)."""
    drop: bool = False
    """Close the connection on a paid request without answering."""
    free: bool = False
    """Answer 200 to everything (a landing page); payment headers are still recorded."""


class Hostile(ThreadingHTTPServer):
    """The server; ``signed`` counts signed authorizations received, ``headers`` keeps them."""

    daemon_threads = True

    def __init__(self, behaviour: Behaviour, host: str = "127.0.0.1") -> None:
        self.behaviour = behaviour
        self.lock = threading.Lock()
        self.requests = 0
        self.headers: list[str] = []
        self.payloads: list[dict[str, Any]] = []
        self.paths: list[str] = []
        super().__init__((host, 0), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/paid"

    @property
    def signed(self) -> int:
        """Signed authorizations received."""
        with self.lock:
            return len(self.payloads)


class _Handler(BaseHTTPRequestHandler):
    server: Hostile

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        value = next((v for k, v in self.headers.items() if k.lower() in PAYMENT_HEADERS), None)
        behaviour = self.server.behaviour
        with self.server.lock:
            self.server.requests += 1
            self.server.paths.append(self.path)
            if value is not None:
                self.server.headers.append(value)
                try:
                    payload = decode_header(value)
                except Exception:
                    payload = {}
                inner = payload.get("payload")
                if isinstance(inner, dict) and isinstance(inner.get("signature"), str):
                    self.server.payloads.append(payload)
        if behaviour.free:
            self._send(200, {}, b'{"landing": true}')
        elif value is None:
            challenge = {"x402Version": 2, "error": "payment required",
                         "resource": {"url": self.path}, "accepts": behaviour.accepts}
            self._send(402, {"PAYMENT-REQUIRED": encode_header(challenge)}, b"{}")
        elif behaviour.drop:
            self.close_connection = True
        elif behaviour.redirect_to:
            self._send(307, {"Location": behaviour.redirect_to}, b"")
        else:
            body = json.dumps({"ok": True}).encode()
            self._send(behaviour.paid_status, behaviour.paid_headers, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def hostile(behaviour: Behaviour | None = None, host: str = "127.0.0.1") -> Iterator[Hostile]:
    """Serve ``behaviour`` on ``host`` (a free port) for the duration of the block."""
    server = Hostile(behaviour or Behaviour(), host)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
