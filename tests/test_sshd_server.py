"""SshServer: a real sshd on loopback, key-only, with its files removed on stop."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pytest_primgate.sandbox.sshd import SshServer
from pytest_primgate.vps import EphemeralKey, ServerInfo, known_hosts_line


def test_sshd_accepts_the_key_pins_the_host_and_cleans_up(tmp_path: Path) -> None:
    key, other = EphemeralKey.generate(), EphemeralKey.generate()
    server = SshServer([key.public_line])
    try:
        info = ServerInfo("srv_x", "n", "active", "127.0.0.1", server.port, server.host_key)
        known = tmp_path / "known_hosts"
        known.write_text(known_hosts_line(info) + "\n")

        def ssh(k: EphemeralKey, name: str) -> subprocess.CompletedProcess[str]:
            path = k.write_private(tmp_path / name)
            assert oct(path.stat().st_mode & 0o777) == "0o600"
            return subprocess.run(
                ["ssh", "-i", str(path), "-p", str(server.port), "-o", "BatchMode=yes",
                 "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
                 "-o", "IdentitiesOnly=yes", f"{server.user}@127.0.0.1", "echo", "hi"],
                capture_output=True, text=True, timeout=20,
            )

        assert ssh(key, "good").stdout == "hi\n"
        assert ssh(other, "bad").returncode == 255
        assert "PRIVATE" not in repr(key) and "ssh-ed25519" in repr(key)
    finally:
        server.stop()
    assert server.pid is None and not os.path.exists(server.directory)
