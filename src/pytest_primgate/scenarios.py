"""One attempt of one smoke scenario: ``bash <script>`` in its own process group -> AttemptResult.

Exit 0 passes (then the ``expect_*`` checks run), 77 is a loud SKIP, anything else fails with the
stderr tail. A timeout kills the whole process group; leftovers of a script that exited are
killed too, so no scenario leaves processes behind. No pytest import: the items call this.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pytest_primgate.interpreter import run_env
from pytest_primgate.manifests.smoke import ExpectFile, Scenario
from pytest_primgate.model import AttemptResult
from pytest_primgate.urlmap import UrlMap

SKIP_EXIT_CODE = 77
"""GNU autotools' "skipped", as in workgraph."""
OUTPUT_CAP = 1 << 20
"""Bytes kept of each of stdout and stderr; the rest is read and dropped."""
FAIL_TAIL_LINES = 12
SKIP_TAIL_LINES = 4
ENDPOINT_TIMEOUT = 2.0
KILL_GRACE = 0.5
HEAD_BYTES = 500

REDACTED_EXPECTATION = "expected output not found"
REDACTED_UNREACHABLE = "endpoint unreachable"
REDACTED_SKIP = "skipped (exit 77)"
REDACTED_MISSING = "script not found"


def _seconds(value: float) -> str:
    return f"{value:g}"


def timed_out_reason(timeout: float) -> str:
    """The reason of a scenario killed at its timeout."""
    return f"timed out after {_seconds(timeout)} s"


_match_shape: Callable[[Any, Any], str | None] | None = None


def _shape(actual: Any, expected: Any) -> str | None:
    """``checks.match_shape`` (imported on first use)."""
    global _match_shape
    if _match_shape is None:
        from pytest_primgate.checks import match_shape

        _match_shape = match_shape
    return _match_shape(actual, expected)


def _tail(text: str, count: int) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return lines[-count:]


def _skip_reason(stderr: str) -> str:
    """Last stderr lines of a skip as one line (banner rules dropped)."""
    lines = [
        line.strip() for line in _tail(stderr, SKIP_TAIL_LINES + 2)
        if line.strip().strip("=-*#").strip()
    ][-SKIP_TAIL_LINES:]
    return "; ".join(lines) if lines else "scenario emitted SKIP (exit 77)"


def _endpoint_problem(url: str, urlmap: UrlMap | None) -> tuple[str, str] | None:
    """(rewritten url, why) when a bounded TCP connect to the endpoint fails."""
    target = urlmap.rewrite(url) if urlmap is not None else url
    parts = urlsplit(target)
    host = parts.hostname
    if not host:
        return target, "no host in URL"
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return target, "invalid port"
    try:
        with socket.create_connection((host, port), timeout=ENDPOINT_TIMEOUT):
            return None
    except ConnectionRefusedError:
        return target, "connection refused"
    except TimeoutError:
        return target, f"no connection within {_seconds(ENDPOINT_TIMEOUT)} s"
    except socket.gaierror as exc:
        return target, f"DNS: {exc.strerror}"
    except OSError as exc:
        return target, exc.strerror or type(exc).__name__


def _kill_group(pgid: int, sig: int) -> bool:
    """Signal the process group; False when it has no members left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - group leader reused by another user
        return False
    return True


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group, a short grace, then SIGKILL whatever is left."""
    _kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=KILL_GRACE)
    _kill_group(proc.pid, signal.SIGKILL)
    proc.wait()


def _pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable when ``pid`` exits (Linux >= 5.3), else None."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:  # pragma: no cover - not Linux
        return None
    try:
        fd: int = opener(pid)
    except OSError:  # pragma: no cover - old kernel
        return None
    return fd


def _collect(proc: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes, bool]:
    """Read stdout and stderr (capped) until EOF and exit, or the deadline; True when timed out.

    When the script exits while a background child still holds the pipes, the rest of its
    process group is killed so the pipes reach EOF.
    """
    assert proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    buffers = {out_fd: bytearray(), err_fd: bytearray()}
    open_fds = {out_fd, err_fd}
    pidfd = _pidfd(proc.pid)
    exited = False
    with selectors.PollSelector() as selector:
        selector.register(out_fd, selectors.EVENT_READ)
        selector.register(err_fd, selectors.EVENT_READ)
        if pidfd is not None:
            selector.register(pidfd, selectors.EVENT_READ)
        try:
            while open_fds or (pidfd is not None and not exited):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return bytes(buffers[out_fd]), bytes(buffers[err_fd]), True
                polling = pidfd is None and not exited
                events = selector.select(min(remaining, 0.25) if polling else remaining)
                for key, _ in events:
                    fd = key.fd
                    if fd == pidfd:
                        selector.unregister(fd)
                        exited = True
                        _kill_group(proc.pid, signal.SIGKILL)
                        continue
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        selector.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    buf = buffers[fd]
                    if len(buf) < OUTPUT_CAP:
                        buf += chunk[: OUTPUT_CAP - len(buf)]
                if polling and not events and proc.poll() is not None:
                    exited = True
                    _kill_group(proc.pid, signal.SIGKILL)
        finally:
            if pidfd is not None:
                os.close(pidfd)
    return bytes(buffers[out_fd]), bytes(buffers[err_fd]), False


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


class _Expectation(Exception):
    """An expectation did not hold; the message is the attempt's reason."""


