"""Bounded HTTP: a cap on the decoded bytes of a response and one deadline per request.

httpx timeouts apply per read, so a server dripping one byte a second never times out, and
an endless or compressed body grows without limit. ``send_bounded`` sends through any
``httpx.Client`` (transports, retry wrappers and the x402 client included), streams the body
through its own size-limited decoder and arms a watchdog that shuts the request's socket down
at the deadline, so connect, headers and body together take at most the deadline.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import httpx

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""Default cap on the bytes read per response, after decompression (10 MiB)."""
DEFAULT_DEADLINE = 30.0
CHUNK = 64 * 1024
_HOP_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def size_text(count: int) -> str:
    """``10485760`` -> ``10 MiB``; ``1536`` -> ``1.5 KiB``; ``100`` -> ``100 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:.4g} {unit}"
    return f"{count} bytes"


class ResponseLimitError(httpx.HTTPError):
    """A response broke a limit; the message is the item's one-line reason."""


class BodyTooLarge(ResponseLimitError):
    """More than the cap of decoded body bytes."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"response body exceeds {size_text(max_bytes)}")


class NoCompleteResponse(ResponseLimitError):
    """Connect, headers and body did not complete within the deadline."""

    def __init__(self, deadline: float) -> None:
        super().__init__(f"no complete response within {deadline:g} s")


_CLIENT_SOCKETS: weakref.WeakKeyDictionary[httpx.Client, dict[int, set[socket.socket]]] = (
    weakref.WeakKeyDictionary()
)
"""Sockets each client used, by thread (seen on connect or on a response): the keep-alive
pool a thread's requests draw from (``transport.per_thread`` gives each thread its own)."""
_CLAIMED: set[socket.socket] = set()
"""Sockets an unfinished request is known to use."""
_REGISTRY_LOCK = threading.Lock()


