"""A small OpenAI-compatible chat-completions server on loopback (not the sandbox).

It answers ``POST /v1/chat/completions`` in the standard tool-calling wire format from a script
of replies and records every request it got, so tests can check what the client sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Script = Callable[[dict[str, Any]], dict[str, Any]]
"""Request body -> the assistant ``message`` and ``finish_reason`` to answer with."""


@dataclass
class Recorded:
    """What the server saw."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@contextmanager
def openai_server(script: Script) -> Iterator[Recorded]:
    """Serve ``script`` on 127.0.0.1 (free port) until the block ends."""
    seen = Recorded()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(min(length, 4 * 1024 * 1024)) or b"{}")
            seen.requests.append({"path": self.path, "headers": dict(self.headers.items()),
                                  "body": body})
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found", "type": "invalid_request"}})
                return
            answer = script(body)
            self._send(200, {
                "id": f"chatcmpl-{len(seen.requests)}", "object": "chat.completion",
                "created": 1700000000, "model": body.get("model", ""),
                "choices": [{"index": 0, "message": answer["message"],
                             "finish_reason": answer["finish_reason"]}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            })

        def _send(self, status: int, obj: dict[str, Any]) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    seen.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
