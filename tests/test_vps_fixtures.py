"""spawned_vps / spawn_vps against the sandbox's spawn routes (real sshd): use and teardown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import fabric  # noqa: F401  (imported once: in-process pytester runs must not re-import it)
import httpx
import paramiko  # noqa: F401
import pytest
from cryptography.hazmat.primitives import serialization  # noqa: F401

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.process import SandboxHandle, start_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(SandboxConfig(spawn_active_delay=0.2)) as handle:
        yield handle


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[SandboxHandle]:
    """Servers never become active within the tests' timeouts."""
    with start_sandbox(SandboxConfig(spawn_active_delay=3600)) as handle:
        yield handle


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("PRIMGATE_STATE_DIR", str(path))
    return path


def args(sandbox: SandboxHandle, *extra: str) -> list[str]:
    return ["-p", "no:cacheprovider", "--primgate-base-url", f"*.prim.sh={sandbox.url}/{{prim}}",
            "--primgate-wallet", "ephemeral", *extra]


def spawn_state(sandbox: SandboxHandle) -> dict[str, int]:
    state = sandbox.state()["state"]["spawn"]
    return {"servers": state["servers"], "ssh_keys": state["ssh_keys"]}


EMPTY = {"servers": 0, "ssh_keys": 0}


def test_spawned_vps_runs_commands_and_sftp_then_deletes_everything(
    pytester: pytest.Pytester, sandbox: SandboxHandle
) -> None:
    pytester.makepyfile(
        """
        import io

        def test_uname(spawned_vps):
            result = spawned_vps.run("uname -a", hide=True)
            assert result.stdout.startswith("Linux")

        def test_sftp_roundtrip(spawned_vps, tmp_path):
            src = tmp_path / "hello.txt"
            src.write_text("hello from primgate\\n")
            remote = f"/tmp/primgate-{tmp_path.name}.txt"
            spawned_vps.put(str(src), remote)
            out = spawned_vps.run(f"cat {remote} && rm {remote}", hide=True).stdout
            assert out == "hello from primgate\\n"
        """
    )
    result = pytester.runpytest(*args(sandbox))
    result.assert_outcomes(passed=2)
    assert spawn_state(sandbox) == EMPTY


def test_exception_in_test_and_in_fixture_setup_still_delete(
    pytester: pytest.Pytester, sandbox: SandboxHandle, state_dir: Path
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def broken(spawn_vps):
            conn = spawn_vps()
            raise RuntimeError("setup broke after the server was created")

        def test_raises(spawned_vps):
            raise ValueError("boom inside the test")

        def test_setup_breaks(broken):
            pass
        """
    )
    result = pytester.runpytest(*args(sandbox))
    result.assert_outcomes(failed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: setup broke after the server was created*",
                                 "*ValueError: boom inside the test*"])
    assert spawn_state(sandbox) == EMPTY
    assert not list(state_dir.rglob("*.json"))


def test_spawn_failures_are_one_line_infra_errors(
    pytester: pytest.Pytester, sandbox: SandboxHandle
) -> None:
    pytester.makepyfile(
        """
        def test_refused(spawn_vps):
            spawn_vps(sandbox_sshd="refuse")

        def test_limit(spawn_vps):
            for _ in range(4):
                spawn_vps()
        """
    )
    result = pytester.runpytest(*args(sandbox, "--primgate-spawn-timeout", "1"))
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*primgate spawn: SSH to root@127.0.0.1:* refused (server srv_*",
        "*primgate spawn: spawn API refused: server limit exceeded (Server limit reached: "
        "3 concurrent servers per wallet)*",
    ])
    assert spawn_state(sandbox) == EMPTY


def test_spawn_api_5xx_is_an_infra_error(
    pytester: pytest.Pytester, sandbox: SandboxHandle
) -> None:
    pytester.makepyfile(
        """
        def test_vps(spawned_vps):
            pass
        """
    )
    sandbox.set_faults([{"path_glob": "/spawn/v1/servers", "method": "POST", "status": 502}])
    try:
        result = pytester.runpytest(*args(sandbox), "--junit-xml", "junit.xml")
    finally:
        sandbox.clear_faults()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*primgate spawn: spawn API error 502: POST /v1/servers: injected fault: status 502*"]
    )
    junit = (pytester.path / "junit.xml").read_text()
    assert 'name="primgate_infra_error"' in junit
    assert spawn_state(sandbox) == EMPTY


def test_server_never_active_times_out_and_is_deleted(
    pytester: pytest.Pytester, slow_sandbox: SandboxHandle
) -> None:
    pytester.makepyfile(
        """
        def test_vps(spawned_vps):
            pass
        """
    )
    result = pytester.runpytest(*args(slow_sandbox, "--primgate-spawn-timeout", "0.6"))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*primgate spawn: server srv_* not active after 0.6 s (status initializing)*"]
    )
    assert spawn_state(slow_sandbox) == EMPTY


def test_ctrl_c_while_polling_deletes_server_and_key(
    pytester: pytest.Pytester, slow_sandbox: SandboxHandle, state_dir: Path
) -> None:
    pytester.makepyfile(
        """
        def test_vps(spawned_vps):
            pass
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-s", *args(slow_sandbox)],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "waiting for server" in line or not line:
                break
        assert any("waiting for server" in x for x in lines), "".join(lines)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, out
    assert "KeyboardInterrupt" in out
    assert spawn_state(slow_sandbox) == EMPTY
    assert not list(state_dir.rglob("*.json"))


def test_private_key_never_reaches_output(
    pytester: pytest.Pytester, sandbox: SandboxHandle
) -> None:
    pytester.makepyfile(
        """
        def test_vps(spawned_vps, request):
            pool = request.getfixturevalue("_primgate_vps_pool")
            print("KEY", repr(pool.key), pool.key.public_line)
            with open("k", "w") as handle:
                handle.write(pool.key._openssh_private().decode().splitlines()[1])
            assert False, repr(pool)
        """
    )
    result = pytester.runpytest(*args(sandbox, "-s", "--junit-xml", "junit.xml"))
    result.assert_outcomes(failed=1)
    secret_line = (pytester.path / "k").read_text().strip()
    assert len(secret_line) > 20
    text = result.stdout.str() + result.stderr.str() + (pytester.path / "junit.xml").read_text()
    assert secret_line not in text
    assert "ssh-ed25519" in text
    assert spawn_state(sandbox) == EMPTY
    os.unlink(pytester.path / "k")


def test_sandbox_spawn_routes_are_paid_and_scoped(sandbox: SandboxHandle) -> None:
    response = httpx.post(f"{sandbox.url}/spawn/v1/servers", json={"name": "x"})
    assert response.status_code == 402
