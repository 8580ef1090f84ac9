"""The session fixtures in a real pytest run: plain tests pay; funding happens once under -n 4."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_primgate.sandbox.process import SandboxHandle, start_sandbox

PAID_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(8))
def test_paid(x402_client, prim_wallet, n):
    response = x402_client.post(
        "https://infer.prim.sh/v1/chat",
        json={"model": "m", "messages": [{"role": "user", "content": f"hi {n}"}]},
    )
    assert response.status_code == 200, response.text
    assert x402_client.payments[-1].payer == prim_wallet.address
    assert prim_wallet.source == "ephemeral"
"""


@pytest.fixture
def sandbox(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxHandle]:
    for name in ("AGENT_PRIVATE_KEY", "PRIM_HOME", "PRIM_WALLET_PASSPHRASE", "PRIM_NETWORK"):
        monkeypatch.delenv(name, raising=False)
    with start_sandbox() as handle:
        yield handle


def run(pytester: pytest.Pytester, sandbox: SandboxHandle, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_paid=PAID_TESTS)
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--primgate-base-url", f"*.prim.sh={sandbox.url}/{{prim}}",
        *args,
    )


def test_funding_once_with_xdist(pytester: pytest.Pytester, sandbox: SandboxHandle) -> None:
    result = run(pytester, sandbox, "-n", "4")
    result.assert_outcomes(passed=8)
    state = sandbox.state()["state"]
    assert state["faucet"]["calls"] == {"usdc": 1}
    assert state["wallet"]["attempts"] == 1 and len(state["wallet"]["registered"]) == 1
    assert state["paywall"]["settled"] == 8


def test_budget_holds_across_workers(pytester: pytest.Pytester, sandbox: SandboxHandle) -> None:
    result = run(pytester, sandbox, "-n", "2", "--primgate-budget", "0.05")
    result.assert_outcomes(passed=5, failed=3)
    result.stdout.fnmatch_lines(["*PaymentRefused: payment of 0.01 USDC would bring the session "
                                 "total to 0.06 USDC, over --primgate-budget 0.05 USDC*"])
    assert sandbox.state()["state"]["paywall"]["settled"] == 5


def test_fixtures_without_xdist(pytester: pytest.Pytester, sandbox: SandboxHandle) -> None:
    result = run(pytester, sandbox, "-p", "no:xdist")
    result.assert_outcomes(passed=8)
    state = sandbox.state()["state"]
    assert state["faucet"]["calls"] == {"usdc": 1}
    assert state["paywall"]["settled"] == 8


def test_wallet_failure_is_reported_once_per_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AGENT_PRIVATE_KEY", "PRIM_HOME", "PRIM_WALLET_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_w="def test_w(prim_wallet):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*primgate wallet: no wallet configured: pass --primgate-wallet*"])
