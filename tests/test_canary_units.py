"""Pure parts of the canary: verdicts, UX notes, the loop's limits, prompts, the sandbox agent."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.canary import prompt as prompts
from pytest_primgate.canary.chat import ChatError, Reply, ToolCall, chat_url, parse_reply
from pytest_primgate.canary.hooks import CanaryContext, HookError, find_hook, run_setup
from pytest_primgate.canary.loop import Limits, run_loop
from pytest_primgate.canary.result import Step
from pytest_primgate.canary.tools import HTTP_TOOL, SHELL_TOOL, ToolOutcome, shell_exec
from pytest_primgate.canary.verdict import effective, reason, ux_notes, verdict
from pytest_primgate.sandbox.canary_agent import agent_completion, examples, fill

OK = Step(tool="http_request", method="GET", url="https://a/", status=200, ok=True)
BAD = Step(tool="http_request", method="GET", url="https://a/x", status=404)
DOWN = Step(tool="http_request", method="GET", url="https://b/", note="request failed: x",
            network_error=True)


@pytest.mark.parametrize(("steps", "error", "expected"), [
    ([], None, "warn"),
    ([OK, OK], None, "pass"),
    ([OK, BAD], None, "warn"),
    ([BAD, BAD], None, "fail"),
    ([OK, DOWN], None, "error"),
    ([OK], "model endpoint unreachable", "error"),
])
def test_verdict_as_upstream(steps: list[Step], error: str | None, expected: str) -> None:
    assert verdict(steps, error) == expected


def test_effective_verdict_of_a_new_prim_only_warns() -> None:
    assert effective("fail", "new") == "warn" and effective("error", "off") == "warn"
    assert effective("fail", "live") == "fail" and effective("pass", "new") == "pass"


def test_reason_names_the_first_failing_step() -> None:
    assert reason("warn", [OK, BAD, BAD], None) == (
        "canary warn: 2 of 3 step(s) failed; first: GET https://a/x (status 404)")
    assert reason("warn", [], None) == "canary: the agent made no tool call"
    assert reason("error", [], "boom") == "canary error: boom"


def test_ux_notes_follow_upstream_patterns() -> None:
    summary = "Worked: all.\nUX: the quota route is confusing to find\nNotes: short\nissue: x"
    assert ux_notes(summary) == ("the quota route is confusing to find",)
    assert ux_notes(None) == ()


class FakeModel:
    """Replies from a function of the conversation."""

    model = "fake"

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls = 0

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                 timeout: float) -> Reply:
        self.calls += 1
        reply: Reply = self.answer(messages)
        return reply


def call(url: str, ident: str = "c1", method: str = "GET") -> Reply:
    args = json.dumps({"method": method, "url": url})
    return Reply(None, (ToolCall(ident, "http_request", args),), "tool_calls", "fake")


def tool_answer(status: int) -> Any:
    def run(name: str, args: dict[str, Any], left: float) -> ToolOutcome:
        step = Step(tool=name, method=args["method"], url=args["url"], status=status,
                    ok=200 <= status < 300)
        return ToolOutcome(step, json.dumps({"status": status}))
    return run


def loop(model: FakeModel, status: int = 200, **limits: Any) -> Any:
    return run_loop("g", system="s", prompt="p", model=model, tools=[HTTP_TOOL],
                    run_tool=tool_answer(status), limits=Limits(**limits))


def test_a_model_that_never_stops_ends_at_the_round_limit() -> None:
    model = FakeModel(lambda m: call("https://a/"))
    result = loop(model)
    assert model.calls == 10 and result.rounds == 10 and result.stopped == "round limit"
    assert len(result.steps) == 10 and result.verdict == "pass"
    assert loop(FakeModel(lambda m: call("https://a/")), max_rounds=20).rounds == 20


def test_the_same_failing_request_runs_twice_then_is_refused() -> None:
    sent: list[str] = []

    def run(name: str, args: dict[str, Any], left: float) -> ToolOutcome:
        sent.append(args["url"])
        return tool_answer(500)(name, args, left)

    result = run_loop("g", system="s", prompt="p", model=FakeModel(lambda m: call("https://a/x")),
                      tools=[HTTP_TOOL], run_tool=run, limits=Limits(max_rounds=5))
    assert sent == ["https://a/x", "https://a/x"]
    assert [s.note for s in result.steps[2:]] == ["skipped: failed 2 times already"] * 3
    assert result.verdict == "fail"


def test_a_success_resets_the_failure_count() -> None:
    statuses = iter([500, 200, 500, 500, 500])

    def run(name: str, args: dict[str, Any], left: float) -> ToolOutcome:
        return tool_answer(next(statuses))(name, args, left)

    result = run_loop("g", system="s", prompt="p", model=FakeModel(lambda m: call("https://a/")),
                      tools=[HTTP_TOOL], run_tool=run, limits=Limits(max_rounds=5))
    assert [s.status for s in result.steps] == [500, 200, 500, 500, None]


def test_the_time_limit_ends_the_loop() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 4.0
        return now[0]

    result = run_loop("g", system="s", prompt="p", model=FakeModel(lambda m: call("https://a/")),
                      tools=[HTTP_TOOL], run_tool=tool_answer(200),
                      limits=Limits(time_limit=10.0), clock=clock)
    assert result.stopped == "time limit" and result.rounds < 3


def test_a_final_message_ends_the_loop_with_the_report() -> None:
    def answer(messages: list[dict[str, Any]]) -> Reply:
        if len(messages) < 4:
            return call("https://a/")
        return Reply("UX: the docs are very clear indeed", (), "stop", "m-1")

    result = loop(FakeModel(answer))
    assert result.stopped == "final report" and result.rounds == 2
    assert result.ux_notes == ("the docs are very clear indeed",) and result.model == "m-1"


def test_a_model_error_is_an_error_verdict() -> None:
    def answer(messages: list[dict[str, Any]]) -> Reply:
        raise ChatError("model endpoint answered 500: oops")

    result = loop(FakeModel(answer))
    assert result.verdict == "error" and result.error == "model endpoint answered 500: oops"


def test_an_unknown_tool_is_a_failed_step_not_a_crash() -> None:
    reply = Reply(None, (ToolCall("c", "rm_rf", "{}"),), "tool_calls", "")
    result = loop(FakeModel(lambda m: reply), max_rounds=1)
    assert result.steps[0].note == "unknown tool 'rm_rf'" and not result.steps[0].ok


def test_parse_reply_reads_the_standard_format_and_rejects_others() -> None:
    reply = parse_reply({"model": "m", "choices": [{"message": {
        "role": "assistant", "content": None, "tool_calls": [{
            "id": "x", "type": "function",
            "function": {"name": "http_request", "arguments": "{\"url\": \"u\"}"}}]},
        "finish_reason": "tool_calls"}]})
    assert reply.tool_calls == (ToolCall("x", "http_request", '{"url": "u"}'),)
    assert reply.as_message()["tool_calls"][0]["function"]["name"] == "http_request"
    with pytest.raises(ChatError, match="no choices"):
        parse_reply({"choices": []})
    with pytest.raises(ChatError, match="malformed tool call #0"):
        parse_reply({"choices": [{"message": {"tool_calls": [{"function": {}}]}}]})


def test_chat_url() -> None:
    assert chat_url("https://api.example/v1/") == "https://api.example/v1/chat/completions"
    assert chat_url("https://infer.prim.sh/v1/chat") == "https://infer.prim.sh/v1/chat"


def test_docs_are_found_in_order(tmp_path: Path) -> None:
    plan_dir = tmp_path / "repo" / "tests"
    plan_dir.mkdir(parents=True)
    site = tmp_path / "repo" / "site"
    (site / "store").mkdir(parents=True)
    (site / "store" / "llms.txt").write_text("store docs")
    (site / "llms.txt").write_text("root docs")
    own = tmp_path / "own" / "store"
    own.mkdir(parents=True)
    (own / "llms.txt").write_text("mine")
    find = prompts.find_docs
    root = tmp_path / "repo"
    eps = {"store": "store.prim.sh", "search": "search.prim.sh"}
    assert find(["store"], plan_dir=plan_dir, rootdir=root, llms_dir=None,
                endpoints=eps).path == site / "store" / "llms.txt"
    assert find(["store"], plan_dir=plan_dir, rootdir=root, llms_dir=tmp_path / "own",
                endpoints=eps).path == own / "llms.txt"
    assert find(["store", "search"], plan_dir=plan_dir, rootdir=root, llms_dir=None,
                endpoints=eps).path == site / "llms.txt"
    assert find(["search"], plan_dir=plan_dir, rootdir=root, llms_dir=None,
                endpoints=eps).url == "https://search.prim.sh/llms.txt"


def test_api_prompt_carries_the_task_and_the_docs() -> None:
    text = prompts.api_prompt("Create a bucket.", "store.sh", "store.prim.sh", "DOCS")
    assert text.startswith("You are testing store.sh (store.prim.sh).")
    assert "Create a bucket." in text and text.endswith("## API Documentation\nDOCS")
    assert "Do NOT retry the same endpoint more than twice." in text
    assert prompts.substitute("code {{invite_code}} {{other}}", {"invite_code": "X1"}) == (
        "code X1 {{other}}")


def test_sandbox_agent_follows_examples_and_fills_values() -> None:
    docs = ('POST https://s.prim.sh/v1/buckets {"name": "n"}\n'
            "text GET https://not-at-line-start/\n"
            '  PUT https://s.prim.sh/v1/buckets/<bucket.id>/objects/a "hi"\n')
    found = examples(docs, shell=False)
    assert found == [
        {"method": "POST", "url": "https://s.prim.sh/v1/buckets", "body": {"name": "n"}},
        {"method": "PUT", "url": "https://s.prim.sh/v1/buckets/<bucket.id>/objects/a",
         "body": "hi"},
    ]
    assert fill(found[1]["url"], [{"bucket": {"id": "b-7"}}]).endswith("/buckets/b-7/objects/a")
    assert fill("<data[0].id> <missing>", [{"data": [{"id": "m"}]}]) == "m <missing>"
    assert examples("$ echo hi\nno\n  $ ls -la\n", shell=True) == [
        {"command": "echo hi"}, {"command": "ls -la"}]


def test_sandbox_agent_conversation() -> None:
    user = {"role": "user", "content": "GET https://s.prim.sh/\nGET https://s.prim.sh/v1/x\n"}
    data: dict[str, Any] = {"model": "m", "tools": [HTTP_TOOL],
                            "messages": [{"role": "system", "content": "s"}, user]}
    first = agent_completion(data)["choices"][0]
    assert first["finish_reason"] == "tool_calls"
    data["messages"] += [first["message"], {"role": "tool", "tool_call_id": "call_1",
                                            "content": json.dumps({"status": 200, "body": {}})}]
    second = agent_completion(data)["choices"][0]["message"]
    assert json.loads(second["tool_calls"][0]["function"]["arguments"])["url"].endswith("/v1/x")
    data["messages"] += [second, {"role": "tool", "tool_call_id": "call_2",
                                  "content": json.dumps({"status": 404, "body": {}})}]
    final = agent_completion(data)["choices"][0]
    assert final["finish_reason"] == "stop"
    assert "Failed: GET https://s.prim.sh/v1/x (404)" in final["message"]["content"]
    assert ux_notes(final["message"]["content"])


def test_hooks_come_from_plugins_or_fail_naming_where_to_define_them() -> None:
    class Conftest:
        @staticmethod
        def primgate_canary_setup_code(ctx: CanaryContext) -> dict[str, str]:
            return {"invite_code": "ABC"}

    ctx = CanaryContext(group="g", prim_home=None)
    run_setup("code", ctx, [Conftest()])
    assert ctx.variables == {"invite_code": "ABC"}
    with pytest.raises(HookError, match="define primgate_canary_cleanup_code"):
        find_hook("cleanup", "code", [Conftest()])


def test_shell_exec_is_bounded_in_time_and_output(tmp_path: Path) -> None:
    started = time.monotonic()
    slow = shell_exec({"command": "sleep 30 & sleep 30"}, prim_home=str(tmp_path), timeout=0.5)
    assert time.monotonic() - started < 10
    assert slow.step.note == "timed out after 0.5 s" and not slow.step.ok
    big = shell_exec({"command": "head -c 1000000 /dev/zero | tr '\\0' a"},
                     prim_home=str(tmp_path), timeout=10)
    assert big.step.ok and len(json.loads(big.content)["stdout"]) == 4000
    assert SHELL_TOOL["function"]["name"] == "shell_exec"


def test_verdict_line_and_rows_of_the_canary_report() -> None:
    from pytest_primgate.canary.report import canary_lines, canary_section, verdict_line

    failed = {"group": "store", "prim": "store", "verdict": "fail", "outcome": "failed",
              "reason": "canary fail: 1 of 1 step(s) failed; first: GET u (status 404)",
              "rounds": 2, "stopped": "final report", "ux_notes": ["docs show a wrong route"],
              "steps": [{"tool": "http_request", "method": "GET", "url": "u", "status": 404,
                         "ok": False, "note": None}]}
    warned = {**failed, "group": "search", "verdict": "warn", "outcome": "warn", "ux_notes": []}
    assert verdict_line("primgate: PASSED — no primgate items ran", [failed], False) == (
        "primgate: FAILED — canary store (fail)")
    assert verdict_line("primgate: FAILED — prim x: 1 of 2", [failed], True) == (
        "primgate: FAILED — prim x: 1 of 2; also FAILED: canary store (fail)")
    assert verdict_line("primgate: PASSED — no primgate items ran", [warned], False) == (
        "primgate: PASSED — 1 canary group(s), none failed (canary: 1 warn)")
    lines = canary_lines([failed])
    assert lines[1].split() == ["canary", "store", "store", "fail", "0/1", "2", "final",
                                "report", "GET", "u", "(404)"]
    assert lines[2:] == [f"canary store: {failed['reason']}",
                         "canary store: ux: docs show a wrong route"]
    assert canary_section([failed, warned])["summary"] == {
        "total_groups": 2, "pass": 0, "warn": 1, "fail": 1, "error": 0}


def test_http_request_reads_a_bounded_body_and_times_out(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx

    from pytest_primgate.canary.tools import http_request

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path == "/slow":
                time.sleep(2)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(8 * 1024 * 1024))
            self.end_headers()
            try:
                for _ in range(128):
                    self.wfile.write(b"a" * 65536)
            except (BrokenPipeError, ConnectionResetError):
                return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with httpx.Client() as http:
            big = http_request(http, {"method": "GET", "url": f"{base}/big"}, timeout=10,
                               test_id="t")
            slow = http_request(http, {"method": "GET", "url": f"{base}/slow"}, timeout=0.3,
                                test_id="t")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert big.step.ok and big.step.status == 200
    assert len(json.loads(big.content)["body"]) == 4000
    assert slow.step.network_error and slow.step.note.startswith("request failed: ReadTimeout")
