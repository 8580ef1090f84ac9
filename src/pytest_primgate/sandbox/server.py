"""HTTP/1.1 keep-alive server on loopback: each response is written in one send, Nagle off."""

from __future__ import annotations

import socket
import struct
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pytest_primgate.sandbox.app import SandboxApp
from pytest_primgate.sandbox.config import check_loopback
from pytest_primgate.sandbox.faults import ConnectionResetFault
from pytest_primgate.sandbox.types import SandboxResponse

MAX_BODY = 128 * 1024 * 1024
"""Largest request body accepted (prim.sh's ``max_body_size``)."""

_REASONS = {s.value: s.phrase for s in HTTPStatus}


def encode_response(response: SandboxResponse, *, head: bool, close: bool) -> bytes:
    """Status line, headers and body as one buffer."""
    reason = _REASONS.get(response.status, "Unknown")
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    has_type = False
    for name, value in response.headers.items():
        low = name.lower()
        if low in ("content-length", "connection", "transfer-encoding"):
            continue
        has_type = has_type or low == "content-type"
        lines.append(f"{name}: {value}")
    if response.body and not has_type:
        lines.append("Content-Type: application/octet-stream")
    lines.append(f"Content-Length: {len(response.body)}")
    if close:
        lines.append("Connection: close")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head_bytes if head else head_bytes + response.body


class _BodyError(Exception):
    def __init__(self, response: SandboxResponse) -> None:
        super().__init__(response.status)
        self.response = response


class SandboxHandler(BaseHTTPRequestHandler):
    """Reads one request, asks the app, writes the answer in one ``sendall``."""

    protocol_version = "HTTP/1.1"
    server_version = "primgate-sandbox"
    server: SandboxServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.app.config.quiet:
            sys.stderr.write(f"sandbox: {self.address_string()} {format % args}\n")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if not length_text:
            return b""
        try:
            length = int(length_text)
        except ValueError:
            raise _BodyError(
                SandboxResponse.error(400, "invalid_request", "Bad Content-Length")
            ) from None
        if length > MAX_BODY:
            raise _BodyError(SandboxResponse.error(413, "payload_too_large", "Body too large"))
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";")[0].strip() or b"x", 16)
            except ValueError:
                raise _BodyError(
                    SandboxResponse.error(400, "invalid_request", "Bad chunked encoding")
                ) from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise _BodyError(SandboxResponse.error(413, "payload_too_large", "Body too large"))
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _dispatch(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            body = self._read_body()
        except _BodyError as exc:
            self.close_connection = True
            self._send(exc.response)
            return
        host = headers.get("host") or "{}:{}".format(*self.server.server_address[:2])
        try:
            response = self.server.app.handle(self.command, self.path, headers, body, host)
        except ConnectionResetFault:
            self._reset()
            return
        except Exception as exc:  # the app guards handlers; this is a last resort
            response = SandboxResponse.error(
                500, "internal_error", f"sandbox failed: {type(exc).__name__}"
            )
        self._send(response)
        self.log_request(response.status, len(response.body))

    def _send(self, response: SandboxResponse) -> None:
        self.wfile.write(
            encode_response(
                response, head=self.command == "HEAD", close=bool(self.close_connection)
            )
        )

    def _reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send an RST instead of a FIN."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server bound to loopback that serves one ``SandboxApp``."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, app: SandboxApp) -> None:
        host = app.config.host
        check_loopback(host)
        if host == "localhost":
            host = "127.0.0.1"
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.app = app
        super().__init__((host, app.config.port), SandboxHandler)

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` (IPv6 hosts in brackets)."""
        host, port = self.server_address[0], self.server_address[1]
        host_text = str(host) if isinstance(host, str) else host.decode()
        if ":" in host_text:
            host_text = f"[{host_text}]"
        return f"http://{host_text}:{port}"

    def server_bind(self) -> None:
        """Bind without the reverse DNS lookup ``HTTPServer.server_bind`` does."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])
