"""An OpenAI-compatible chat-completions client with tool calling (one request per round).

The same wire format serves the infer prim's ``/v1/chat`` (paid through the run's x402 client)
and any other endpoint (``--primgate-canary-endpoint``, bearer key from an environment
variable). The key is only ever put in the ``Authorization`` header; it never reaches a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from pytest_primgate.x402.errors import X402Error

MAX_RESPONSE_BYTES = 1024 * 1024
CHAT_SUFFIXES = ("/chat/completions", "/v1/chat")


class ChatError(Exception):
    """The model endpoint could not be used: one line, never the key."""


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for (arguments still JSON text)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    """The assistant message of one completion."""

    content: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    model: str

    def as_message(self) -> dict[str, Any]:
        """The assistant message to send back in the next round."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
        return message


def chat_url(endpoint: str) -> str:
    """``https://api.example/v1`` -> ``.../v1/chat/completions``; a full chat URL is kept."""
    url = endpoint.rstrip("/")
    return url if url.endswith(CHAT_SUFFIXES) else url + "/chat/completions"


def request_body(
    model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
) -> dict[str, Any]:
    """The chat-completions request upstream's runner sends."""
    return {
        "model": model, "messages": messages, "tools": tools, "tool_choice": "auto",
        "max_tokens": 2048, "temperature": 0.1,
    }


def parse_reply(data: Any) -> Reply:
    """The first choice of a chat-completions response; ``ChatError`` when it is malformed."""
    if not isinstance(data, dict):
        raise ChatError("model endpoint answered something that is not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ChatError("model endpoint returned no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise ChatError("model endpoint returned a choice without a message")
    calls: list[ToolCall] = []
    for index, raw in enumerate(message.get("tool_calls") or []):
        function = raw.get("function") if isinstance(raw, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ChatError(f"model endpoint returned a malformed tool call #{index}")
        arguments = function.get("arguments", "{}")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(ToolCall(str(raw.get("id") or f"call_{index}"), function["name"], arguments))
    content = message.get("content")
    return Reply(
        content=content if isinstance(content, str) else None,
        tool_calls=tuple(calls),
        finish_reason=str(choice.get("finish_reason") or ""),
        model=str(data.get("model") or ""),
    )


class ChatClient:
    """Posts chat-completions requests through ``http`` (an httpx or x402 client)."""

    def __init__(
        self, http: httpx.Client, url: str, model: str, *, api_key: str | None = None,
        test_id: str = "",
    ) -> None:
        self.http = http
        self.url = url
        self.model = model
        self._api_key = api_key
        self.test_id = test_id

    def __repr__(self) -> str:
        return f"<ChatClient {self.url} model={self.model}>"

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], timeout: float
    ) -> Reply:
        """One round: send the conversation, return the assistant's reply."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = json.dumps(request_body(self.model, messages, tools)).encode()
        try:
            with self.http.stream(
                "POST", self.url, content=body, headers=headers, timeout=max(timeout, 0.1),
                extensions={"primgate_test_id": self.test_id},
            ) as response:
                raw = _bounded(response, MAX_RESPONSE_BYTES)
                status = response.status_code
        except httpx.HTTPError as exc:
            raise ChatError(self._clean(f"model endpoint {self.url} unreachable: "
                                        f"{type(exc).__name__}: {exc}")) from None
        except X402Error as exc:
            raise ChatError(f"payment for the model call failed: {exc}") from None
        if not 200 <= status < 300:
            head = raw[:200].decode("utf-8", errors="replace")
            raise ChatError(self._clean(f"model endpoint answered {status}: {head}"))
        try:
            data = json.loads(raw)
        except ValueError:
            raise ChatError("model endpoint answered invalid JSON") from None
        return parse_reply(data)

    def _clean(self, text: str) -> str:
        text = " ".join(text.split())
        return text.replace(self._api_key, "***") if self._api_key else text


def _bounded(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of the body (the rest is not read)."""
    out = bytearray()
    for chunk in response.iter_bytes():
        out.extend(chunk)
        if len(out) >= limit:
            break
    return bytes(out[:limit])