class _Guard:
    """One request's deadline: the sockets it uses, shut down when the deadline passes.

    A request on a reused keep-alive connection has no socket known until its headers
    arrive; if its deadline passes before, the sockets this thread used with the client that
    no other request claims are shut down (idle ones reconnect on next use). With a pool per
    thread that is exactly the one the request waits on.
    """

    def __init__(self, deadline: float, client: httpx.Client | None = None) -> None:
        self.client = client
        self.thread = threading.get_ident()
        self.deadline = deadline
        self.expires = time.monotonic() + deadline
        self.fired = False
        self.done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def expired(self) -> bool:
        return self.fired or time.monotonic() >= self.expires

    def remaining(self) -> float:
        return max(0.0, self.expires - time.monotonic())

    def watch(self, stream: Any) -> None:
        """Remember the socket of an httpcore network stream (shut at once if late)."""
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return
        with _REGISTRY_LOCK:
            if self.client is not None:
                by_thread = _CLIENT_SOCKETS.setdefault(self.client, {})
                known = by_thread.setdefault(self.thread, set())
                known.difference_update([s for s in known if s.fileno() == -1])
                known.add(sock)
            _CLAIMED.add(sock)
        with self._lock:
            self._sockets.append(sock)
            late = self.fired
        if late:
            _shutdown(sock)

    def fire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.fired = True
            sockets = list(self._sockets)
        if not sockets and self.client is not None:
            with _REGISTRY_LOCK:
                used = _CLIENT_SOCKETS.get(self.client, {}).get(self.thread, ())
                sockets = [s for s in used if s not in _CLAIMED and s.fileno() != -1]
        for sock in sockets:
            _shutdown(sock)

    def stop(self) -> None:
        with self._lock:
            self.done = True
            mine = list(self._sockets)
            self._sockets.clear()
        with _REGISTRY_LOCK:
            _CLAIMED.difference_update(mine)

    def tracer(self, previous: Any) -> Callable[[str, dict[str, Any]], None]:
        """An httpcore ``trace`` extension that sees each new connection's stream."""

        def trace(event: str, info: dict[str, Any]) -> None:
            if event == "connection.connect_tcp.complete":
                self.watch(info.get("return_value"))
            if previous is not None:
                previous(event, info)

        return trace


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """One daemon thread for every deadline of the process (a heap, earliest first)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Guard]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, guard: _Guard) -> None:
        with self._cond:
            heapq.heappush(self._heap, (guard.expires, next(self._order), guard))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="primgate-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is guard:
                self._cond.notify()

    def _run(self) -> None:
        while True:
            due: list[_Guard] = []
            with self._cond:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = self._heap[0][0] - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                due.append(heapq.heappop(self._heap)[2])
            for guard in due:
                guard.fire()


_WATCHDOG = _Watchdog()


class _Inflater:
    """gzip/deflate decoding that never yields more than ``limit`` bytes per piece."""

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        wbits = zlib.MAX_WBITS | 16 if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(wbits)
        self._first = True

    def feed(self, data: bytes, limit: int) -> Iterator[bytes]:
        while data:
            try:
                piece = self._obj.decompress(data, limit)
            except zlib.error as exc:
                if self._first and self._encoding == "deflate":
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as httpx
                    self._first = False
                    continue
                raise httpx.DecodingError(f"invalid {self._encoding} body: {exc}") from None
            self._first = False
            data = self._obj.unconsumed_tail
            yield piece

    def flush(self) -> bytes:
        return self._obj.flush()


def _pieces(response: httpx.Response, max_bytes: int) -> Iterator[bytes]:
    """Decoded body pieces of a streamed response, each small (flat memory)."""
    encoding = response.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        yield from response.iter_raw(CHUNK)
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        yield from response.iter_bytes(CHUNK)  # br/zstd/stacked: httpx's decoders
        return
    inflater = _Inflater(encoding)
    limit = min(CHUNK, max_bytes + 1)
    for raw in response.iter_raw(CHUNK):
        yield from inflater.feed(raw, limit)
    yield inflater.flush()


def _read(response: httpx.Response, max_bytes: int, guard: _Guard) -> bytes:
    body = bytearray()
    for piece in _pieces(response, max_bytes):
        if len(body) + len(piece) > max_bytes:
            raise BodyTooLarge(max_bytes)
        body += piece
        if guard.expired():
            raise NoCompleteResponse(guard.deadline)
    return bytes(body)


def _deadline_of(client: httpx.Client) -> float:
    timeout = client.timeout
    values = [v for v in (timeout.connect, timeout.read, timeout.write, timeout.pool) if v]
    return max(values) if values else DEFAULT_DEADLINE


def send_bounded(
    client: httpx.Client,
    request: httpx.Request,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float | None = None,
    auth: Any = None,
) -> httpx.Response:
    """Send ``request`` and read its body within ``max_bytes`` and ``deadline`` seconds.

    Returns a closed response whose ``content`` is the decoded body (the encoding headers
    are dropped, everything else kept). Raises ``BodyTooLarge``, ``NoCompleteResponse`` or
    the ``httpx.HTTPError`` of the transport. ``auth=None`` (the default) sends exactly the
    request given; pass the client's auth only when it never reads a body itself.
    """
    limit = _deadline_of(client) if deadline is None else deadline
    guard = _Guard(limit, client)
    extensions = dict(request.extensions)
    extensions["trace"] = guard.tracer(extensions.get("trace"))
    timeouts = dict(extensions.get("timeout") or {})
    extensions["timeout"] = {
        key: limit if value is None else min(float(value), limit)
        for key, value in {"connect": None, "read": None, "write": None, "pool": None,
                           **timeouts}.items()
    }
    original = request.extensions
    request.extensions = extensions
    _WATCHDOG.arm(guard)
    try:
        try:
            response = client.send(request, stream=True, auth=auth)
        except httpx.HTTPError:
            if guard.expired():
                raise NoCompleteResponse(limit) from None
            raise
        try:
            guard.watch(response.extensions.get("network_stream"))
            body = _read(response, max_bytes, guard)
        except ResponseLimitError:
            raise
        except httpx.HTTPError:
            if guard.expired():
                raise NoCompleteResponse(limit) from None
            raise
        finally:
            response.close()
    finally:
        guard.stop()
        request.extensions = original  # a resend (the paid one) starts from the caller's
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _HOP_HEADERS]
    bounded = httpx.Response(
        response.status_code, headers=headers, content=body, request=response.request,
        extensions={k: v for k, v in response.extensions.items() if k != "network_stream"},
        history=response.history,
    )
    return bounded


def request_bounded(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """``client.request(method, url, ...)`` with ``send_bounded``'s limits (no auto-auth)."""
    return send_bounded(
        client, client.build_request(method, url, **kwargs), max_bytes=max_bytes,
        deadline=deadline,
    )
