"""Raw-socket hostile HTTP server on loopback: endless bodies, gzip bombs, drips (issue 13).

Raw sockets (no HTTP framework), one daemon thread per connection, every loop bounded in
time (``MAX_SECONDS``) and stopped when the client goes away.
"""

from __future__ import annotations

import contextlib
import functools
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator

MAX_SECONDS = 60.0
"""No connection is served longer than this, whatever the client does."""


@functools.cache
def gzip_bomb(decoded_mib: int = 2048) -> bytes:
    """``decoded_mib`` MiB of zeros as one gzip member (2 GiB -> about 2 MB on the wire).

    One MiB is deflated once and ended with a full flush, which resets the compressor, so
    the same bytes can be repeated; the trailer carries the CRC and size of the whole.
    """
    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(decoded_mib):
        crc = zlib.crc32(block, crc)
    end = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush()
    size = (decoded_mib << 20) & 0xFFFFFFFF
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return header + piece * decoded_mib + end + struct.pack("<II", crc, size)


def _read_request(conn: socket.socket) -> tuple[str, bool]:
    """The request's path and whether it carries an x402 payment header."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    parts = head.split("\r\n", 1)[0].split()
    return parts[1] if len(parts) > 1 else "/", "\npayment-signature:" in head.lower()


def _challenge() -> bytes:
    """A valid x402 v2 ``PAYMENT-REQUIRED`` header line (Base Sepolia USDC, 0.01)."""
    from pytest_primgate.x402.codec import encode_header

    requirement = {
        "scheme": "exact", "network": "eip155:84532", "amount": "10000",
        "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
        "payTo": "0x" + "22" * 20, "maxTimeoutSeconds": 60,
        "extra": {"name": "USDC", "version": "2"},
    }
    header = encode_header({"x402Version": 2, "error": "pay", "resource": {"url": "u"},
                            "accepts": [requirement]})
    return b"PAYMENT-REQUIRED: " + header.encode("ascii") + b"\r\n"


def _drip_body(conn: socket.socket, alive: Callable[[], bool]) -> None:
    """Headers promising 100,000 bytes, then one space a second while ``alive()``."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 100000\r\n\r\n")
    while alive():
        conn.sendall(b" ")
        time.sleep(1.0)


def _serve(conn: socket.socket) -> None:
    started = time.monotonic()

    def alive() -> bool:
        return time.monotonic() - started < MAX_SECONDS

    with conn, contextlib.suppress(OSError):
        target, paid = _read_request(conn)
        path = "/" + target.lstrip("/").split("/", 1)[0].split("?", 1)[0]
        if path == "/paid-drip" and not paid:
            conn.sendall(b"HTTP/1.1 402 Payment Required\r\n" + _challenge()
                         + b"Connection: close\r\nContent-Length: 2\r\n\r\n{}")
        elif path == "/paid-drip":
            _drip_body(conn, alive)
        elif path == "/keep":  # answers once, then drips the headers of the next answer
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 2\r\n\r\n{}")
            _read_request(conn)
            for byte in b"HTTP/1.1 200 OK\r\nX-Drip: " + b"z" * 4096:
                if not alive():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(1.0)
        elif path == "/late":  # answers once, then the next request after ?ms=N
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 2\r\n\r\n{}")
            second, _ = _read_request(conn)
            time.sleep(int(second.partition("ms=")[2] or "0") / 1000)
            body = b'{"late":true}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        elif path == "/ok":
            body = b'{"ok":true}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        elif path == "/endless":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            chunk = b"x" * 65536
            frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
            while alive():
                conn.sendall(frame)
        elif path == "/gzip-bomb":
            bomb = gzip_bomb()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(bomb))
            conn.sendall(bomb)
        elif path == "/drip-headers":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Drip: " + (
                b"z" * 4096)
            for byte in head:
                if not alive():
                    break
                conn.sendall(bytes([byte]))
                time.sleep(1.0)
        elif path == "/drip-body":
            _drip_body(conn, alive)
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")


@contextlib.contextmanager
def hostile_server() -> Iterator[str]:
    """Serve on 127.0.0.1 (free port); yields the base URL; stops in ``finally``."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(MAX_SECONDS)
            threading.Thread(target=_serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
