"""``--canary`` against the sandbox: the agent reads llms.txt and uses the prims end to end.

The sandbox's infer chat answers tool-calling requests with a deterministic agent that sends
the requests the docs show, in order, so each llms.txt below decides what the agent does.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.report.results import validate_results
from tests.plans import plan, prim_yaml, results, t, write

SANDBOX = ("--primgate", "--primgate-sandbox", "-p", "no:cacheprovider",
           "--primgate-results-dir", "out")
STORE_PROMPT = "Create a bucket and look at it."


def canary_plan(
    groups: dict[str, list[dict[str, Any]]], prompts: dict[str, str],
    extra: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A plan whose groups carry prompts (and extra group fields)."""
    data = plan(groups)
    for group in data["groups"]:
        group["prompt"] = prompts.get(group["id"], "")
        group.update((extra or {}).get(group["id"], {}))
    return data


def docs(root: Path, prim: str, *lines: str) -> None:
    """``site/<prim>/llms.txt`` with the given example lines."""
    path = root / "site" / prim / "llms.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {prim}.prim.sh\n\n## Examples\n\n" + "".join(f"  {x}\n" for x in lines))


def store_plan(pytester: pytest.Pytester, **extra: dict[str, Any]) -> None:
    write(pytester.path, canary_plan(
        {"store": [t("ST-1", "https://store.prim.sh/")]}, {"store": STORE_PROMPT}, extra))


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*SANDBOX, "--canary", *args)


def canary_of(pytester: pytest.Pytester, group: str) -> dict[str, Any]:
    data = results(pytester.path / "out")
    assert validate_results(data) == []
    by_group = {g["group"]: g for g in data["canary"]["groups"]}
    entry: dict[str, Any] = by_group[group]
    return entry


GOOD_STORE = (
    'POST https://store.prim.sh/v1/buckets {"name": "canary-notes"}',
    "GET https://store.prim.sh/v1/buckets/<bucket.id>",
    'PUT https://store.prim.sh/v1/buckets/<bucket.id>/objects/a.txt "secret body text"',
    "GET https://store.prim.sh/v1/buckets/<bucket.id>/objects/a.txt",
    "DELETE https://store.prim.sh/v1/buckets/<bucket.id>/objects/a.txt",
    "DELETE https://store.prim.sh/v1/buckets/<bucket.id>",
)


def test_docs_that_are_right_pass(pytester: pytest.Pytester) -> None:
    store_plan(pytester)
    docs(pytester.path, "store", *GOOD_STORE)
    result = run(pytester, "-v", "--junit-xml", "junit.xml")
    assert result.ret == 0
    result.stdout.fnmatch_lines([
        "*smoke-test-plan.json::store::canary PASSED*",
        "canary  store  store  pass     6/6       7       final report*",
    ])
    entry = canary_of(pytester, "store")
    assert entry["verdict"] == "pass" and entry["stopped"] == "final report"
    assert [(s["method"], s["status"]) for s in entry["steps"]] == [
        ("POST", 201), ("GET", 200), ("PUT", 200), ("GET", 200), ("DELETE", 200), ("DELETE", 200),
    ]
    assert "/v1/buckets/<bucket.id>" not in json.dumps(entry), "placeholders were filled"
    assert entry["steps"][0] == {"tool": "http_request", "method": "POST",
                                 "url": "https://store.prim.sh/v1/buckets", "status": 201,
                                 "ok": True, "note": None}
    text = (pytester.path / "out").joinpath(
        next(p.name for p in (pytester.path / "out").glob("*.json"))).read_text()
    assert "secret body text" not in text and STORE_PROMPT not in text
    props = {p.get("name"): p.get("value")
             for p in ET.parse(pytester.path / "junit.xml").getroot().iter("property")}
    assert props["canary_verdict"] == "pass" and props["canary_steps"] == "6"
    assert "secret body text" not in (pytester.path / "junit.xml").read_text()


