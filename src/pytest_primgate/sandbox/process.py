"""Start the sandbox: as a subprocess (``start_sandbox``) or in a thread (``serve_in_thread``)."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import httpx

from pytest_primgate.sandbox.config import SandboxConfig, to_argv

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

LISTENING_PREFIX = "sandbox listening on "
"""First line of the sandbox's output, followed by ``http://HOST:PORT``."""

START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class SandboxStartError(RuntimeError):
    """The sandbox subprocess did not announce its address."""


@dataclass(frozen=True)
class SandboxHandle:
    """A running sandbox: its base URL and process id, with admin helpers."""

    url: str
    pid: int

    def prim_url(self, prim_id: str) -> str:
        """Base URL of one prim: ``http://127.0.0.1:PORT/store``."""
        return f"{self.url}/{prim_id}"

    def _admin(self, method: str, path: str, payload: Any = None) -> Any:
        with httpx.Client(timeout=10.0) as client:
            response = client.request(method, f"{self.url}/_sandbox/{path}", json=payload)
        if response.status_code >= 400:
            raise ValueError(f"sandbox admin {method} {path}: {response.text}")
        return response.json()

    def set_faults(self, faults: Sequence[str | dict[str, Any]]) -> list[dict[str, Any]]:
        """Replace the fault rules (spec strings or objects); returns them as installed."""
        result: list[dict[str, Any]] = self._admin("POST", "faults", list(faults))["faults"]
        return result

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        self._admin("DELETE", "faults")

    def state(self) -> dict[str, Any]:
        """Request counts per route and each module's state snapshot."""
        result: dict[str, Any] = self._admin("GET", "state")
        return result

    def reset(self) -> None:
        """Forget module state and counters (faults stay)."""
        self._admin("POST", "reset")


@contextlib.contextmanager
def serve_in_thread(
    config: SandboxConfig | None = None, *, app: SandboxApp | None = None
) -> Iterator[SandboxHandle]:
    """Serve a sandbox from a thread of this process (for unit tests); stopped on exit.

    Pass ``app`` to serve an app prepared by the caller (its config is used as is).
    """
    from pytest_primgate.sandbox.app import SandboxApp
    from pytest_primgate.sandbox.server import SandboxServer

    if app is None:
        app = SandboxApp(config or SandboxConfig())
    server = SandboxServer(app)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield SandboxHandle(url=server.url, pid=os.getpid())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT)
        app.close()


def _tail(stream: IO[bytes], lines: int = 12) -> str:
    stream.seek(0)
    text = stream.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def _read_first_line(proc: subprocess.Popen[bytes], timeout: float) -> str:
    """The first stdout line, read within ``timeout`` seconds ('' on EOF or timeout)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buffer += chunk
    return buffer.split(b"\n", 1)[0].decode("utf-8", "replace").strip()


def _drain(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError, ValueError):
        while stream.read(65536):
            pass


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process group, SIGKILL it after ``timeout`` seconds, reap the leader."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout)


@contextlib.contextmanager
def start_sandbox(
    config: SandboxConfig | None = None,
    *,
    faults: Sequence[str] = (),
    timeout: float = START_TIMEOUT,
) -> Iterator[SandboxHandle]:
    """Run ``python -m pytest_primgate.sandbox`` in its own process group; stopped on exit."""
    argv = [sys.executable, "-m", "pytest_primgate.sandbox", *to_argv(config or SandboxConfig(),
                                                                      faults)]
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
            start_new_session=True,
        )
        try:
            line = _read_first_line(proc, timeout)
            if not line.startswith(LISTENING_PREFIX):
                stop_process_group(proc, timeout=1.0)
                detail = _tail(stderr) or line or "(no output)"
                raise SandboxStartError(
                    f"sandbox did not start (exit code {proc.returncode}):\n{detail}"
                )
            assert proc.stdout is not None
            threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
            yield SandboxHandle(url=line[len(LISTENING_PREFIX):].strip(), pid=proc.pid)
        finally:
            stop_process_group(proc)
            if proc.stdout is not None:
                proc.stdout.close()
