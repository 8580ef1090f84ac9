"""``--primgate-concurrency``: the same verdict and per-item results as one by one, sooner.

Pytester runs compare ``--primgate-concurrency 1`` with 8 on the example manifests and on a
plan with failures, blocks and captures; a sandbox in this process counts the requests in
flight and the payments received, so caps and the budget are checked where they matter.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate.sandbox.app import SandboxApp
from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.faults import parse_faults
from pytest_primgate.sandbox.process import serve_in_thread
from tests.plans import plan, prim_yaml, results, t, write

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
PAID = "x402 paid ($0.001)."
COMPARED = ("outcome", "reason", "attempts", "passes", "attempt_outcomes", "blocked_by",
            "status_code", "flaky")


@pytest.fixture
def sandbox() -> Iterator[tuple[str, SandboxApp]]:
    app = SandboxApp(SandboxConfig(quiet=True))
    with serve_in_thread(app=app) as handle:
        yield handle.url, app


def _store_gets(pytester: pytest.Pytester, app: SandboxApp, count: int,
                latency_ms: int = 0) -> None:
    """A plan of ``count`` independent free GETs; the sandbox answers each after ``latency_ms``."""
    if latency_ms:
        app.faults.replace(parse_faults([f"latency={latency_ms}"]))
    write(pytester.path, plan({"g": [t(f"S-{i}", f"https://store.prim.sh/?i={i}")
                                      for i in range(count)]}))


def _run(
    pytester: pytest.Pytester, out: str, *args: str
) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest_subprocess(
        "--primgate", "-p", "no:cacheprovider", "--primgate-results-dir", out, *args
    )
    return result, results(pytester.path / out)


def _per_item(data: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    return {x["nodeid"]: (*(x[k] for k in COMPARED), len(x["payments"]))
            for x in data["tests"]}


def _summary(data: dict[str, Any]) -> tuple[Any, ...]:
    totals = {k: v for k, v in data["totals"].items()
              if k not in ("requests", "retries", "retried_requests", "retry_rate")}
    prims = [(p["name"], p["verdict"], p["passed"], p["failed"], p["blocked"])
             for p in data["prims"]]
    return (data["verdict"], data["exit_code"], totals, prims, data["not_run"],
            data["spent_usdc"], data["infra_errors"])


def _same_both_ways(
    pytester: pytest.Pytester, *args: str
) -> tuple[pytest.RunResult, dict[str, Any], dict[str, Any]]:
    one, seq = _run(pytester, "seq", *args, "--primgate-concurrency", "1")
    eight, conc = _run(pytester, "conc", *args, "--primgate-concurrency", "8")
    assert one.ret == eight.ret, eight.stdout.str()
    assert _per_item(conc) == _per_item(seq)
    assert _summary(conc) == _summary(seq)
    assert [x["nodeid"] for x in conc["tests"]] == [x["nodeid"] for x in seq["tests"]]
    return eight, seq, conc


def test_example_manifests_give_the_same_results_at_1_and_8(pytester: pytest.Pytester) -> None:
    shutil.copytree(MANIFESTS, pytester.path / "manifests")
    result, seq, _ = _same_both_ways(pytester, "--primgate-sandbox", "--ci", "manifests",
                                     "--primgate-sandbox-fault", "latency=20")  # so 8 runs ahead
    assert result.ret == 0, result.stdout.str()
    assert seq["verdict"] == "PASSED" and seq["totals"]["passed"] >= 25
    assert Counter(x["outcome"] for x in seq["tests"])["unreachable"] == 1


def _mixed_plan() -> dict[str, Any]:
    """Failures, blocks, captures (also used without depends_on), a dependency listed after
    its dependant, paid and free tests."""
    store = "https://store.prim.sh/v1/buckets"
    return plan({"mixed": [
        t("H-1", "https://store.prim.sh/"),
        t("W-1", "https://wallet.prim.sh/v1/wallets", service="wallet.sh", method="POST",
          status=201, depends_on=["H-1"],
          input={"address": "{{agent_address}}", "signature": "{{eip191_sig}}",
                 "timestamp": "{{iso_timestamp}}"},
          notes="Free route. 409 = already registered, counts as pass."),
        t("F-1", "https://faucet.prim.sh/v1/faucet/usdc", service="faucet.sh", method="POST",
          depends_on=["W-1"], input={"address": "{{agent_address}}"},
          notes="Free, rate-limited. 429 = rate limited, counts as pass."),
        t("B-1", store, method="POST", status=201, depends_on=["F-1"], notes=PAID,
          input={"name": "{{test_prefix}}-b"}, captures={"bucket_id": "$.bucket.id"},
          body={"bucket": {"id": "string"}}),
        t("B-2", f"{store}/{{{{bucket_id}}}}", depends_on=["B-1"], notes=PAID),
        # uses B-1's capture without saying depends_on: it must still see it
        t("B-3", f"{store}/{{{{bucket_id}}}}/quota", notes=PAID,
          body={"bucket_id": "string"}),
        t("X-1", "https://store.prim.sh/", status=418),  # fails
        t("X-2", "https://store.prim.sh/", depends_on=["X-1"]),  # blocked by X-1
        t("X-3", "https://store.prim.sh/", depends_on=["X-2"]),  # blocked by X-2
        t("L-1", "https://store.prim.sh/", depends_on=["L-2"]),  # listed before its dependency
        t("L-2", "https://store.prim.sh/"),
        t("U-1", "https://store.prim.sh/{{never_captured}}"),  # unresolved variable
        t("S-1", "https://store.prim.sh/", skip=True, notes="skipped on purpose"),
        t("N-1", f"{store}/nope", status=200, notes=PAID),  # paid, fails with 404
    ]})


def test_failures_blocks_and_captures_are_the_same_at_1_and_8(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    url, app = sandbox
    app.faults.replace(parse_faults(["latency=20"]))  # work that waits: 8 computes ahead
    write(pytester.path, _mixed_plan())
    prim_yaml(pytester.path, "store", "live")
    result, _, conc = _same_both_ways(
        pytester, "--ci", "--primgate-wallet", "ephemeral",
        "--primgate-base-url", f"*.prim.sh={url}/{{prim}}",
    )
    assert result.ret == 1
    assert app.snapshot()["in_flight"]["max"] > 1, "the run at 8 computed items ahead"
    assert [x["test_id"] for x in conc["tests"]].index("L-2") < [
        x["test_id"] for x in conc["tests"]].index("L-1")
    by_id = {x["test_id"]: x for x in conc["tests"]}
    assert by_id["B-3"]["outcome"] == "passed", by_id["B-3"]["reason"]
    assert by_id["X-1"]["outcome"] == "failed"
    assert (by_id["X-2"]["outcome"], by_id["X-2"]["reason"]) == ("blocked",
                                                                "blocked by X-1 (failed)")
    assert by_id["X-3"]["reason"] == "blocked by X-2 (blocked)"
    assert by_id["L-1"]["outcome"] == by_id["L-2"]["outcome"] == "passed"  # run after L-2
    assert by_id["U-1"]["outcome"] == "blocked"
    assert by_id["S-1"]["outcome"] == "skipped"
    assert by_id["N-1"]["outcome"] == "failed" and len(by_id["N-1"]["payments"]) == 2  # GET: 2
    assert {k: by_id[k]["outcome"] for k in ("W-1", "F-1", "B-1", "B-2")} == dict.fromkeys(
        ("W-1", "F-1", "B-1", "B-2"), "passed")
    assert by_id["W-1"]["status_code"] == 201, "the plan's registration ran before the fixture's"
    result.stdout.fnmatch_lines(["*X-1*expected status 418, got 200*"])


def test_the_per_host_cap_holds_and_tests_overlap(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    url, app = sandbox
    app.faults.replace(parse_faults(["latency=60"]))
    write(pytester.path, plan({
        "s": [t(f"S-{i}", f"https://store.prim.sh/?i={i}") for i in range(16)],
        "q": [t(f"Q-{i}", f"https://search.prim.sh/?i={i}", service="search.sh")
              for i in range(16)],
    }))
    result, data = _run(pytester, "out", "--primgate-base-url", f"*.prim.sh={url}/{{prim}}",
                        "--primgate-concurrency", "5", "--primgate-max-per-host", "3")
    assert result.ret == 0, result.stdout.str()
    assert data["totals"]["passed"] == 32
    peak = app.snapshot()["in_flight"]
    assert peak["max_by_prim"]["store"] <= 3 and peak["max_by_prim"]["search"] <= 3
    assert peak["max"] <= 5
    assert peak["max"] >= 4, "requests to two hosts overlapped"


def test_concurrency_1_sends_one_request_at_a_time(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    url, app = sandbox
    _store_gets(pytester, app, 8, latency_ms=20)
    result, _ = _run(pytester, "out", "--primgate-base-url", f"*.prim.sh={url}/{{prim}}",
                     "--primgate-concurrency", "1")
    assert result.ret == 0, result.stdout.str()
    assert app.snapshot()["in_flight"]["max"] == 1


def test_fast_work_runs_one_by_one_and_waiting_work_runs_ahead(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    url, app = sandbox
    _store_gets(pytester, app, 40)
    args = ("--primgate-base-url", f"*.prim.sh={url}/{{prim}}", "--primgate-concurrency", "8")
    result, data = _run(pytester, "fast", *args)
    assert result.ret == 0 and data["totals"]["passed"] == 40, result.stdout.str()
    assert app.snapshot()["in_flight"]["max"] == 1, "a fast sandbox: nothing ran ahead"
    app.faults.replace(parse_faults(["latency=40"]))
    result, data = _run(pytester, "slow", *args)
    assert result.ret == 0 and data["totals"]["passed"] == 40, result.stdout.str()
    assert app.snapshot()["in_flight"]["max"] >= 4, "requests that wait overlapped"


def test_a_budget_of_n_payments_is_never_exceeded_under_concurrency(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    url, app = sandbox
    app.faults.replace(parse_faults(["latency=30"]))
    tests = [t(f"P-{i}", "https://store.prim.sh/v1/buckets", method="POST", status=201,
               input={"name": f"bucket-{i}"}, notes=PAID) for i in range(24)]
    write(pytester.path, plan({"p": tests}))
    prim_yaml(pytester.path, "store", "live")
    result, data = _run(
        pytester, "out", "--primgate-base-url", f"*.prim.sh={url}/{{prim}}",
        "--primgate-wallet", "ephemeral", "--primgate-concurrency", "8",
        "--primgate-budget", "0.005",
    )
    assert result.ret == 1, result.stdout.str()
    received = app.snapshot()["prims"]["store"]["payments"]
    assert received == 5, "0.005 USDC buys five 0.001 buckets, not one more"
    assert Decimal(data["spent_usdc"]) == Decimal("0.005")
    by_outcome = Counter(x["outcome"] for x in data["tests"])
    assert by_outcome == {"passed": 5, "failed": 19}
    refused = [x["reason"] for x in data["tests"] if x["outcome"] == "failed"]
    assert all("payment refused" in r and "budget" in r for r in refused), refused[:3]


def test_an_item_a_hook_marks_skip_is_not_run_ahead(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    """A skip (or skipif / xfail / usefixtures) marker added by a hook keeps the item out of
    the executor: pytest decides at its turn, and a skipped item sends nothing."""
    url, app = sandbox
    _store_gets(pytester, app, 4)
    pytester.makeconftest("""
        import pytest

        def pytest_collection_modifyitems(items):
            items[1].add_marker(pytest.mark.skip(reason="not today"))
    """)
    result, data = _run(pytester, "out", "--primgate-base-url", f"*.prim.sh={url}/{{prim}}",
                        "--primgate-runs", "1")
    assert result.ret == 0, result.stdout.str()
    assert data["totals"]["passed"] == 3
    assert app.snapshot()["requests"] == {"GET /store/": 3}, "the skipped S-1 sent nothing"


def test_interrupted_run_with_work_in_flight_is_not_passed(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    url, app = sandbox
    _store_gets(pytester, app, 12, latency_ms=200)
    pytester.makeconftest("""
        def pytest_runtest_logreport(report):
            if report.when == "call" and report.nodeid.endswith("S-2"):
                raise KeyboardInterrupt
    """)
    result, data = _run(pytester, "out", "--primgate-base-url", f"*.prim.sh={url}/{{prim}}",
                        "--ci")
    assert result.ret == 2, result.stdout.str()
    assert data["interrupted"] is True and data["verdict"] != "PASSED"
    assert data["totals"]["not_run"] >= 9


def test_an_xdist_worker_runs_its_component_concurrently(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    url, app = sandbox
    app.faults.replace(parse_faults(["latency=50"]))
    write(pytester.path, plan({"g": [
        t("R", "https://store.prim.sh/?root=1"),
        *(t(f"C-{i}", f"https://store.prim.sh/?i={i}", depends_on=["R"]) for i in range(6)),
    ]}))
    result, data = _run(pytester, "out", "--primgate-base-url", f"*.prim.sh={url}/{{prim}}",
                        "-n", "1", "--primgate-runs", "1")
    assert result.ret == 0, result.stdout.str()
    assert data["totals"]["passed"] == 7
    assert {x["worker"] for x in data["tests"]} == {"gw0"}
    assert app.snapshot()["in_flight"]["max"] >= 3, "the dependants of R overlapped"


def test_the_wallet_key_loads_before_the_first_item_when_items_may_run_ahead(
    pytester: pytest.Pytester, sandbox: tuple[str, SandboxApp]
) -> None:
    url, _ = sandbox
    write(pytester.path, plan({"g": [
        t("H-1", "https://store.prim.sh/"),
        t("F-3", "https://faucet.prim.sh/v1/faucet/status?address={{agent_address}}",
          service="faucet.sh", depends_on=["H-1"]),
    ]}))
    pytester.makeconftest(
        "import pytest\n"
        "from pytest_primgate.wallet_setup import LOADED_KEY\n\n"
        "@pytest.hookimpl(wrapper=True)\n"
        "def pytest_runtest_call(item):\n"
        "    yield\n"
        "    if item.name == 'H-1':\n"
        "        print('key loaded after H-1:', LOADED_KEY in item.config.stash)\n"
    )
    args = ("-s", "--primgate-base-url", f"*.prim.sh={url}/{{prim}}")
    ahead, data = _run(pytester, "ahead", *args)
    assert ahead.ret == 0 and data["totals"]["passed"] == 2, ahead.stdout.str()
    ahead.stdout.fnmatch_lines(["*key loaded after H-1: True*"])  # its import delays no test
    one, data = _run(pytester, "one", *args, "--primgate-concurrency", "1")
    assert one.ret == 0 and data["totals"]["passed"] == 2, one.stdout.str()
    one.stdout.fnmatch_lines(["*key loaded after H-1: False*"])  # as ever, when F-3 asks
