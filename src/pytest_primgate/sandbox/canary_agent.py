"""The sandbox's deterministic agent: infer's chat answers tool-calling requests with it.

It does what a careful model would do with a llms.txt and no imagination: it sends the
request examples the documentation shows, in order, one per round, filling ``<a.b[0].c>``
placeholders from earlier responses (latest first); then it writes a final report. Examples are
lines ``METHOD https://host/path [JSON or "text" body]``; for ``shell_exec`` tools, lines
``$ command``. So ``--canary`` runs offline and exercises the whole loop.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any

METHODS = "GET|POST|PUT|PATCH|DELETE"
REQUEST_LINE = re.compile(rf"^\s*({METHODS})\s+(https?://\S+)(?:[ \t]+(\S.*?))?\s*$", re.M)
COMMAND_LINE = re.compile(r"^\s*\$\s+(\S.*?)\s*$", re.M)
PLACEHOLDER = re.compile(r"<([A-Za-z_][\w]*(?:\.\w+|\[\d+\])*)>")
_SEGMENT = re.compile(r"\.?(\w+)|\[(\d+)\]")


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _tool_names(data: dict[str, Any]) -> set[str]:
    names = set()
    for tool in data.get("tools") or []:
        if isinstance(tool, dict) and isinstance(tool.get("function"), dict):
            names.add(str(tool["function"].get("name", "")))
    return names


def _docs(messages: list[dict[str, Any]]) -> str:
    return next((_text(m.get("content")) for m in messages if m.get("role") == "user"), "")


def examples(docs: str, shell: bool) -> list[dict[str, Any]]:
    """The documented requests (or ``$`` commands) in order, as tool arguments."""
    if shell:
        return [{"command": m.group(1)} for m in COMMAND_LINE.finditer(docs)]
    out: list[dict[str, Any]] = []
    for match in REQUEST_LINE.finditer(docs):
        args: dict[str, Any] = {"method": match.group(1), "url": match.group(2)}
        raw = match.group(3)
        if raw:
            try:
                args["body"] = json.loads(raw)
            except ValueError:
                args["body"] = raw
        out.append(args)
    return out


def _lookup(body: Any, path: str) -> Any:
    current = body
    for name, index in _SEGMENT.findall(path):
        if index:
            if not isinstance(current, list) or int(index) >= len(current):
                return None
            current = current[int(index)]
        else:
            if not isinstance(current, dict) or name not in current:
                return None
            current = current[name]
    return current


def _responses(messages: list[dict[str, Any]]) -> list[Any]:
    """Bodies of earlier tool results, latest first."""
    bodies: list[Any] = []
    for message in messages:
        if message.get("role") == "tool":
            try:
                parsed = json.loads(_text(message.get("content")))
            except ValueError:
                continue
            if isinstance(parsed, dict):
                bodies.append(parsed.get("body"))
    return bodies[::-1]


def fill(value: Any, bodies: list[Any]) -> Any:
    """Placeholders replaced by values of earlier responses; unknown ones stay as written."""
    if isinstance(value, str):
        def one(match: re.Match[str]) -> str:
            for body in bodies:
                found = _lookup(body, match.group(1))
                if isinstance(found, str | int | float) and not isinstance(found, bool):
                    return str(found)
            return match.group(0)

        return PLACEHOLDER.sub(one, value)
    if isinstance(value, list):
        return [fill(v, bodies) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, bodies) for k, v in value.items()}
    return value


def _outcomes(messages: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    """(what was called, result text, ok) for every tool call so far."""
    calls: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or []:
            try:
                args = json.loads(call["function"]["arguments"])
            except (KeyError, TypeError, ValueError):
                args = {}
            what = args.get("command") or f"{args.get('method')} {args.get('url')}"
            calls[str(call.get("id"))] = str(what)
    out: list[tuple[str, str, bool]] = []
    for message in messages:
        if message.get("role") != "tool":
            continue
        what = calls.get(str(message.get("tool_call_id")), "?")
        try:
            result = json.loads(_text(message.get("content")))
        except ValueError:
            result = {}
        if "status" in result:
            status = result["status"]
            out.append((what, str(status), isinstance(status, int) and 200 <= status < 300))
        elif "exit_code" in result:
            out.append((what, f"exit {result['exit_code']}", result["exit_code"] == 0))
        else:
            out.append((what, str(result.get("error", "error"))[:120], False))
    return out


def report(messages: list[dict[str, Any]], planned: int) -> str:
    """The final structured report a model would give."""
    if planned == 0:
        return ("Canary report (sandbox agent): the documentation shows no request examples, "
                "so nothing was tried.\nOverall assessment: cannot tell whether the docs work.")
    outcomes = _outcomes(messages)
    worked = [f"{w} ({r})" for w, r, ok in outcomes if ok]
    failed = [(w, r) for w, r, ok in outcomes if not ok]
    lines = [f"Canary report (sandbox agent): followed {planned} documented step(s).",
             "Worked: " + ("; ".join(worked) or "none")]
    lines.append("Failed: " + ("; ".join(f"{w} ({r})" for w, r in failed) or "none"))
    lines.extend(f"UX: the documented step {w} answered {r}; the docs may be wrong here"
                 for w, r in failed[:3])
    verdict = "the docs match the service" if not failed else "the docs need fixing"
    lines.append(f"Overall assessment: {verdict}.")
    return "\n".join(lines)


def agent_completion(data: dict[str, Any]) -> dict[str, Any]:
    """A chat completion for a tool-calling request: the next documented step or the report."""
    messages: list[dict[str, Any]] = data["messages"]
    names = _tool_names(data)
    shell = "shell_exec" in names and "http_request" not in names
    planned = examples(_docs(messages), shell)
    done = sum(1 for m in messages if m.get("role") == "tool")
    message: dict[str, Any]
    if done < len(planned):
        args = fill(planned[done], _responses(messages))
        name = "shell_exec" if shell else "http_request"
        message = {"role": "assistant", "content": None, "tool_calls": [{
            "id": f"call_{done + 1}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }]}
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": report(messages, len(planned))}
        finish = "stop"
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode())
    return {
        "id": "chatcmpl-canary-" + digest.hexdigest()[:20],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
