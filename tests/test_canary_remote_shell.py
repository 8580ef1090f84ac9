"""RemoteShell: a CLI canary's ``shell_exec`` on a server over a real sshd on loopback."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.canary.remote_shell import RemoteShell, RemoteShellError
from pytest_primgate.sandbox.sshd import SshServer
from pytest_primgate.vps import EphemeralKey, ServerInfo, connect


@pytest.fixture(scope="module")
def conn() -> Iterator[Any]:
    """A pinned fabric connection to a fresh sshd (the same path ``spawn_vps`` takes)."""
    key = EphemeralKey.generate()
    server = SshServer([key.public_line])
    try:
        info = ServerInfo("srv_t", "n", "active", "127.0.0.1", server.port, server.host_key)
        connection = connect(info, key, user=server.user)
        try:
            yield connection
        finally:
            connection.close()
    finally:
        server.stop()


def output(outcome: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(outcome.content)
    return data


def test_commands_run_in_a_remote_prim_home_that_close_removes(conn: Any) -> None:
    shell = RemoteShell.open(conn, "srv_t")
    try:
        assert shell.home.startswith("/tmp/primgate-canary-") and shell.home.endswith("/home")
        where = shell.run({"command": 'printf "%s %s %s" "$PRIM_HOME" "$HOME" "$(pwd)"'}, 10)
        assert where.step.ok and where.step.exit_code == 0
        assert output(where)["stdout"].split() == [shell.home] * 3
        made = shell.run({"command": "mkdir -p keys bin && printf '#!/bin/sh\\necho mine\\n' "
                                     "> bin/prim && chmod +x bin/prim"}, 10)
        assert made.step.ok
        assert output(shell.run({"command": "prim"}, 10))["stdout"] == "mine\n"
        assert Path(shell.home, "keys").is_dir()  # the server is this machine's sshd
    finally:
        assert shell.close() is None
    assert not Path(shell.root).exists()


def test_exit_codes_and_output_heads_come_back_bounded(conn: Any) -> None:
    shell = RemoteShell.open(conn, "srv_t")
    try:
        failed = shell.run({"command": "echo out; echo err >&2; exit 3"}, 10)
        assert (failed.step.exit_code, failed.step.ok, failed.step.note) == (3, False, "")
        assert output(failed)["stdout"] == "out\n" and output(failed)["stderr"] == "err\n"
        big = shell.run({"command": "head -c 100000 /dev/zero | tr '\\0' a; "
                                    "head -c 100000 /dev/zero | tr '\\0' b >&2"}, 10)
        data = output(big)
        assert big.step.ok and data["stdout"] == "a" * 4000 and data["stderr"] == "b" * 2000
        empty = shell.run({"command": "  "}, 10)
        assert empty.step.note == "empty command" and not empty.step.ok
    finally:
        shell.close()


def test_a_command_past_its_limit_is_killed_with_its_children(conn: Any) -> None:
    shell = RemoteShell.open(conn, "srv_t")
    marker = f"primgate{secrets.token_hex(4)}"
    try:
        start = time.monotonic()
        outcome = shell.run({"command": f"sh -c 'sleep 30; : {marker}' & sleep 31"}, 1)
        took = time.monotonic() - start
        assert outcome.step.note == "timed out after 1 s" and not outcome.step.ok
        assert outcome.step.exit_code in (124, 137) and took < 8
        found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
        assert found.stdout == ""
    finally:
        shell.close()


def test_a_lost_connection_is_a_network_error_step_not_an_exception(conn: Any) -> None:
    class Broken:
        def run(self, *args: Any, **kwargs: Any) -> Any:
            raise EOFError("gone")

    shell = RemoteShell(Broken(), "srv_b", "/tmp/primgate-canary-none")
    outcome = shell.run({"command": "true"}, 5)
    assert outcome.step.network_error and "ssh to server srv_b failed: EOFError" in \
        outcome.step.note
    assert "could not remove" in (shell.close() or "")
    with pytest.raises(RemoteShellError, match="ssh to server srv_b failed"):
        RemoteShell.open(Broken(), "srv_b")
