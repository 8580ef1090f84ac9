"""The canary's model client speaks the standard chat-completions tool-calling format.

The model here is a small OpenAI-compatible server in the test process (not the sandbox);
the tools still run against the sandbox, through the x402 client.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.openai_server import openai_server
from tests.plans import plan, results, t, write

SECRET = "sk-test-canary-0123456789"


def scripted(body: dict[str, Any]) -> dict[str, Any]:
    """Round 1: one http_request tool call; round 2: the final report."""
    if not any(m["role"] == "tool" for m in body["messages"]):
        call = {"id": "call_abc", "type": "function", "function": {
            "name": "http_request",
            "arguments": json.dumps({"method": "GET", "url": "https://store.prim.sh/"}),
        }}
        return {"message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls"}
    return {"message": {"role": "assistant",
                        "content": "Worked: GET /.\nUX: the health route answers clearly."},
            "finish_reason": "stop"}


def test_client_speaks_the_openai_tool_calling_format(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = plan({"store": [t("ST-1", "https://store.prim.sh/")]})
    data["groups"][0]["prompt"] = "Check that store is up."
    write(pytester.path, data)
    llms = pytester.path / "docs" / "store" / "llms.txt"
    llms.parent.mkdir(parents=True)
    llms.write_text("# store.prim.sh\nGET https://store.prim.sh/ is the health route.\n")
    monkeypatch.setenv("MY_MODEL_KEY", SECRET)
    with openai_server(scripted) as server:
        result = pytester.runpytest_subprocess(
            "--primgate", "--primgate-sandbox", "-p", "no:cacheprovider", "--canary",
            "--primgate-canary-endpoint", server.url, "--primgate-canary-model", "test-model",
            "--primgate-canary-api-key-env", "MY_MODEL_KEY", "--primgate-llms-dir", "docs",
            "--primgate-results-dir", "out", "--junit-xml", "junit.xml", "-v",
        )
    assert result.ret == 0, result.stdout.str()
    assert [r["path"] for r in server.requests] == ["/v1/chat/completions"] * 2
    first, second = (r["body"] for r in server.requests)
    headers = server.requests[0]["headers"]
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert headers["Content-Type"] == "application/json"
    assert first["model"] == "test-model" and first["tool_choice"] == "auto"
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert "GET https://store.prim.sh/ is the health route." in first["messages"][1]["content"]
    assert "Check that store is up." in first["messages"][1]["content"]
    tool = first["tools"][0]
    assert tool["type"] == "function" and tool["function"]["name"] == "http_request"
    assert tool["function"]["parameters"]["required"] == ["method", "url"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool"]
    assistant, tool_msg = second["messages"][2], second["messages"][3]
    assert assistant["tool_calls"][0]["id"] == "call_abc"
    assert assistant["tool_calls"][0]["function"]["name"] == "http_request"
    assert tool_msg["tool_call_id"] == "call_abc"
    answer = json.loads(tool_msg["content"])
    assert answer["status"] == 200 and answer["body"]["service"] == "store.sh"
    out = results(pytester.path / "out")
    entry = out["canary"]["groups"][0]
    assert entry["verdict"] == "pass" and entry["model"] == "test-model"
    assert entry["ux_notes"] == ["the health route answers clearly."]
    assert out["payments"] == [], "the model is not paid via x402 and GET / is free"
    everything = (result.stdout.str() + result.stderr.str()
                  + json.dumps(out) + (pytester.path / "junit.xml").read_text())
    assert SECRET not in everything
    props = {p.get("name"): p.get("value")
             for p in ET.parse(pytester.path / "junit.xml").getroot().iter("property")}
    assert props["canary_verdict"] == "pass" and props["canary_steps"] == "1"


def test_an_error_answer_of_the_model_is_an_error_without_the_key(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = plan({"store": [t("ST-1", "https://store.prim.sh/")]})
    data["groups"][0]["prompt"] = "Check that store is up."
    write(pytester.path, data)
    monkeypatch.setenv("CANARY_API_KEY", SECRET)
    monkeypatch.delenv("CANARY_MODEL", raising=False)
    with openai_server(scripted) as server:
        result = pytester.runpytest_subprocess(
            "--primgate", "--primgate-sandbox", "-p", "no:cacheprovider", "--canary",
            "--primgate-canary-endpoint", server.url + "/wrong/chat/completions",
            "--primgate-results-dir", "out",
        )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*canary error: model endpoint answered 404:*"])
    assert SECRET not in result.stdout.str() + result.stderr.str()
    assert server.requests[0]["body"]["model"] == "openrouter/auto"
