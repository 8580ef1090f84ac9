"""A real OpenSSH server on a loopback port: one per spawned sandbox server.

Each ``SshServer`` owns a private temp directory (host key, authorized_keys, config, pid file)
and a ``/usr/sbin/sshd -D -e`` child process. Logins are key-only, as the current user.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSHD = "/usr/sbin/sshd"
PRIVSEP_DIR = Path("/run/sshd")
START_TIMEOUT = 5.0
STOP_TIMEOUT = 3.0


class SshdError(RuntimeError):
    """sshd could not be started (missing binary, bad config, port never accepted)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel just reported free on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _host_key(directory: Path) -> str:
    """Write a fresh ed25519 host key; return its public line ``ssh-ed25519 AAAA...``."""
    key = Ed25519PrivateKey.generate()
    _write_private(
        directory / "ssh_host_ed25519_key",
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        ),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()
    (directory / "ssh_host_ed25519_key.pub").write_text(public + "\n")
    return public


def host_key_line() -> str:
    """A fresh public host key line whose private half is thrown away (a server without sshd)."""
    key = Ed25519PrivateKey.generate()
    return key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def _port_accepts(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class SshServer:
    """``sshd`` on ``127.0.0.1:<port>`` accepting ``authorized_keys``; ``stop()`` removes all."""

    def __init__(
        self, authorized_keys: Sequence[str], *, host: str = "127.0.0.1",
        timeout: float = START_TIMEOUT,
    ) -> None:
        if not os.path.exists(SSHD):
            raise SshdError(f"{SSHD} not found: install openssh-server (apt-get install "
                            "openssh-server)")
        self.host = host
        self.user = getpass.getuser()
        self.directory = Path(tempfile.mkdtemp(prefix="primgate-sshd-"))
        os.chmod(self.directory, 0o700)
        self.host_key = _host_key(self.directory)
        """Public host key line, so clients can pin it."""
        (self.directory / "authorized_keys").write_text(
            "".join(key.strip() + "\n" for key in authorized_keys)
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        try:
            PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _config(self, port: int) -> Path:
        d = self.directory
        lines = [
            f"Port {port}",
            f"ListenAddress {self.host}",
            f"HostKey {d / 'ssh_host_ed25519_key'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}",
            f"PidFile {d / 'sshd.pid'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            "UsePAM no",
            "UseDNS no",
            "PrintMotd no",
            "LogLevel ERROR",
            f"AllowUsers {self.user}",
            "Subsystem sftp internal-sftp",
        ]
        path = d / "sshd_config"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _start(self, timeout: float) -> None:
        """Start sshd on a free port; retry once on a lost port race; wait until it accepts."""
        last = ""
        for _ in range(3):
            port = free_port(self.host)
            config = self._config(port)
            log = (self.directory / "sshd.log").open("wb")
            with log:
                self.process = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                if _port_accepts(self.host, port):
                    self.port = port
                    return
                time.sleep(0.02)
            last = (self.directory / "sshd.log").read_text(errors="replace").strip()
            self._kill()
        raise SshdError(f"sshd did not start on {self.host}: {last.splitlines()[-1:] or '?'}")

    @property
    def pid(self) -> int | None:
        """Process id of the running sshd (None once stopped)."""
        return self.process.pid if self.process is not None else None

    def _kill(self) -> None:
        proc = self.process
        if proc is None:
            return
        self.process = None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, 9)
            proc.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """Kill sshd (and its session children) and delete its files; idempotent."""
        try:
            self._kill()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
