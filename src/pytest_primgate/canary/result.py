"""The data a canary run produces: steps and the per-group result (builtins only)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

CanaryVerdict = Literal["pass", "warn", "fail", "error"]


@dataclass(frozen=True)
class Step:
    """One tool call of the agent: never the request or response body."""

    tool: str
    method: str = ""
    url: str = ""
    command: str = ""
    status: int | None = None
    exit_code: int | None = None
    ok: bool = False
    note: str = ""
    network_error: bool = False
    """The request never got an HTTP answer (connect, DNS, TLS, timeout)."""

    @property
    def target(self) -> str:
        """``METHOD url`` or the command, for messages."""
        return f"{self.method} {self.url}" if self.tool == "http_request" else self.command

    def to_json(self) -> dict[str, Any]:
        """The step as stored in the results file and the item's properties."""
        data: dict[str, Any] = {"tool": self.tool}
        if self.tool == "shell_exec":
            data.update(command=self.command, exit_code=self.exit_code)
        else:
            data.update(method=self.method, url=self.url, status=self.status)
        data.update(ok=self.ok, note=self.note or None)
        return data


@dataclass(frozen=True)
class CanaryResult:
    """What one group's agent loop ended with."""

    group: str
    verdict: CanaryVerdict
    steps: tuple[Step, ...] = ()
    ux_notes: tuple[str, ...] = ()
    agent_summary: str | None = None
    error: str | None = None
    rounds: int = 0
    stopped: str = ""
    """Why the loop ended: ``final report``, ``round limit``, ``time limit``, ``model error``."""
    model: str = ""
    prim_home: str | None = None
    vps: str | None = None
    """The spawned server a CLI group's commands ran on (``--spawn``), else None."""

    def failing_steps(self) -> list[Step]:
        """Steps that did not succeed, in order."""
        return [s for s in self.steps if not s.ok]

    def to_json(self) -> dict[str, Any]:
        """Builtins for the results file (steps as ``Step.to_json``)."""
        data = asdict(self)
        data["steps"] = [s.to_json() for s in self.steps]
        data["ux_notes"] = list(self.ux_notes)
        return data
