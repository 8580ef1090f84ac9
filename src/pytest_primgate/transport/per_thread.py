"""A transport whose connection pool is per thread: a connection is only reused by its thread.

With plan items running concurrently, one client is shared by many threads. A request's
deadline (``bounded.send_bounded``) must be able to find the socket it waits on; on a reused
keep-alive connection that is only known once headers arrive, so the watchdog falls back to the
sockets of the requester's own pool. Pools per thread make that fallback exact: in a thread's
pool at most one request is in flight, its own.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

import httpx


class PerThreadTransport(httpx.BaseTransport):
    """Delegates to one inner transport per thread, made by ``factory`` on first use and
    closed when the thread is gone or the transport is closed."""

    def __init__(self, factory: Callable[[], httpx.BaseTransport]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._lock = threading.Lock()
        self._live: dict[int, httpx.BaseTransport] = {}
        self._closed = False

    def _inner(self) -> httpx.BaseTransport:
        inner: httpx.BaseTransport | None = getattr(self._local, "inner", None)
        if inner is None:
            inner = self._factory()
            key = id(inner)
            with self._lock:
                if self._closed:
                    inner.close()
                    raise RuntimeError("transport is closed")
                self._live[key] = inner
            self._local.inner = inner
            weakref.finalize(threading.current_thread(), self._retire, key)
        return inner

    def _retire(self, key: int) -> None:
        with self._lock:
            inner = self._live.pop(key, None)
        if inner is not None:
            inner.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner().handle_request(request)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            live = list(self._live.values())
            self._live.clear()
        for inner in live:
            inner.close()
