"""The agent loop of one group, with the model and the tools injected (no I/O of its own).

Limits as upstream: at most ``max_rounds`` model calls (10, 20 for CLI groups), a request
that failed twice (same ``METHOD url``) is not sent again, and the group's time limit is
checked before every model call and every tool call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pytest_primgate.canary.chat import ChatError, Reply, ToolCall
from pytest_primgate.canary.result import CanaryResult, Step
from pytest_primgate.canary.tools import ToolOutcome
from pytest_primgate.canary.verdict import ux_notes, verdict

MAX_ROUNDS_API = 10
MAX_ROUNDS_CLI = 20
MAX_FAILURES_PER_ENDPOINT = 2
SUMMARY_CHARS = 4000


class Model(Protocol):
    """What the loop needs of a chat client."""

    model: str

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], timeout: float
    ) -> Reply: ...


ToolRunner = Callable[[str, dict[str, Any], float], ToolOutcome]
"""``(tool name, arguments, seconds left) -> outcome``."""


@dataclass(frozen=True)
class Limits:
    """Bounds of one group's loop."""

    max_rounds: int = MAX_ROUNDS_API
    max_failures: int = MAX_FAILURES_PER_ENDPOINT
    time_limit: float = 300.0


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        parsed = json.loads(call.arguments or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def run_loop(
    group: str, *, system: str, prompt: str, model: Model, tools: list[dict[str, Any]],
    run_tool: ToolRunner, limits: Limits, clock: Callable[[], float] = time.monotonic,
) -> CanaryResult:
    """Talk to the model until it reports (no tool call / ``stop``) or a limit ends it."""
    deadline = clock() + limits.time_limit
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": system}, {"role": "user", "content": prompt},
    ]
    allowed = {t["function"]["name"] for t in tools}
    steps: list[Step] = []
    failures: dict[str, int] = {}
    summary: str | None = None
    stopped = "round limit"
    rounds = 0
    used_model = model.model
    for _ in range(limits.max_rounds):
        left = deadline - clock()
        if left <= 0:
            stopped = "time limit"
            break
        rounds += 1
        try:
            reply = model.complete(messages, tools, left)
        except ChatError as exc:
            return _result(group, steps, None, str(exc), rounds, "model error", used_model)
        used_model = reply.model or used_model
        messages.append(reply.as_message())
        if not reply.tool_calls:
            summary, stopped = reply.content, "final report"
            break
        for call in reply.tool_calls:
            args = _arguments(call)
            outcome = _one_call(call, args, allowed, failures, limits, deadline - clock(),
                                run_tool)
            steps.append(outcome.step)
            messages.append({"role": "tool", "tool_call_id": call.id, "content": outcome.content})
        if reply.finish_reason == "stop":
            summary, stopped = reply.content, "final report"
            break
    return _result(group, steps, summary, None, rounds, stopped, used_model)


def _one_call(
    call: ToolCall, args: dict[str, Any], allowed: set[str], failures: dict[str, int],
    limits: Limits, left: float, run_tool: ToolRunner,
) -> ToolOutcome:
    if call.name not in allowed:
        note = f"unknown tool {call.name!r}"
        return ToolOutcome(Step(tool=call.name, note=note), json.dumps({"error": note}))
    key = (f"{str(args.get('method') or 'GET').upper()} {args.get('url') or ''}"
           if call.name == "http_request" else f"EXEC {args.get('command') or ''}")
    prior = failures.get(key, 0)
    if prior >= limits.max_failures:
        note = f"skipped: failed {prior} times already"
        step = Step(tool=call.name, method=key.split(" ", 1)[0] if call.name == "http_request"
                    else "", url=str(args.get("url") or ""), command=str(args.get("command")
                                                                         or ""), note=note)
        message = (f"This endpoint has failed {prior} times. "
                   "Stop retrying and move to the next task.")
        return ToolOutcome(step, json.dumps({"error": message}))
    if left <= 0:
        note = "skipped: group time limit reached"
        return ToolOutcome(Step(tool=call.name, note=note), json.dumps({"error": note}))
    outcome = run_tool(call.name, args, left)
    failures[key] = 0 if outcome.step.ok else prior + 1
    return outcome


def _result(
    group: str, steps: list[Step], summary: str | None, error: str | None, rounds: int,
    stopped: str, model: str,
) -> CanaryResult:
    if summary is not None:
        summary = summary[:SUMMARY_CHARS]
    return CanaryResult(
        group=group, verdict=verdict(steps, error), steps=tuple(steps),
        ux_notes=ux_notes(summary), agent_summary=summary, error=error, rounds=rounds,
        stopped=stopped, model=model,
    )
