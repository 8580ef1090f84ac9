"""``RetryTransport``: re-sends a request after a transient fault, within ``RetryPolicy``.

It sits below the client (and below the x402 auth flow), so a retried paid request carries
the very same ``PAYMENT-SIGNATURE`` (same nonce): the server can settle it once at most. Every
retry is written to the ``RetryLog`` active in the current context (``recording()``), which an
item opens around its attempts; a context variable rather than a global keeps items that run
in different threads apart.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from pytest_primgate.transport.policy import (
    Fault,
    RetryPolicy,
    fault_reason,
    parse_retry_after,
    status_reason,
)

REPLAY_SAFE_EXTENSION = "primgate_replay_safe"
"""Request extension: True when a repeat of this request cannot do harm (docs/gate.md)."""
ANSWERS_EXTENSION = "primgate_answers"
"""Request extension: statuses that are accepted answers for this request, never retried."""
PAYMENT_HEADERS = ("payment-signature", "x-payment")
LOG_FILE_ENV = "PRIMGATE_RETRY_LOG"
"""Set by a scenario item: ``primgate fetch`` appends its requests and retries to this file."""
POLICY_ENV = {
    "retries": "PRIMGATE_TRANSIENT_RETRIES",
    "budget": "PRIMGATE_RETRY_BUDGET",
    "retry_after_cap": "PRIMGATE_RETRY_AFTER_CAP",
}
"""Environment handing the run's retry policy to ``primgate fetch`` in scenario scripts."""


@dataclass(frozen=True)
class RetryEvent:
    """One re-send: what was retried and why (never headers or bodies)."""

    method: str
    url: str
    """Scheme, host and path (no query)."""
    reason: str
    """``503``, ``429``, ``connect timeout``, ``reset before send``, ``reset after send``."""
    wait: float

    def describe(self, *, redact: bool = False) -> str:
        """``GET http://h/p: 503 (waited 0.12 s)``; only the reason when redacted."""
        if redact:
            return self.reason
        return f"{self.method} {self.url}: {self.reason} (waited {self.wait:.2f} s)"