def test_docs_with_a_wrong_route_warn_naming_the_failing_step(pytester: pytest.Pytester) -> None:
    write(pytester.path, canary_plan(
        {"search": [t("SE-1", "https://search.prim.sh/", service="search.sh")]},
        {"search": "Search the web and the news."}))
    docs(pytester.path, "search",
         'POST https://search.prim.sh/v1/search/web {"query": "x", "max_results": 1}',
         'POST https://search.prim.sh/v1/search/news {"query": "x", "max_results": 1}')
    result = run(pytester, "--ci", "-rA")
    assert result.ret == 0, "a warn is a soft miss"
    out = result.stdout.str()
    assert "1 warn" in out
    result.stdout.fnmatch_lines([
        "canary  search  search  warn     1/2 *POST https://search.prim.sh/v1/search/web (404)",
        "canary search: canary warn: 1 of 2 step(s) failed; first: "
        "POST https://search.prim.sh/v1/search/web (status 404)",
        "canary search: ux: the documented step POST https://search.prim.sh/v1/search/web "
        "answered 404*",
        "primgate: PASSED*(canary: 1 warn)",
    ])
    entry = canary_of(pytester, "search")
    assert entry["verdict"] == "warn" and entry["outcome"] == "warn"
    assert entry["ux_notes"] and "v1/search/web" in entry["ux_notes"][0]


def test_the_same_failing_url_is_sent_at_most_twice(pytester: pytest.Pytester) -> None:
    store_plan(pytester)
    docs(pytester.path, "store", *["GET https://store.prim.sh/v1/nope"] * 5)
    result = run(pytester, "--ci")
    assert result.ret == 1
    entry = canary_of(pytester, "store")
    assert [s["status"] for s in entry["steps"]] == [404, 404, None, None, None]
    assert [s["note"] for s in entry["steps"][2:]] == ["skipped: failed 2 times already"] * 3
    assert entry["verdict"] == "fail"
    result.stdout.fnmatch_lines(["primgate: FAILED — canary store (fail)"])


def test_a_model_that_never_stops_ends_at_the_round_limit(pytester: pytest.Pytester) -> None:
    store_plan(pytester)
    docs(pytester.path, "store", *["GET https://store.prim.sh/"] * 25)
    result = run(pytester)
    entry = canary_of(pytester, "store")
    assert entry["rounds"] == 10 and entry["stopped"] == "round limit"
    assert len(entry["steps"]) == 10 and entry["agent_summary"] is None
    assert result.ret == 0


def test_an_unreachable_model_endpoint_is_an_error(pytester: pytest.Pytester) -> None:
    store_plan(pytester)
    docs(pytester.path, "store", *GOOD_STORE)
    result = pytester.runpytest_subprocess(
        *SANDBOX, "--primgate-canary", "--primgate-canary-endpoint", "http://127.0.0.1:9/v1",
        "--ci")
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*canary error: model endpoint http://127.0.0.1:9/v1/chat/completions unreachable: "
        "ConnectError*",
        "primgate: FAILED — canary store (error)",
    ])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    entry = canary_of(pytester, "store")
    assert entry["verdict"] == "error" and entry["steps"] == []


def test_a_cli_group_runs_in_a_temporary_prim_home_and_leaves_nothing(
    pytester: pytest.Pytester,
) -> None:
    where = pytester.path / "where.txt"
    prompt = ("Run these commands:\n"
              f'$ printf "%s %s %s" "$PRIM_HOME" "$HOME" "$(pwd)" > {where}\n'
              "$ mkdir -p keys && touch keys/wallet.json\n"
              "$ test -f \"$PRIM_HOME/keys/wallet.json\"\n")
    write(pytester.path, canary_plan(
        {"store": [t("ST-1", "https://store.prim.sh/")], "cli_e2e": []},
        {"cli_e2e": prompt}, {"cli_e2e": {"canary_only": True, "interface": "cli"}}))
    result = run(pytester, "-v")
    result.stdout.fnmatch_lines(["*smoke-test-plan.json::cli_e2e::canary PASSED*"])
    entry = canary_of(pytester, "cli_e2e")
    assert entry["verdict"] == "pass"
    assert [s["exit_code"] for s in entry["steps"]] == [0, 0, 0]
    assert entry["steps"][1] == {"tool": "shell_exec",
                                 "command": "mkdir -p keys && touch keys/wallet.json",
                                 "exit_code": 0, "ok": True, "note": None}
    home = entry["prim_home"]
    assert where.read_text().split() == [home, home, home]
    assert "primgate-canary-" in home and not Path(home).exists()


