"""infer.sh: deterministic chat completions, embeddings and the model list."""

from __future__ import annotations

import hashlib
import math
import struct
import time
from typing import TYPE_CHECKING, Any

from pytest_primgate.sandbox.routing import BadRequest, guarded, json_object
from pytest_primgate.sandbox.types import Route, SandboxRequest, SandboxResponse

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp

PRIM = "infer"
MAX_BODY = 1024 * 1024
EMBED_DIMENSIONS = 16
ROLES = ("system", "user", "assistant", "tool")
MODELS = (
    {"id": "anthropic/claude-sonnet-4", "name": "Claude Sonnet 4", "context_length": 200000,
     "pricing": {"prompt": "0.000003", "completion": "0.000015"}},
    {"id": "openai/gpt-4o-mini", "name": "GPT-4o mini", "context_length": 128000,
     "pricing": {"prompt": "0.00000015", "completion": "0.0000006"}},
    {"id": "openai/text-embedding-3-small", "name": "Text Embedding 3 Small",
     "context_length": 8192, "pricing": {"prompt": "0.00000002", "completion": "0"}},
)


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _text(content: Any) -> str:
    """The text of a message's content (string, content parts or null)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))


def _check_body(request: SandboxRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY:
        raise BadRequest("Request body exceeds 1 MB", 413, "payload_too_large")
    data = json_object(request)
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model must be a non-empty string")
    return data


def completion(data: dict[str, Any]) -> dict[str, Any]:
    """A chat completion for a validated request; everything but ``created`` is deterministic."""
    messages: list[dict[str, Any]] = data["messages"]
    last_user = next((_text(m.get("content")) for m in reversed(messages)
                      if m.get("role") == "user"), "")
    content = f"sandbox reply to: {last_user}"
    canonical = repr((data["model"], [(m.get("role"), _text(m.get("content")))
                                      for m in messages]))
    prompt_tokens = sum(_tokens(_text(m.get("content"))) for m in messages)
    completion_tokens = _tokens(content)
    return {
        "id": "chatcmpl-" + hashlib.sha256(canonical.encode()).hexdigest()[:24],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def embedding(text: str) -> list[float]:
    """A deterministic unit vector for ``text``."""
    raw = hashlib.sha256(text.encode()).digest()[: 2 * EMBED_DIMENSIONS]
    values = [v / 32768.0 for v in struct.unpack(f">{EMBED_DIMENSIONS}h", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [round(v / norm, 6) for v in values]


def routes(app: SandboxApp) -> list[Route]:
    """infer.sh routes at the prices of its prim.yaml ``pricing``."""

    def chat(request: SandboxRequest) -> SandboxResponse:
        """OpenAI-compatible chat completion (deterministic)."""
        data = _check_body(request)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages must be a non-empty array")
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                raise BadRequest(f"messages[{i}].role must be one of {', '.join(ROLES)}")
            content = message.get("content")
            if content is not None and not isinstance(content, str | list):
                raise BadRequest(f"messages[{i}].content must be a string, an array or null")
        if data.get("stream"):
            raise BadRequest("stream is not supported by the sandbox")
        if data.get("tools"):
            from pytest_primgate.sandbox.canary_agent import agent_completion

            return SandboxResponse.json(200, agent_completion(data))
        return SandboxResponse.json(200, completion(data))

    def embed(request: SandboxRequest) -> SandboxResponse:
        """Embeddings for a string or a list of strings (deterministic)."""
        data = _check_body(request)
        raw = data.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if (not isinstance(inputs, list) or not inputs
                or not all(isinstance(s, str) and s for s in inputs)):
            raise BadRequest("input must be a non-empty string or array of non-empty strings")
        tokens = sum(_tokens(s) for s in inputs)
        return SandboxResponse.json(200, {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": embedding(s)}
                     for i, s in enumerate(inputs)],
            "model": data["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        })

    def models(request: SandboxRequest) -> SandboxResponse:
        """Models available for chat and embeddings."""
        return SandboxResponse.json(200, {"data": list(MODELS)})

    return [
        Route("POST", PRIM, "/v1/chat", guarded(chat), price="0.01"),
        Route("POST", PRIM, "/v1/embed", guarded(embed), price="0.0001"),
        Route("GET", PRIM, "/v1/models", guarded(models), price="0.001"),
    ]
