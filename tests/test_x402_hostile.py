"""The gate against a hostile x402 server (tests/hostile.py), one pytester run per case.

Each test asserts what the server received (signed authorizations: 0 or 1), the exit status
and the one-line reason the user reads.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.hostile import MAINNET_USDC, Behaviour, hostile, option, success

ENV = ("AGENT_PRIVATE_KEY", "PRIM_HOME", "PRIM_WALLET_PASSPHRASE", "PRIM_NETWORK",
       "PRIMGATE_LEDGER", "PRIMGATE_SANDBOX_URL")

ONE_REQUEST = """
def test_paid(x402_client):
    x402_client.get({url!r})
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def run(pytester: pytest.Pytester, test: str, *args: str) -> pytest.RunResult:
    """Run ``test`` (a test module) with primgate, an ephemeral wallet and results in out/."""
    pytester.makepyfile(test_hostile=test)
    return pytester.runpytest_subprocess(
        "--primgate", "-p", "no:cacheprovider", "--primgate-wallet", "ephemeral",
        "--primgate-results-dir", "out", *args,
    )


def results(pytester: pytest.Pytester) -> dict[str, Any]:
    found = sorted((pytester.path / "out").glob("*.json"))
    assert len(found) == 1
    data: dict[str, Any] = json.loads(found[0].read_text())
    return data


def reason(result: pytest.RunResult) -> str:
    """The exception line pytest shows for the (single) failure."""
    lines = [line for line in result.stdout.lines if line.startswith("E   ")]
    assert lines, result.stdout.str()
    return lines[0][4:].strip()


def spend(result: pytest.RunResult) -> str:
    lines = [line for line in result.stdout.lines if line.startswith("paid ")]
    assert len(lines) == 1, result.stdout.str()
    return lines[0]


# -- 1: a second 402 after paying -----------------------------------------------------------

REPEAT = """
import pytest

@pytest.mark.parametrize("n", range(4))
def test_paid(x402_client, n):
    x402_client.get({url!r})
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist-2"])
def test_402_again_after_paying_commits_the_spend(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    with hostile(Behaviour(accepts=[option("300000")], paid_status=402,
                           paid_headers={})) as server:
        result = run(pytester, REPEAT.format(url=server.url), "--primgate-budget", "0.50",
                     *workers)
        assert server.signed == 1
    assert result.ret == 1
    result.assert_outcomes(failed=4)
    out = result.stdout.str()
    assert out.count(f"X402Error: 402 again after paying for GET {server.url}") == 1
    assert out.count("PaymentRefused: payment of 0.30 USDC would bring the session total to "
                     "0.60 USDC, over --primgate-budget 0.50 USDC") == 3
    assert spend(result) == "paid 0.30 USDC in 1 payment (1 unconfirmed) on eip155:84532"
    assert [p["settlement"] for p in results(pytester)["payments"]] == ["unsettled"]


# -- 2: the wrong network, mainnet ----------------------------------------------------------

MAINNET = option(network="eip155:8453", asset=MAINNET_USDC,
                 extra={"name": "USD Coin", "version": "2"})


@pytest.mark.parametrize(
    ("args", "signed", "ret", "message"),
    [
        ([], 0, 1, "PaymentRefused: 402 asks for eip155:8453; this run pays on eip155:84532"),
        (["--primgate-network", "eip155:8453"], 0, 1,
         "PaymentRefused: this run would pay on mainnet eip155:8453; "
         "pass --primgate-allow-mainnet to allow it"),
        (["--primgate-network", "eip155:8453", "--primgate-allow-mainnet"], 1, 0, ""),
    ],
    ids=["other-network", "mainnet-pinned", "mainnet-allowed"],
)
def test_network_pinning(
    pytester: pytest.Pytester, args: list[str], signed: int, ret: int, message: str
) -> None:
    with hostile(Behaviour(accepts=[MAINNET],
                           paid_headers={"PAYMENT-RESPONSE": success("eip155:8453")})) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url), *args)
        assert server.signed == signed
    assert result.ret == ret, result.stdout.str()
    if message:
        assert reason(result).endswith(message)


@pytest.mark.parametrize("how", ["ini", "env"])
def test_ini_or_env_network_pins_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """ini ``primgate_network`` and ``$PRIM_NETWORK`` pin like the option."""
    args = ["--primgate-allow-mainnet"]
    if how == "ini":
        args += ["-o", "primgate_network=eip155:8453"]
    else:
        monkeypatch.setenv("PRIM_NETWORK", "eip155:8453")
    with hostile(Behaviour(accepts=[option()])) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url), *args)
        assert server.signed == 0
    assert result.ret == 1
    assert reason(result).endswith("402 asks for eip155:84532; this run pays on eip155:8453")


def test_bad_network_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, ONE_REQUEST.format(url="http://127.0.0.1:9/"),
                 "--primgate-network", "base-mainnet")
    assert result.ret == 4
    assert "--primgate-network expects eip155:N, got 'base-mainnet'" in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


# -- 3: the payment header must not follow a redirect to another host ------------------------

REDIRECTED = """
def test_paid(x402_client):
    response = x402_client.get({url!r}, follow_redirects=True)
    assert response.status_code == 200
