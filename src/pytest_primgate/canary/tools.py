"""The agent's tools: ``http_request`` through the x402 client, ``shell_exec`` in PRIM_HOME.

Every call is bounded in time and in the bytes it reads; what goes back to the model is cut
further (4000 characters of body or stdout, 2000 of stderr, as upstream).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from typing import IO, Any

import httpx

from pytest_primgate.canary.result import Step
from pytest_primgate.x402.errors import X402Error

MAX_BODY_BYTES = 64 * 1024
MODEL_BODY_CHARS = 4000
MODEL_STDERR_CHARS = 2000
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")

HTTP_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "http_request",
        "description": "Make an HTTP request to a prim.sh API endpoint. "
                       "x402 payments are handled automatically.",
        "parameters": {
            "type": "object",
            "properties": {
                "method": {"type": "string", "enum": list(METHODS), "description": "HTTP method"},
                "url": {"type": "string", "description": "Full URL to request "
                        "(e.g. https://store.prim.sh/v1/buckets)"},
                "body": {"type": "object", "description": "Request body for POST/PUT/PATCH. "
                         "Omit for GET/DELETE."},
                "headers": {"type": "object", "description": "Additional request headers "
                            "(optional).", "additionalProperties": {"type": "string"}},
            },
            "required": ["method", "url"],
        },
    },
}
SHELL_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "shell_exec",
        "description": "Execute a shell command locally. Returns stdout, stderr, exit code.",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string",
                                       "description": "The shell command to execute"}},
            "required": ["command"],
        },
    },
}


@dataclass(frozen=True)
class ToolOutcome:
    """A step for the report and the tool message for the model."""

    step: Step
    content: str


def _json(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _read(response: httpx.Response, limit: int) -> bytes:
    out = bytearray()
    for chunk in response.iter_bytes():
        out.extend(chunk)
        if len(out) >= limit:
            break
    return bytes(out[:limit])


def http_request(
    http: httpx.Client, args: dict[str, Any], *, timeout: float, test_id: str
) -> ToolOutcome:
    """Send the agent's request (paid when challenged); 2xx is ok."""
    method = str(args.get("method") or "GET").upper()
    url = str(args.get("url") or "")
    base = Step(tool="http_request", method=method, url=url)
    if method not in METHODS or not url.startswith(("http://", "https://")):
        note = f"invalid request: method must be one of {', '.join(METHODS)} and url absolute"
        return ToolOutcome(_replace(base, note=note), _json({"error": note}))
    headers = {str(k): str(v) for k, v in (args.get("headers") or {}).items()} if isinstance(
        args.get("headers"), dict) else {}
    body = args.get("body")
    content: bytes | None = None
    if body is not None and method in ("POST", "PUT", "PATCH"):
        if isinstance(body, str):
            content = body.encode()
            headers.setdefault("Content-Type", "text/plain")
        else:
            content = _json(body).encode()
            headers["Content-Type"] = "application/json"
    try:
        with http.stream(method, url, content=content, headers=headers, timeout=timeout,
                         extensions={"primgate_test_id": test_id}) as response:
            raw = _read(response, MAX_BODY_BYTES)
            status = response.status_code
            kind = response.headers.get("content-type", "")
    except httpx.HTTPError as exc:
        note = f"request failed: {type(exc).__name__}: {' '.join(str(exc).split())}"[:300]
        step = _replace(base, note=note, network_error=True)
        return ToolOutcome(step, _json({"error": note}))
    except X402Error as exc:
        note = f"payment failed: {exc}"[:300]
        return ToolOutcome(_replace(base, note=note), _json({"error": note}))
    text = raw.decode("utf-8", errors="replace")
    parsed: Any = text[:MODEL_BODY_CHARS]
    if "json" in kind:
        with contextlib.suppress(ValueError):
            parsed = json.loads(text)
    ok = 200 <= status < 300
    rendered = _json({"status": status, "body": parsed})
    if len(rendered) > MODEL_BODY_CHARS + 100:
        rendered = _json({"status": status, "body": text[:MODEL_BODY_CHARS]})
    return ToolOutcome(_replace(base, status=status, ok=ok), rendered)


def _replace(step: Step, **changes: Any) -> Step:
    from dataclasses import replace

    return replace(step, **changes)


def _head(handle: IO[bytes], limit: int) -> str:
    handle.seek(0)
    return handle.read(limit).decode("utf-8", errors="replace")


def shell_exec(args: dict[str, Any], *, prim_home: str, timeout: float) -> ToolOutcome:
    """Run ``sh -c command`` in ``prim_home`` (also ``PRIM_HOME`` and ``HOME``); the whole
    process group is killed at the time limit."""
    command = str(args.get("command") or "")
    base = Step(tool="shell_exec", command=command)
    if not command.strip():
        return ToolOutcome(_replace(base, note="empty command"), _json({"error": "empty command"}))
    env = dict(os.environ)
    env.update(PRIM_HOME=prim_home, HOME=prim_home,
               PATH=f"{prim_home}/bin:{env.get('PATH', '/usr/bin:/bin')}")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            ["sh", "-c", command], cwd=prim_home, env=env, stdout=out, stderr=err,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            code = proc.wait(timeout=timeout)
            note = ""
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            code = proc.returncode
            note = f"timed out after {timeout:g} s"
        stdout = _head(out, MODEL_BODY_CHARS)
        stderr = _head(err, MODEL_STDERR_CHARS)
    step = _replace(base, exit_code=code, ok=code == 0 and not note, note=note)
    return ToolOutcome(step, _json({"exit_code": code, "stdout": stdout, "stderr": stderr}))
