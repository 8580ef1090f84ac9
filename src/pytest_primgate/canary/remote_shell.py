"""``shell_exec`` on a spawned server: a temporary ``PRIM_HOME`` there, every command bounded.

Used for ``interface: "cli"`` groups under ``--spawn``. The shell talks to one open
``fabric.Connection`` (from the ``spawn_vps`` pool); on the server it makes
``/tmp/primgate-canary-XXXXXX`` with ``home/`` (``PRIM_HOME``, ``HOME``, working directory,
``home/bin`` first on ``PATH``) beside the command's output files, so nothing the command writes
is mistaken for its output. Each command runs under coreutils ``timeout`` (which kills the
command's whole process group), and fabric's own timeout guards the SSH call a few seconds later.
Only the first 4000 bytes of stdout and 2000 of stderr ever cross the connection.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, replace
from typing import Any

from pytest_primgate.canary.result import Step
from pytest_primgate.canary.tools import MODEL_BODY_CHARS, MODEL_STDERR_CHARS, ToolOutcome, _json

ROOT_TEMPLATE = "/tmp/primgate-canary-XXXXXX"
KILL_AFTER = 2
"""Seconds between ``timeout``'s TERM and its KILL."""
SSH_GRACE = 10.0
"""How much longer than the command's own limit the SSH call may take."""
TIMED_OUT = (124, 137)
"""Exit codes of ``timeout`` when it had to stop the command (TERM, then KILL)."""


class RemoteShellError(Exception):
    """The remote directory could not be made or the connection failed (one line)."""


def command_script(root: str, command: str, timeout: float) -> str:
    """The remote ``sh`` script that runs ``command`` in ``root/home`` and prints its heads."""
    r = shlex.quote(root)
    limit = max(int(timeout), 1)
    return (
        f'h={r}/home; cd "$h" || exit 125; '
        f'PRIM_HOME="$h" HOME="$h" PATH="$h/bin:$PATH" '
        f"timeout -k {KILL_AFTER} {limit} sh -c {shlex.quote(command)} "
        f'</dev/null >{r}/out 2>{r}/err; code=$?; '
        f"head -c {MODEL_BODY_CHARS} {r}/out; head -c {MODEL_STDERR_CHARS} {r}/err >&2; "
        f"rm -f {r}/out {r}/err; exit $code"
    )


@dataclass
class RemoteShell:
    """A temporary ``PRIM_HOME`` on one spawned server, reached over ``conn``."""

    conn: Any
    server_id: str
    root: str

    @property
    def home(self) -> str:
        """The remote ``PRIM_HOME`` (also ``HOME`` and the working directory)."""
        return f"{self.root}/home"

    @classmethod
    def open(cls, conn: Any, server_id: str, timeout: float = 30.0) -> RemoteShell:
        """Make the remote directories; ``RemoteShellError`` when the server cannot."""
        script = (f"r=$(mktemp -d {ROOT_TEMPLATE}) && mkdir -m 700 \"$r/home\" "
                  '&& printf %s "$r"')
        try:
            result = conn.run(script, hide=True, warn=True, timeout=timeout)
        except Exception as exc:  # paramiko/invoke errors: the connection is the problem
            raise RemoteShellError(f"ssh to server {server_id} failed: "
                                   f"{type(exc).__name__}") from None
        root = result.stdout.strip()
        if result.exited != 0 or not root.startswith(ROOT_TEMPLATE[:-6]):
            raise RemoteShellError(f"could not make a PRIM_HOME on server {server_id} "
                                   f"(exit {result.exited})")
        return cls(conn, server_id, root)

    def run(self, args: dict[str, Any], timeout: float) -> ToolOutcome:
        """``shell_exec`` on the server: exit code, stdout and stderr heads, a timeout note."""
        command = str(args.get("command") or "")
        base = Step(tool="shell_exec", command=command)
        if not command.strip():
            return ToolOutcome(replace(base, note="empty command"),
                               _json({"error": "empty command"}))
        started = time.monotonic()
        try:
            result = self.conn.run(command_script(self.root, command, timeout), hide=True,
                                   warn=True, timeout=timeout + KILL_AFTER + SSH_GRACE)
        except Exception as exc:  # a lost connection or fabric's own timeout
            note = f"ssh to server {self.server_id} failed: {type(exc).__name__}"
            return ToolOutcome(replace(base, note=note, network_error=True),
                               _json({"error": note}))
        code = int(result.exited)
        note = ""
        if code in TIMED_OUT and time.monotonic() - started >= max(int(timeout), 1) - 0.5:
            note = f"timed out after {max(int(timeout), 1)} s"
        step = replace(base, exit_code=code, ok=code == 0 and not note, note=note)
        return ToolOutcome(step, _json({"exit_code": code, "stdout": result.stdout,
                                        "stderr": result.stderr}))

    def close(self, timeout: float = 30.0) -> str | None:
        """Remove the remote directory; the problem as one line, or None."""
        try:
            result = self.conn.run(f"rm -rf {shlex.quote(self.root)}", hide=True, warn=True,
                                   timeout=timeout)
        except Exception as exc:
            return f"could not remove {self.root} on server {self.server_id}: " \
                   f"{type(exc).__name__}"
        if result.exited != 0:
            return f"could not remove {self.root} on server {self.server_id} " \
                   f"(exit {result.exited})"
        return None