"""


def test_payment_header_dropped_on_cross_origin_redirect(pytester: pytest.Pytester) -> None:
    with hostile(Behaviour(free=True), host="127.0.0.2") as landing:
        with hostile(Behaviour(redirect_to=landing.url)) as origin:
            result = run(pytester, REDIRECTED.format(url=origin.url))
            assert origin.signed == 1
        assert landing.requests == 1 and landing.headers == [] and landing.signed == 0
    assert result.ret == 0, result.stdout.str()
    assert spend(result) == "paid 0.01 USDC in 1 payment (1 unconfirmed) on eip155:84532"


# -- 4: maxTimeoutSeconds is capped ---------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "args", "cap"),
    [(10**12, [], 3600), (10**80, [], 3600), (10**12, ["--primgate-max-timeout", "120"], 120)],
    ids=["1e12", "1e80", "option-120"],
)
def test_max_timeout_capped(
    pytester: pytest.Pytester, asked: int, args: list[str], cap: int
) -> None:
    with hostile(Behaviour(accepts=[option(maxTimeoutSeconds=asked)])) as server:
        started = time.time()
        result = run(pytester, ONE_REQUEST.format(url=server.url), *args)
        assert server.signed == 1
        valid_before = int(server.payloads[0]["payload"]["authorization"]["validBefore"])
    assert result.ret == 0, result.stdout.str()
    assert started + cap - 5 <= valid_before <= time.time() + cap


# -- 5: the cheapest acceptable option; malformed options skipped ---------------------------


@pytest.mark.parametrize(
    ("accepts", "paid"),
    [
        ([option("900000"), option("10000")], "10000"),
        ([option("¹²"), option(payTo="nope"), option("20000")], "20000"),
        ([option("5000", asset="0x" + "11" * 20), option("30000")], "30000"),
    ],
    ids=["cheaper-second", "malformed-skipped", "unknown-asset-skipped"],
)
def test_cheapest_acceptable_option_paid(
    pytester: pytest.Pytester, accepts: list[dict[str, Any]], paid: str
) -> None:
    with hostile(Behaviour(accepts=accepts)) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url))
        assert server.signed == 1
        assert server.payloads[0]["accepted"]["amount"] == paid
    assert result.ret == 0, result.stdout.str()
    assert results(pytester)["payments"][0]["amount"] == paid


def test_no_payable_option_says_why(pytester: pytest.Pytester) -> None:
    with hostile(Behaviour(accepts=[option("¹²"), option(payTo="nope")])) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url))
        assert server.signed == 0
    assert result.ret == 1
    assert reason(result) == (
        "pytest_primgate.x402.errors.X402Error: no payable option on eip155:84532: "
        "option 1: requirement field 'amount' is not a decimal amount; "
        "option 2: requirement field 'payTo' is not an address"
    )


# -- 6: server text is sanitized ------------------------------------------------------------


@pytest.mark.parametrize(
    ("accepts", "message"),
    [
        ([option(scheme="upto\nPASSED all tests\nok")],
         "X402Error: challenge offers no 'exact' requirement "
         "(schemes: upto\\nPASSED all tests\\nok)"),
        ([option(network="eip155:1\r\n== 5 passed in 0.1s ==\x1b[2K")],
         "PaymentRefused: 402 asks for eip155:1\\r\\n== 5 passed in 0.1s ==\\x1b[2K; "
         "this run pays on eip155:84532"),
    ],
    ids=["scheme-newlines", "network-escape"],
)
def test_server_text_cannot_forge_output_lines(
    pytester: pytest.Pytester, accepts: list[dict[str, Any]], message: str
) -> None:
    with hostile(Behaviour(accepts=accepts)) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url))
        assert server.signed == 0
    assert result.ret == 1
    assert reason(result).endswith(message)
    forged = [line for line in result.stdout.lines
              if line.startswith(("PASSED all tests", "== 5 passed"))]
    assert forged == [] and "\x1b[2K" not in result.stdout.str()


def test_long_server_text_is_bounded(pytester: pytest.Pytester) -> None:
    with hostile(Behaviour(accepts=[option(network="eip155:" + "9" * 5000)])) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url))
        assert server.signed == 0
    assert result.ret == 1
    line = reason(result)
    assert "402 asks for eip155:999" in line and len(line) < 200


# -- 7: which payments settled --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "headers", "state"),
    [
        (200, {"PAYMENT-RESPONSE": success()}, "settled"),
        (500, {}, "unsettled"),
        (431, {}, "unsettled"),
        (200, {}, "unsettled"),
        (200, {"PAYMENT-RESPONSE": "eyJzdWNjZXNzIjpmYWxzZX0="}, "contradicting"),
        (200, {"PAYMENT-RESPONSE": "garbage!"}, "contradicting"),
        (500, {"PAYMENT-RESPONSE": success()}, "contradicting"),
    ],
    ids=["200-success", "500", "431", "200-no-header", "200-success-false", "200-garbage",
         "500-success"],
)
def test_settlement_state_recorded(
    pytester: pytest.Pytester, status: int, headers: dict[str, str], state: str
) -> None:
    with hostile(Behaviour(paid_status=status, paid_headers=headers)) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url))
        assert server.signed == 1
    assert result.ret == 0, result.stdout.str()
    data = results(pytester)
    assert [p["settlement"] for p in data["payments"]] == [state]
    assert [p["test_id"] for p in data["payments"]] == ["test_hostile.py::test_paid"]
    suffix = "" if state == "settled" else " (1 unconfirmed)"
    assert spend(result) == f"paid 0.01 USDC in 1 payment{suffix} on eip155:84532"


# -- 8: the payment header never reaches the output -----------------------------------------


def test_again_after_paying_leaks_no_header_under_showlocals(pytester: pytest.Pytester) -> None:
    with hostile(Behaviour(paid_status=402, paid_headers={})) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url), "-vv", "--showlocals",
                     "--tb=long", "--junit-xml=junit.xml")
        assert server.signed == 1
        values = list(server.headers)
    assert result.ret == 1
    assert "402 again after paying" in reason(result)
    texts = [result.stdout.str(), result.stderr.str(), (pytester.path / "junit.xml").read_text()]
    assert values and all(value[:40] not in text for value in values for text in texts)
    assert "<secret: 2 header(s)>" in result.stdout.str()


# -- 9: plain tests and scenarios count ------------------------------------------------------

TWO_EACH = """
import pytest