@dataclass
class RetryLog:
    """Requests sent and retries made while the log was active (one item, usually)."""

    requests: int = 0
    retried: int = 0
    """Requests that needed at least one retry."""
    events: list[RetryEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def retries(self) -> int:
        """Re-sends in total."""
        return len(self.events)

    def add(self, events: list[RetryEvent]) -> None:
        """Count one request and its retries."""
        with self._lock:
            self.requests += 1
            self.retried += bool(events)
            self.events.extend(events)


@dataclass(frozen=True)
class RetrySummary:
    """A finished ``RetryLog`` as builtins: travels through item properties and log files."""

    requests: int = 0
    retried: int = 0
    events: tuple[str, ...] = ()
    """``RetryEvent.describe()`` of each retry."""

    @property
    def retries(self) -> int:
        """Re-sends in total."""
        return len(self.events)

    @classmethod
    def of(cls, log: RetryLog, *, redact: bool = False) -> RetrySummary:
        """Summarise ``log`` (``redact``: reasons only, no URLs)."""
        with log._lock:
            events = tuple(e.describe(redact=redact) for e in log.events)
            return cls(log.requests, log.retried, events)

    def __add__(self, other: RetrySummary) -> RetrySummary:
        return RetrySummary(self.requests + other.requests, self.retried + other.retried,
                            self.events + other.events)

    def to_json_line(self) -> str:
        """One line of a retry log file (``PRIMGATE_RETRY_LOG``)."""
        data = {"requests": self.requests, "retried": self.retried, "events": list(self.events)}
        return json.dumps(data, separators=(",", ":")) + "\n"


def append_log_file(path: str, summary: RetrySummary) -> None:
    """Append ``summary`` to the retry log file a scenario's ``primgate fetch`` writes."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(summary.to_json_line())


def read_log_file(path: str, *, redact: bool = False) -> RetrySummary:
    """Sum the lines of a retry log file; a missing file or a bad line counts nothing."""
    total = RetrySummary()
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except OSError:
        return total
    for line in lines:
        try:
            data = json.loads(line)
            events = tuple(str(e) for e in data.get("events", []))
            if redact:
                events = tuple(e.rsplit(": ", 1)[-1].split(" (waited")[0] for e in events)
            total += RetrySummary(int(data["requests"]), int(data["retried"]), events)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return total


_CURRENT: contextvars.ContextVar[RetryLog | None] = contextvars.ContextVar(
    "primgate_retry_log", default=None
)


@contextlib.contextmanager
def recording() -> Iterator[RetryLog]:
    """Count the requests and retries of this context (thread) into a fresh ``RetryLog``."""
    log = RetryLog()
    token = _CURRENT.set(log)
    try:
        yield log
    finally:
        _CURRENT.reset(token)


def current_log() -> RetryLog | None:
    """The log of this context, if an item is recording."""
    return _CURRENT.get()


def _fault_of(exc: httpx.TransportError) -> Fault | None:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx.WriteError):
        return "reset before send"
    if isinstance(exc, httpx.ReadError):
        return "reset after send"
    if isinstance(exc, httpx.RemoteProtocolError) and "disconnected" in str(exc).lower():
        return "reset after send"
    return None


def _replay_safe(request: httpx.Request) -> bool:
    if request.extensions.get(REPLAY_SAFE_EXTENSION):
        return True
    return any(name in request.headers for name in PAYMENT_HEADERS)


def _where(request: httpx.Request) -> str:
    return str(request.url.copy_with(query=None, fragment=None))


class RetryTransport(httpx.BaseTransport):
    """Wraps a transport; retries transient faults of each request as ``policy`` allows."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        log: RetryLog | None = None,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self.log = log
        """Also counts every request of this transport (e.g. the wallet set-up's)."""

    def _record(self, events: list[RetryEvent]) -> None:
        for log in {id(x): x for x in (current_log(), self.log) if x is not None}.values():
            log.add(events)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; re-send it after a transient fault while the policy allows."""
        policy = self.policy
        events: list[RetryEvent] = []
        if not policy.enabled or not isinstance(request.stream, httpx.ByteStream):
            self._record(events)
            return self.inner.handle_request(request)
        method = request.method.upper()
        safe = _replay_safe(request)
        answers: Any = request.extensions.get(ANSWERS_EXTENSION, frozenset())
        started = self._clock()
        while True:
            retry = len(events) + 1
            try:
                response = self.inner.handle_request(request)
            except httpx.TransportError as exc:
                fault = _fault_of(exc)
                reason = fault_reason(method, fault, replay_safe=safe) if fault else None
                wait = policy.delay(retry, rng=self._rng)
                if reason is None or not policy.allows(retry, self._clock() - started, wait):
                    self._record(events)
                    raise
            else:
                reason = status_reason(
                    method, response.status_code, replay_safe=safe, answers=frozenset(answers)
                )
                if reason is None:
                    self._record(events)
                    return response
                after = parse_retry_after(response.headers.get("retry-after"))
                wait = policy.delay(retry, after, rng=self._rng)
                if not policy.allows(retry, self._clock() - started, wait):
                    self._record(events)
                    return response
                response.read()
                response.close()
            events.append(RetryEvent(method, _where(request), reason, wait))
            self._sleep(wait)

    def close(self) -> None:
        self.inner.close()


def policy_env(policy: RetryPolicy) -> dict[str, str]:
    """The policy as environment variables (``POLICY_ENV``)."""
    return {env: f"{getattr(policy, name):g}" for name, env in POLICY_ENV.items()}


def policy_from_env(environ: dict[str, str] | os._Environ[str], **defaults: float) -> RetryPolicy:
    """A policy from ``POLICY_ENV`` variables over ``defaults``; bad values raise ValueError."""
    values: dict[str, float] = dict(defaults)
    for name, env in POLICY_ENV.items():
        if environ.get(env):
            values[name] = float(environ[env])
    retries = values.pop("retries", RetryPolicy.retries)
    if retries != int(retries):
        raise ValueError(f"{POLICY_ENV['retries']} must be a whole number, got {retries:g}")
    return RetryPolicy(retries=int(retries), **values)


def retrying_transport(
    policy: RetryPolicy, *, log: RetryLog | None = None, **transport_kwargs: Any
) -> RetryTransport:
    """A ``RetryTransport`` over ``httpx.HTTPTransport(**transport_kwargs)`` pools, one per
    thread (``PerThreadTransport``: deadlines stay exact when items run concurrently)."""
    from pytest_primgate.transport.per_thread import PerThreadTransport

    def pool() -> httpx.HTTPTransport:
        if "verify" in transport_kwargs:
            return httpx.HTTPTransport(**transport_kwargs)
        return httpx.HTTPTransport(verify=shared_ssl_context(), **transport_kwargs)

    return RetryTransport(PerThreadTransport(pool), policy, log=log)


_SSL_LOCK = threading.Lock()


@functools.cache
def _made_ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=True, trust_env=True)


def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process (threads that start together wait
    for the first): loading the CA bundle costs about 20 ms of CPU, which every thread's pool
    would otherwise pay on its first request."""
    with _SSL_LOCK:
        return _made_ssl_context()