def _check_file(expect: ExpectFile, cwd: Path) -> None:
    path = Path(expect.path)
    if not path.is_absolute():
        path = cwd / path
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise _Expectation(f"expect_file: {expect.path} does not exist") from None
    except OSError as exc:
        raise _Expectation(f"expect_file: cannot read {expect.path}: {exc.strerror}") from None
    for needle in expect.contains:
        if needle not in text:
            raise _Expectation(f"expect_file: {expect.path} does not contain {needle!r}")
    if expect.pattern is not None and expect.pattern.search(text) is None:
        raise _Expectation(f"expect_file: {expect.path} does not match /{expect.regex}/")
    if expect.has_json:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _Expectation(f"expect_file: {expect.path} is not JSON ({exc})") from None
        mismatch = _shape(data, expect.json)
        if mismatch is not None:
            raise _Expectation(f"expect_file: {expect.path}: {mismatch}")


def _check_output(scenario: Scenario, stdout: str, cwd: Path) -> None:
    for needle in scenario.expect_stdout:
        if needle not in stdout:
            raise _Expectation(f"expect_stdout: {needle!r} not found in stdout")
    pattern = scenario.stdout_pattern
    if pattern is not None and pattern.search(stdout) is None:
        raise _Expectation(f"expect_stdout_regex: /{scenario.expect_stdout_regex}/ "
                           "did not match stdout")
    if scenario.has_expect_json:
        try:
            data = json.loads(stdout)
        except ValueError as exc:
            raise _Expectation(f"expect_json: stdout is not JSON ({exc})") from None
        mismatch = _shape(data, scenario.expect_json)
        if mismatch is not None:
            raise _Expectation(f"expect_json: {mismatch}")
    for expect in scenario.expect_file:
        _check_file(expect, cwd)


def _detail(stdout: str, stderr: str, tail: int) -> str:
    parts: list[str] = []
    if stdout.strip():
        head = stdout.encode("utf-8")[:HEAD_BYTES].decode("utf-8", errors="ignore")
        parts.append("stdout (head):\n" + head.rstrip())
    lines = _tail(stderr, tail)
    if lines:
        parts.append("stderr (tail):\n" + "\n".join(lines))
    return "\n".join(parts)


def scenario_env(
    scenario: Scenario, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The script's environment: ours + scenario identity + ``extra_env`` + ``scenario.env``."""
    env = run_env(os.environ)  # PRIMGATE_PYTHON and PATH of this run's interpreter
    timeout = _seconds(scenario.timeout_seconds)
    env["WG_SMOKE_SCENARIO"] = scenario.name
    env["WG_SMOKE_TIMEOUT_SECS"] = timeout
    env["PRIMGATE_SCENARIO"] = scenario.name
    if extra_env:
        env.update(extra_env)
    env.update(scenario.env)
    return env


def run_scenario(
    scenario: Scenario,
    *,
    manifest_dir: Path,
    urlmap: UrlMap | None = None,
    extra_env: Mapping[str, str] | None = None,
    redact: bool = False,
) -> AttemptResult:
    """Run one attempt of ``scenario``; never raises for anything the script does."""
    started = time.monotonic()

    def result(outcome: Any, reason: str, detail: str = "", code: int | None = None,
               public: str | None = None) -> AttemptResult:
        if redact:
            reason, detail = (public if public is not None else reason), ""
        return AttemptResult(outcome, reason, detail, exit_code=code,
                             duration=time.monotonic() - started)

    for url in scenario.endpoints:
        problem = _endpoint_problem(url, urlmap)
        if problem is not None:
            target, why = problem
            return result("unreachable", f"endpoint unreachable: {target} ({why})",
                          public=REDACTED_UNREACHABLE)

    if not manifest_dir.is_absolute():
        manifest_dir = manifest_dir.absolute()
    script = Path(scenario.script)
    if not script.is_absolute():
        script = manifest_dir / script
    if not script.is_file():
        return result("failed", f"script not found: {script}", public=REDACTED_MISSING)
    cwd = manifest_dir if scenario.cwd is None else manifest_dir / scenario.cwd
    if not cwd.is_dir():
        return result("failed", f"cwd not found: {cwd}", public="cwd not found")

    try:
        proc = subprocess.Popen(
            ["bash", str(script)], cwd=cwd, env=scenario_env(scenario, extra_env),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return result("failed", f"failed to spawn script: {exc.strerror}",
                      public="failed to spawn script")
    try:
        out, err, timed_out = _collect(proc, started + scenario.timeout_seconds)
        if not timed_out and proc.poll() is None:
            try:
                proc.wait(timeout=max(0.0, started + scenario.timeout_seconds - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        if proc.returncode is None:
            _terminate(proc)
        else:
            _kill_group(proc.pid, signal.SIGKILL)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    stdout, stderr = _decode(out), _decode(err)
    code = proc.returncode
    if timed_out:
        reason = timed_out_reason(scenario.timeout_seconds)
        return result("failed", reason, _detail(stdout, stderr, FAIL_TAIL_LINES), code)
    expected = 0 if scenario.expect_exit is None else scenario.expect_exit
    if code != expected:
        if code == SKIP_EXIT_CODE:
            return result("skipped", _skip_reason(stderr), "\n".join(_tail(stderr, 12)), code,
                          public=REDACTED_SKIP)
        if code < 0:
            reason = f"killed by signal {-code}"
        else:
            reason = f"exit {code}" + (
                f" (expected {expected})" if scenario.expect_exit is not None else "")
        return result("failed", reason, "\n".join(_tail(stderr, FAIL_TAIL_LINES)), code,
                      public=reason)
    try:
        _check_output(scenario, stdout, cwd)
    except _Expectation as exc:
        return result("failed", str(exc), _detail(stdout, stderr, FAIL_TAIL_LINES), code,
                      public=REDACTED_EXPECTATION)
    return result("passed", "", code=code)
