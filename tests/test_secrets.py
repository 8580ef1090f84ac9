"""Secrets never reach any output: a paid run with every verbosity knob, then a search of all
artifacts for the private key, the keystore passphrase and every payment header sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from tests.plans import plan, t, write

PASSPHRASE = "correct-horse-battery-staple-7b1e"

RECORDER = '''
import pathlib
import pytest

@pytest.fixture(scope="session", autouse=True)
def _record_payment_headers(x402_client):
    sink = pathlib.Path({sink!r})

    def record(request):
        for name in ("payment-signature", "x-payment"):
            value = request.headers.get(name)
            if value:
                with sink.open("a") as handle:
                    handle.write(value + "\\n")

    x402_client.event_hooks["request"].append(record)
    yield
'''


def test_paid_run_leaks_no_secret(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PRIM_WALLET_PASSPHRASE", PASSPHRASE)
    private = tmp_path_factory.mktemp("private")
    account = Account.create()
    keystore = private / f"{account.address}.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, PASSPHRASE)))
    sink = private / "headers.txt"
    pytester.makeconftest(RECORDER.format(sink=str(sink)))
    write(pytester.path, plan({"infer": [
        t("INF-T3", "https://infer.prim.sh/v1/models", service="infer.sh", notes="Paid.",
          body={"data": "array (non-empty)"}),
        t("INF-BAD", "https://infer.prim.sh/v1/models", service="infer.sh", notes="Paid.",
          status=201),
        t("ST-1", "https://store.prim.sh/v1/buckets", service="store.sh", method="POST",
          status=201, input={"name": "secrets-bucket"}, notes="Paid."),
    ]}))
    pytester.makeini("[pytest]\nlog_cli = true\nlog_cli_level = DEBUG\n")
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "-p", "no:cacheprovider", "-vv", "-rA",
        "--log-level=DEBUG", "--junit-xml=junit.xml", "--primgate-results-dir", "out",
        f"--primgate-wallet={keystore}", "--tb=long", "--showlocals",
        "--primgate-markdown", "gate.md",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 2 and outcomes.get("failed") == 1, result.stdout.str()
    headers = [line for line in sink.read_text().splitlines() if line]
    assert len(headers) >= 3
    secrets = {
        "private key": bytes(account.key).hex(),
        "passphrase": PASSPHRASE,
        **{f"payment header {i}": h for i, h in enumerate(headers)},
    }
    artifacts = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "junit": (pytester.path / "junit.xml").read_text(),
        "markdown": (pytester.path / "gate.md").read_text(),
        **{f"results {p.name}": p.read_text() for p in (pytester.path / "out").glob("*.json")},
    }
    leaks = [
        (secret_name, artifact_name)
        for secret_name, secret in secrets.items()
        for artifact_name, text in artifacts.items()
        if secret in text or secret.lower() in text.lower()
    ]
    assert leaks == []
    assert "<redacted>" in result.stdout.str()
    assert account.address.lower() in result.stdout.str().lower() or "paid" in result.stdout.str()


def test_keystore_without_passphrase_fails_clearly(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PRIM_WALLET_PASSPHRASE", raising=False)
    account = Account.create()
    keystore = tmp_path / "k.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, PASSPHRASE)))
    write(pytester.path, plan({"infer": [
        t("INF-T3", "https://infer.prim.sh/v1/models", service="infer.sh", notes="Paid."),
    ]}))
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "--ci", "-p", "no:cacheprovider",
        f"--primgate-wallet={keystore}", "--primgate-results-dir", "out",
    )
    out = result.stdout.str()
    assert result.ret == 2, out
    assert "PRIM_WALLET_PASSPHRASE" in out
    assert "Traceback" not in out


HOSTILE_TESTS = '''
import pytest

URLS = {urls!r}


@pytest.mark.parametrize("case", sorted(URLS))
def test_case(x402_client, case):
    response = x402_client.get(URLS[case], follow_redirects=True)
    assert response.status_code == 200
'''


def test_refusal_paths_leak_no_secret_under_showlocals(
    pytester: pytest.Pytester, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every failure path of the client (402 again after paying, each refusal, a redirect,
    a failed settlement) under ``-vv --showlocals --tb=long``: no key, passphrase or payment
    header value in the terminal, junit, results, log file or markdown."""
    from contextlib import ExitStack

    from tests.hostile import MAINNET_USDC, Behaviour, hostile, option

    for name in ("AGENT_PRIVATE_KEY", "PRIM_HOME", "PRIM_NETWORK", "PRIMGATE_LEDGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRIM_WALLET_PASSPHRASE", PASSPHRASE)
    private = tmp_path_factory.mktemp("private")
    account = Account.create()
    keystore = private / f"{account.address}.json"
    keystore.write_text(json.dumps(Account.encrypt(account.key, PASSPHRASE)))
    behaviours = {
        "again_after_paying": Behaviour(paid_status=402, paid_headers={}),
        "server_error_after_paying": Behaviour(paid_status=500, paid_headers={}),
        "dropped_after_paying": Behaviour(drop=True),
        "mainnet": Behaviour(accepts=[option(network="eip155:8453", asset=MAINNET_USDC)]),
        "over_max_payment": Behaviour(accepts=[option("5000000")]),
        "unknown_asset": Behaviour(accepts=[option(asset="0x" + "11" * 20)]),
        "malformed_amount": Behaviour(accepts=[option("¹²")]),
        "no_exact": Behaviour(accepts=[option(scheme="upto")]),
        "huge_timeout": Behaviour(accepts=[option(maxTimeoutSeconds=10**80)], paid_status=402,
                                  paid_headers={}),
    }
    with ExitStack() as stack:
        landing = stack.enter_context(hostile(Behaviour(free=True), host="127.0.0.2"))
        servers = {name: stack.enter_context(hostile(b)) for name, b in behaviours.items()}
        servers["redirect"] = stack.enter_context(hostile(Behaviour(redirect_to=landing.url)))
        pytester.makepyfile(test_hostile=HOSTILE_TESTS.format(
            urls={name: server.url for name, server in servers.items()}))
        pytester.makeini("[pytest]\nlog_cli = true\nlog_cli_level = DEBUG\n")
        result = pytester.runpytest_subprocess(
            "--primgate", "-p", "no:cacheprovider", "-p", "no:xdist", "-vv", "-rA",
            "--showlocals", "--tb=long", "--log-level=DEBUG", "--log-file=run.log",
            "--junit-xml=junit.xml", "--primgate-results-dir", "out",
            f"--primgate-wallet={keystore}", "--primgate-markdown", "gate.md",
            "--primgate-budget", "0.05",
        )
        headers = [h for server in [*servers.values(), landing] for h in server.headers]
        # Distinct authorizations: the retry transport re-sends a dropped paid request with the
        # very same authorization (transient-fault retries), never a new one.
        signed = {name: len({json.dumps(p, sort_keys=True) for p in server.payloads})
                  for name, server in servers.items()}
        dropped = servers["dropped_after_paying"].headers
        assert len(dropped) == 4 and len(set(dropped)) == 1, "3 retries, one authorization"
    assert signed == {"again_after_paying": 1, "server_error_after_paying": 1,
                      "dropped_after_paying": 1, "mainnet": 0,
                      "over_max_payment": 0, "unknown_asset": 0, "malformed_amount": 0,
                      "no_exact": 0, "huge_timeout": 1, "redirect": 1}
    assert landing.headers == []
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and outcomes.get("failed") == 9, result.stdout.str()
    assert len(set(headers)) == 5
    secrets = {
        "private key": bytes(account.key).hex(),
        "passphrase": PASSPHRASE,
        **{f"payment header {i}": h for i, h in enumerate(headers)},
    }
    artifacts = {
        "stdout": result.stdout.str(),
        "stderr": result.stderr.str(),
        "junit": (pytester.path / "junit.xml").read_text(),
        "markdown": (pytester.path / "gate.md").read_text(),
        "log": (pytester.path / "run.log").read_text(),
        **{f"results {p.name}": p.read_text() for p in (pytester.path / "out").glob("*.json")},
    }
    leaks = [
        (secret_name, artifact_name)
        for secret_name, secret in secrets.items()
        for artifact_name, text in artifacts.items()
        for probe in (secret, secret[:32], secret[-32:])
        if probe.lower() in text.lower()
    ]
    assert leaks == []
    out = result.stdout.str()
    assert "402 again after paying" in out and "<secret: 2 header(s)>" in out
    assert "paid 0.05 USDC in 5 payments (5 unconfirmed)" in out
    assert "RemoteProtocolError" in out
