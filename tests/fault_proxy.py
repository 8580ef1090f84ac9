"""A scripted HTTP proxy on loopback: forwards to the sandbox, or resets or answers on cue.

Tests give it rules (method, path, which matching request, action); it records every request
it saw (method, path, headers) so a test can assert what each re-send carried.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Rule:
    """``action`` is ``"reset"`` (RST after reading the request) or a status to answer."""

    method: str
    path: str
    action: str | int
    hits: tuple[int, ...] = (1,)
    """Which matching requests (1-based) the rule fires on; () fires on every one."""
    headers: dict[str, str] = field(default_factory=dict)
    only_paid: bool = False
    """Count only requests that carry a PAYMENT-SIGNATURE."""
    seen: int = 0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    action: str


class FaultProxy:
    """Rules, what was seen and the URL of one proxy (see ``fault_proxy``)."""

    def __init__(self, upstream: str | None) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.url = ""

    def decide(self, method: str, path: str, headers: dict[str, str]) -> Rule | None:
        with self.lock:
            for rule in self.rules:
                if rule.method != method or rule.path != path:
                    continue
                if rule.only_paid and "payment-signature" not in headers:
                    continue
                rule.seen += 1
                if not rule.hits or rule.seen in rule.hits:
                    return rule
        return None

    def count(self, method: str, path: str) -> int:
        return sum(1 for s in self.seen if (s.method, s.path) == (method, path))


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            return

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            path = urlsplit(self.path).path
            rule = proxy.decide(self.command, path, headers)
            action = "forward" if rule is None else str(rule.action)
            with proxy.lock:
                proxy.seen.append(Seen(self.command, path, headers, action))
            if rule is not None and rule.action == "reset":
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True
                return
            if rule is not None:
                payload = json.dumps({"error": {"code": "proxy_fault"}}).encode()
                self._answer(int(rule.action), payload,
                             {"Content-Type": "application/json", **rule.headers})
                return
            if proxy.upstream is None:
                self._answer(200, b'{"ok":true}', {"Content-Type": "application/json"})
                return
            up = urlsplit(proxy.upstream)
            conn = http.client.HTTPConnection(up.hostname or "127.0.0.1", up.port, timeout=30)
            try:
                forward = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "content-length")}
                conn.request(self.command, self.path, body=body or None, headers=forward)
                response = conn.getresponse()
                data = response.read()
                out = {k: v for k, v in response.getheaders()
                       if k.lower() not in ("content-length", "connection", "transfer-encoding")}
                self._answer(response.status, data, out)
            finally:
                conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

    return Handler


@contextlib.contextmanager
def fault_proxy(upstream: str | None = None) -> Iterator[FaultProxy]:
    """Serve a ``FaultProxy`` on a free loopback port; always stopped on exit."""
    proxy = FaultProxy(upstream)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