def test_under_spawn_a_cli_group_runs_on_its_own_spawned_server_and_leaves_nothing(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("PRIMGATE_STATE_DIR", str(state))
    where = pytester.path / "where.txt"
    prompt = ("Run these commands:\n"
              f'$ printf "%s %s %s" "$PRIM_HOME" "$HOME" "$(pwd)" > {where}\n'
              "$ mkdir -p keys && touch keys/wallet.json\n"
              "$ test -f \"$PRIM_HOME/keys/wallet.json\"\n"
              "$ sleep 30\n")
    write(pytester.path, canary_plan(
        {"store": [t("ST-1", "https://store.prim.sh/")], "cli_e2e": []},
        {"cli_e2e": prompt}, {"cli_e2e": {"canary_only": True, "interface": "cli"}}))
    result = run(pytester, "-v", "--spawn", "1", "--primgate-canary-timeout", "4",
                 "--junit-xml", "junit.xml")
    result.stdout.fnmatch_lines(["*smoke-test-plan.json::cli_e2e::canary*"])
    entry = canary_of(pytester, "cli_e2e")
    assert entry["vps"].startswith("srv_")
    worker_server = ET.parse(pytester.path / "junit.xml").getroot().find(
        ".//property[@name='primgate_server']")
    assert worker_server is not None and worker_server.get("value") != entry["vps"]
    steps = entry["steps"]
    assert [s["exit_code"] for s in steps[:3]] == [0, 0, 0]
    assert steps[3]["command"] == "sleep 30" and not steps[3]["ok"]
    assert steps[3]["note"].startswith("timed out after")
    home = entry["prim_home"]
    assert home.startswith("/tmp/primgate-canary-") and home.endswith("/home")
    assert where.read_text().split() == [home, home, home]
    assert not Path(home).parent.exists()
    assert not list(state.rglob("*.json"))
    assert not list(Path("/tmp").glob(f"primgate-*-{entry['vps']}"))


def test_a_cli_group_whose_server_cannot_be_spawned_is_an_infra_error(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRIMGATE_STATE_DIR", str(tmp_path / "state"))
    write(pytester.path, canary_plan(
        {"store": [t("ST-1", "https://store.prim.sh/")], "cli_e2e": []},
        {"cli_e2e": "Run these commands:\n$ true\n"},
        {"cli_e2e": {"canary_only": True, "interface": "cli"}}))
    fault = "path=/spawn/v1/servers,method=POST,every=4,status=500"  # 402, paid: 4th is ours
    result = run(pytester, "--ci", "--spawn", "1", "--primgate-sandbox-fault", fault)
    text = result.stdout.str() + result.stderr.str()
    assert result.ret == 2, text
    assert "primgate spawn: spawn API error 500: POST /v1/servers" in text
    assert "Traceback" not in text and "INTERNALERROR" not in text
    assert "During handling" not in text
    result.stdout.fnmatch_lines(["primgate: INFRA ERROR — *cli_e2e::canary: primgate spawn: *"])
    entry = canary_of(pytester, "cli_e2e")
    assert entry["verdict"] == "error" and "primgate spawn: spawn API error 500" in entry["error"]
    assert not list((tmp_path / "state").rglob("*.json"))


def test_canary_payments_respect_the_budget(
    pytester: pytest.Pytester,
) -> None:
    store_plan(pytester)
    docs(pytester.path, "store", *GOOD_STORE)
    run(pytester)
    data = results(pytester.path / "out")
    paid = data["payments"]
    assert paid and {p["test_id"] for p in paid} == {"smoke-test-plan.json::store::canary"}
    assert any(p["url"].endswith("/infer/v1/chat") for p in paid)
    assert any("/store/v1/buckets" in p["url"] for p in paid)
    budget = (Decimal(data["spent_usdc"]) / 2).quantize(Decimal("0.001"))
    for old in (pytester.path / "out").glob("*.json"):
        old.unlink()
    result = run(pytester, "--primgate-budget", str(budget))
    data = results(pytester.path / "out")
    assert Decimal(data["spent_usdc"]) <= budget
    entry = data["canary"]["groups"][0]
    assert entry["verdict"] == "error" and "over --primgate-budget" in entry["error"]
    result.stdout.fnmatch_lines([f"paid {data['spent_usdc']} USDC in {len(data['payments'])} "
                                 "payments on eip155:84532"])


def test_first_run_spend_line_counts_model_and_tool_payments(pytester: pytest.Pytester) -> None:
    store_plan(pytester)
    docs(pytester.path, "store", *GOOD_STORE)
    result = run(pytester)
    data = results(pytester.path / "out")
    chats = [p for p in data["payments"] if p["url"].endswith("/v1/chat")]
    assert len(chats) == canary_of(pytester, "store")["rounds"]
    result.stdout.fnmatch_lines([
        f"paid {data['spent_usdc']} USDC in {len(data['payments'])} payments on eip155:84532"])


def test_a_new_prims_canary_failure_only_warns(pytester: pytest.Pytester) -> None:
    store_plan(pytester)
    prim_yaml(pytester.path, "store", "testing")
    docs(pytester.path, "store", "GET https://store.prim.sh/v1/nope")
    result = run(pytester, "--ci")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["canary store: canary fail: 1 of 1 step(s) failed*"])
    entry = canary_of(pytester, "store")
    assert entry["verdict"] == "fail" and entry["outcome"] == "warn"


def test_a_missing_setup_hook_is_an_error_naming_where_to_define_it(
    pytester: pytest.Pytester,
) -> None:
    store_plan(pytester, store={"setup": "onboarding_e2e"})
    docs(pytester.path, "store", *GOOD_STORE)
    result = run(pytester)
    result.stdout.fnmatch_lines([
        "*canary error: unknown setup hook 'onboarding_e2e': define "
        "primgate_canary_setup_onboarding_e2e(ctx) in a conftest.py*"])
    assert result.ret == 1


def test_conftest_setup_and_cleanup_hooks_run_around_the_loop(pytester: pytest.Pytester) -> None:
    store_plan(pytester, store={"setup": "bucket", "cleanup": "bucket"})
    write(pytester.path, canary_plan(
        {"store": [t("ST-1", "https://store.prim.sh/")]},
        {"store": "Use bucket name {{bucket_name}}."},
        {"store": {"setup": "bucket", "cleanup": "bucket"}}))
    docs(pytester.path, "store", 'POST https://store.prim.sh/v1/buckets {"name": "hooked"}')
    pytester.makeconftest(f"""
        def primgate_canary_setup_bucket(ctx):
            ctx.state["seen"] = ctx.group
            return {{"bucket_name": "from-setup"}}

        def primgate_canary_cleanup_bucket(ctx):
            open({str(pytester.path / "cleanup.txt")!r}, "w").write(ctx.state["seen"])
    """)
    result = run(pytester)
    assert result.ret == 0
    assert (pytester.path / "cleanup.txt").read_text() == "store"


def test_canary_only_groups_are_left_out_of_deterministic_runs(pytester: pytest.Pytester) -> None:
    write(pytester.path, canary_plan(
        {"store": [t("ST-1", "https://store.prim.sh/")], "onboarding_e2e": []},
        {"onboarding_e2e": "Run the installer."},
        {"onboarding_e2e": {"canary_only": True, "interface": "cli", "setup": "onboarding_e2e",
                            "cleanup": "onboarding_e2e"}}))
    result = pytester.runpytest_subprocess(*SANDBOX, "--collect-only", "-q")
    assert "onboarding_e2e" not in result.stdout.str()
    result = pytester.runpytest_subprocess(*SANDBOX, "--primgate-dry-run")
    result.stdout.fnmatch_lines([
        "1 item would run",
        "canary only (runs with --canary): smoke-test-plan.json::onboarding_e2e",
    ])
    result = pytester.runpytest_subprocess(*SANDBOX, "--group", "onboarding_e2e")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*group 'onboarding_e2e' is canary only (canary_only: true): it runs only with --canary"])
    result = pytester.runpytest_subprocess(*SANDBOX, "--canary", "--collect-only", "-q")
    result.stdout.fnmatch_lines(["smoke-test-plan.json::onboarding_e2e::canary"])
    assert "ST-1" not in result.stdout.str()


def test_canary_dry_run_names_docs_and_model(pytester: pytest.Pytester) -> None:
    store_plan(pytester)
    docs(pytester.path, "store", *GOOD_STORE)
    result = pytester.runpytest_subprocess(*SANDBOX, "--canary", "--primgate-dry-run")
    result.stdout.fnmatch_lines([
        "store (canary, api, docs: site/store/llms.txt)*canary*AGENT*",
        "    https://infer.prim.sh/v1/chat",
        "1 item would run",
    ])


@pytest.mark.parametrize("mode", ["no-xdist", "xdist"])
def test_canary_items_report_the_same_with_and_without_xdist(
    pytester: pytest.Pytester, mode: str,
) -> None:
    write(pytester.path, canary_plan(
        {"store": [t("ST-1", "https://store.prim.sh/")],
         "search": [t("SE-1", "https://search.prim.sh/", service="search.sh")]},
        {"store": STORE_PROMPT, "search": "Search."}))
    docs(pytester.path, "store", *GOOD_STORE)
    docs(pytester.path, "search", "POST https://search.prim.sh/v1/search/web {}",
         'POST https://search.prim.sh/v1/search {"query": "q"}')
    pytester.makefile(".smoke.toml", demo='[[scenario]]\nname = "x"\nscript = "x.sh"\n')
    extra = ("-p", "no:xdist") if mode == "no-xdist" else ("-n", "2")
    result = run(pytester, *extra)
    assert result.ret == 0
    data = results(pytester.path / "out")
    verdicts = {g["group"]: g["verdict"] for g in data["canary"]["groups"]}
    assert verdicts == {"store": "pass", "search": "warn"}
    assert data["tests"] == [], "a canary run collects the agents only"
    assert data["canary"]["summary"] == {"total_groups": 2, "pass": 1, "warn": 1, "fail": 0,
                                         "error": 0}
    result.stdout.fnmatch_lines(["primgate: PASSED — 2 canary group(s), none failed "
                                 "(canary: 1 warn)"])


def test_no_docs_anywhere_means_no_steps_and_a_warn(pytester: pytest.Pytester) -> None:
    store_plan(pytester)
    result = run(pytester, "--ci")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["canary store: canary: the agent made no tool call"])
    entry = canary_of(pytester, "store")
    assert entry["verdict"] == "warn" and entry["steps"] == [] and entry["rounds"] == 1
    assert "no request examples" in entry["agent_summary"]


def test_published_llms_txt_is_fetched_from_the_prims_endpoint(pytester: pytest.Pytester) -> None:
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = pytester.path / "served"
    served.mkdir()
    (served / "llms.txt").write_text("# store\n  GET https://store.prim.sh/llms.txt\n")
    store_plan(pytester)
    prim_yaml(pytester.path, "store", "live")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 functools.partial(Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = run(pytester, "--primgate-base-url", f"store.prim.sh={url}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert result.ret == 0
    entry = canary_of(pytester, "store")
    assert [(s["url"], s["status"]) for s in entry["steps"]] == [
        ("https://store.prim.sh/llms.txt", 200)]