@pytest.mark.parametrize("n", range(2))
def test_paid(x402_client, n):
    assert x402_client.get({url!r}).status_code == 200
    assert x402_client.get({url!r}).status_code == 200
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist-2"])
def test_plain_test_payments_count_against_the_budget(
    pytester: pytest.Pytester, workers: list[str]
) -> None:
    with hostile() as server:
        result = run(pytester, TWO_EACH.format(url=server.url), "--primgate-budget", "0.03",
                     *workers)
        assert server.signed == 3
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1)
    assert reason(result).endswith(
        "PaymentRefused: payment of 0.01 USDC would bring the session total to 0.04 USDC, "
        "over --primgate-budget 0.03 USDC")
    assert spend(result) == "paid 0.03 USDC in 3 payments on eip155:84532"
    data = results(pytester)
    assert data["spent_usdc"] == "0.03" and len(data["payments"]) == 3


SMOKE = """
require_assertions = true

[[scenario]]
name = "{name}"
script = "fetch.sh"
owners = ["x402-payments"]
description = "two paid requests through primgate fetch"
timeout_seconds = 60
expect_stdout = ["ok"]
"""

FETCH = """
set -e
"{python}" -m pytest_primgate.cli fetch {url} >/dev/null
"{python}" -m pytest_primgate.cli fetch {url} >/dev/null
echo ok
"""


