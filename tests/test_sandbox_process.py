"""The sandbox as a subprocess: start_sandbox, python -m, primgate sandbox."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.faults import FaultSpec
from pytest_primgate.sandbox.process import SandboxStartError, start_sandbox


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


def test_start_sandbox_serves_and_stops() -> None:
    config = SandboxConfig(faults=(FaultSpec(path_glob="/wallet/*", status=418),))
    with start_sandbox(config, faults=["path=/store/*,every=2,status=500"]) as handle:
        assert handle.url.startswith("http://127.0.0.1:")
        assert handle.pid != os.getpid()
        assert handle.prim_url("store") == handle.url + "/store"
        with httpx.Client(base_url=handle.url) as client:
            assert client.get("/infer/").json() == {"service": "infer.sh", "status": "ok"}
            assert [client.get("/store/").status_code for _ in range(2)] == [200, 500]
            assert client.get("/wallet/").status_code == 418
        assert len(handle.state()["faults"]) == 2
        pid = handle.pid
    assert _gone(pid)


def test_start_sandbox_stops_when_the_body_raises() -> None:
    pid = 0
    with pytest.raises(RuntimeError, match="boom"), start_sandbox() as handle:
        pid = handle.pid
        raise RuntimeError("boom")
    assert pid and _gone(pid)


def test_start_sandbox_reports_a_bad_fault_spec() -> None:
    with pytest.raises(SandboxStartError) as info, start_sandbox(faults=["colour=red"]):
        pass
    message = str(info.value)
    assert message.startswith("sandbox did not start (exit code 2):")
    assert "fault spec: unknown key 'colour'" in message


def test_start_sandbox_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SandboxStartError, match=re.escape("cannot listen on 127.0.0.1")), \
                start_sandbox(SandboxConfig(port=port)):
            pass


def _first_line_then_stop(argv: list[str], sig: int) -> tuple[str, int]:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        url = line.removeprefix("sandbox listening on ").strip()
        assert httpx.get(url + "/store/").status_code == 200
        proc.send_signal(sig)
        return line, proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_python_m_prints_first_line_and_exits_cleanly_on_sigterm() -> None:
    line, code = _first_line_then_stop(
        [sys.executable, "-m", "pytest_primgate.sandbox", "--port", "0"], signal.SIGTERM
    )
    assert line.startswith("sandbox listening on http://127.0.0.1:")
    assert code == 0


def _hammer(url: str, stop: threading.Event) -> None:
    """Requests until told to stop; every error is expected (the server is being stopped
    under it), and none may escape the thread (pytest would pin it on a later test)."""
    with contextlib.suppress(Exception), httpx.Client(timeout=2) as client:
        for _ in range(2000):
            if stop.is_set():
                return
            with contextlib.suppress(Exception):
                client.get(url + "/store/", headers={"Connection": "close"})


def test_sigterm_during_busy_serving_still_stops_the_sandbox() -> None:
    """A signal that lands while a request is being accepted must not be swallowed."""
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest_primgate.sandbox", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        stop = threading.Event()

        threads: list[threading.Thread] = []
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().decode().removeprefix("sandbox listening on ").strip()
            threads = [threading.Thread(target=_hammer, args=(url, stop)) for _ in range(8)]
            for thread in threads:
                thread.start()
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=10)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def test_primgate_sandbox_command_first_line_and_sigint() -> None:
    exe = shutil.which("primgate")
    argv = [exe] if exe else [sys.executable, "-m", "pytest_primgate.cli"]
    line, code = _first_line_then_stop([*argv, "sandbox", "--host", "127.0.0.1"], signal.SIGINT)
    assert line.startswith("sandbox listening on http://127.0.0.1:")
    assert code == 0


def test_primgate_sandbox_rejects_bad_fault(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_primgate.cli import main

    assert main(["sandbox", "--fault", "every=x"]) == 2
    assert capsys.readouterr().err == "primgate sandbox: fault spec: bad value for 'every': 'x'\n"


def test_primgate_sandbox_rejects_non_loopback(capsys: pytest.CaptureFixture[str]) -> None:
    from pytest_primgate.cli import main

    assert main(["sandbox", "--host", "10.0.0.1"]) == 2
    assert "refusing to bind to '10.0.0.1'" in capsys.readouterr().err
