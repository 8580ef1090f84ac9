"""The plan's own registration and faucet tests check real first answers (201 / drip body),
not the 409 / 429 of a wallet set-up done before them.

A real proxy on loopback sits in front of the sandbox and breaks one response: the
registration body, or a faucet field's name. Each must fail the gate, naming the test.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_primgate.sandbox.process import start_sandbox
from tests.plans import results

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
HOP = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
Mutate = Callable[[str, str, int, Any], Any]


def _proxy_handler(client: httpx.Client, mutate: Mutate) -> type[BaseHTTPRequestHandler]:

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _forward(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            answer = client.request(self.command, self.path, content=body, headers=headers)
            content = answer.content
            if answer.headers.get("content-type", "").startswith("application/json"):
                data = mutate(self.command, self.path.split("?")[0], answer.status_code,
                              answer.json())
                content = json.dumps(data).encode()
            self.send_response(answer.status_code)
            for key, value in answer.headers.items():
                if key.lower() not in HOP:
                    self.send_header(key, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    return Handler


@pytest.fixture
def proxy_for() -> Iterator[Callable[[Mutate], str]]:
    """Start the sandbox and a mutating proxy in front of it; yields ``start(mutate) -> url``."""
    servers: list[ThreadingHTTPServer] = []
    with start_sandbox() as sandbox, httpx.Client(base_url=sandbox.url, timeout=30) as client:

        def start(mutate: Mutate) -> str:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(client, mutate))
            servers.append(server)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            return f"http://127.0.0.1:{server.server_address[1]}"

        try:
            yield start
        finally:
            for server in servers:
                server.shutdown()
                server.server_close()


def unchanged(method: str, path: str, status: int, body: Any) -> Any:
    return body


def broken_registration(method: str, path: str, status: int, body: Any) -> Any:
    if method == "POST" and path == "/wallet/v1/wallets" and status == 201:
        return {"addr": body.get("address")}
    return body


def renamed_faucet_field(method: str, path: str, status: int, body: Any) -> Any:
    if method == "POST" and path == "/faucet/v1/faucet/usdc" and status == 200:
        return {("txHash" if k == "tx_hash" else k): v for k, v in body.items()}
    return body


def gate_through(pytester: pytest.Pytester, url: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    shutil.copy(MANIFESTS / "smoke-test-plan.json", pytester.path)
    shutil.copytree(MANIFESTS / "prims", pytester.path / "prims")
    result = pytester.runpytest_subprocess(
        "--primgate", "--ci", "-p", "no:cacheprovider",
        "--primgate-wallet", "ephemeral", "--primgate-base-url", f"*.prim.sh={url}/{{prim}}",
        "--primgate-results-dir", "out", "--group", "store",
    )
    data = results(pytester.path / "out")
    return result, {x["test_id"]: x for x in data["tests"]} | {"": data}


@pytest.mark.parametrize(("mutate", "culprit", "problem"), [
    (unchanged, "", ""),
    (broken_registration, "W-1", "address"),
    (renamed_faucet_field, "F-1", "tx_hash"),
], ids=["faithful-proxy", "broken-registration", "renamed-faucet-field"])
def test_the_plans_own_registration_and_faucet_tests_are_checked(
    pytester: pytest.Pytester, proxy_for: Callable[[Mutate], str], mutate: Mutate, culprit: str,
    problem: str,
) -> None:
    result, tests = gate_through(pytester, proxy_for(mutate))
    data = tests.pop("")
    out = result.stdout.str()
    assert tests["W-1"]["status_code"] == 201, out  # a fresh registration, not a 409
    if culprit != "W-1":
        assert tests["F-1"]["status_code"] == 200, out  # a real drip, not a 429
    if not culprit:
        assert result.ret == 0, out
        assert data["verdict"] == "PASSED"
        assert {t["outcome"] for t in tests.values()} == {"passed"}
        return
    assert result.ret == 1, out
    assert tests[culprit]["outcome"] == "failed"
    reason = tests[culprit]["reason"]
    assert reason.startswith("shape mismatch: $.") and problem in reason, reason
    assert data["verdict"] == "FAILED" and data["exit_code"] == 1
    assert f"failing smoke-test-plan.json::onboarding::{culprit}" in result.outlines[-1]
    assert result.outlines[-1] == data["verdict_line"]