def test_scenario_payments_join_the_run(pytester: pytest.Pytester) -> None:
    import sys

    smoke = pytester.mkdir("smoke")
    with hostile() as server:
        (smoke / "fetch.sh").write_text(FETCH.format(python=sys.executable, url=server.url))
        (smoke / "manifest.toml").write_text(SMOKE.format(name="paid_twice"))
        pytester.makeini("[pytest]\nprimgate_smoke = smoke/manifest.toml\n")
        result = pytester.runpytest_subprocess(
            "--primgate", "-p", "no:cacheprovider", "--primgate-results-dir", "out",
            "--primgate-budget", "0.015",
        )
        assert server.signed == 1
    out = result.stdout.str()
    assert result.ret == 1, out
    assert "payment failed: payment of 0.01 USDC would bring the session total to 0.02 USDC, " \
        "over --primgate-budget 0.015 USDC" in out
    assert spend(result) == "paid 0.01 USDC in 1 payment on eip155:84532"


# -- 10: any x402 server: no prim.sh registration; malformed amounts --------------------------


def test_ephemeral_wallet_pays_a_plain_server_without_registering(
    pytester: pytest.Pytester,
) -> None:
    with hostile() as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url), "-p", "no:xdist")
        assert server.signed == 1 and server.paths == ["/paid", "/paid"]
    assert result.ret == 0, result.stdout.str()
    assert "prim.sh" not in result.stdout.str()


def test_unicode_digit_amount_is_a_one_line_x402_error(pytester: pytest.Pytester) -> None:
    with hostile(Behaviour(accepts=[option("¹²")])) as server:
        result = run(pytester, ONE_REQUEST.format(url=server.url))
        assert server.signed == 0
    assert result.ret == 1
    assert reason(result) == ("pytest_primgate.x402.errors.X402Error: requirement field "
                              "'amount' is not a decimal amount")
    assert "ValueError" not in result.stdout.str()


# -- plan items: the same rules through the plan runner ---------------------------------------


def _plan_run(pytester: pytest.Pytester, server_url: str, *args: str) -> pytest.RunResult:
    from tests.plans import plan, t, write

    write(pytester.path, plan({"infer": [
        t("INF-1", "https://infer.prim.sh/paid", service="infer.sh", notes="Paid."),
        t("INF-2", "https://infer.prim.sh/paid", service="infer.sh", notes="Paid."),
    ]}))
    base = server_url.rsplit("/", 1)[0]
    return pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "-p", "no:cacheprovider", "-p", "no:xdist",
        "--primgate-base-url", f"infer.prim.sh={base}", "--primgate-results-dir", "out",
        "--primgate-runs", "1", "--primgate-quorum", "1", *args,
    )


def test_plan_runner_commits_the_spend_on_402_again(pytester: pytest.Pytester) -> None:
    with hostile(Behaviour(accepts=[option("300000")], paid_status=402,
                           paid_headers={})) as server:
        result = _plan_run(pytester, server.url, "--primgate-budget", "0.50")
        assert server.signed == 1
    out = result.stdout.str()
    assert result.ret == 1, out
    assert "402 again after paying" in out
    assert ("payment refused: payment of 0.30 USDC would bring the session total to 0.60 USDC, "
            "over --primgate-budget 0.50 USDC") in out
    assert spend(result) == "paid 0.30 USDC in 1 payment (1 unconfirmed) on eip155:84532"
    data = results(pytester)
    assert [p["settlement"] for t in data["tests"] for p in t["payments"]] == ["unsettled"]


def test_plan_network_field_refuses_another_network(pytester: pytest.Pytester) -> None:
    with hostile(Behaviour(accepts=[MAINNET])) as server:
        result = _plan_run(pytester, server.url)
        assert server.signed == 0
    out = result.stdout.str()
    assert result.ret == 1, out
    assert out.count("payment refused: 402 asks for eip155:8453; this run pays on "
                     "eip155:84532") >= 2
    assert spend(result) == "paid 0.00 USDC in 0 payments"
