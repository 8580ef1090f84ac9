"""Transient faults through the plugin: retried inside the attempt, counted, and gated.

A scripted proxy (``tests/fault_proxy.py``) sits between the run and a real sandbox, so a test
decides exactly which request is reset or answered 503, and sees what each re-send carried.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_primgate.sandbox.process import SandboxHandle, start_sandbox
from tests.fault_proxy import FaultProxy, Rule, fault_proxy
from tests.plans import plan, prim_yaml, results, t, write


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxHandle]:
    for name in ("AGENT_PRIVATE_KEY", "PRIM_HOME", "PRIM_WALLET_PASSPHRASE", "PRIM_NETWORK"):
        monkeypatch.delenv(name, raising=False)
    with start_sandbox() as handle:
        yield handle


@pytest.fixture
def proxy(sandbox: SandboxHandle) -> Iterator[FaultProxy]:
    with fault_proxy(sandbox.url) as handle:
        yield handle


def run(pytester: pytest.Pytester, proxy: FaultProxy, *args: str) -> pytest.RunResult:
    """One request at a time: the proxy's rules (``hits=(3,)``) count requests in arrival
    order, which concurrent items would make a matter of timing."""
    return pytester.runpytest_subprocess(
        "--primgate-concurrency", "1",
        "--primgate", "-p", "no:cacheprovider", "--primgate-wallet", "ephemeral",
        "--primgate-base-url", f"*.prim.sh={proxy.url}/{{prim}}",
        "--primgate-results-dir", "out", "--junit-xml", "junit.xml", "--primgate-runs", "1",
        *args,
    )


def by_id(pytester: pytest.Pytester) -> dict[str, dict[str, object]]:
    return {x["test_id"]: x for x in results(pytester.path / "out")["tests"]}


def junit_props(pytester: pytest.Pytester, name: str) -> list[str]:
    xml = (pytester.path / "junit.xml").read_text()
    return re.findall(rf'<property name="{name}" value="([^"]*)"', xml)


def test_503_then_200_passes_with_one_retry_recorded(
    pytester: pytest.Pytester, proxy: FaultProxy
) -> None:
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"h": [
        t("H-1", "https://store.prim.sh/", body={"status": "ok"}),
        t("H-2", "https://store.prim.sh/?second=1", body={"status": "ok"}),
    ]}))
    proxy.rules.append(Rule("GET", "/store/", 503))
    result = run(pytester, proxy, "--primgate-ci")
    result.assert_outcomes(passed=2)
    assert result.ret == 0, result.stdout.str()
    assert proxy.count("GET", "/store/") == 3
    items = by_id(pytester)
    assert items["H-1"]["retries"] == 1 and items["H-1"]["attempts"] == 1
    assert re.fullmatch(rf"GET {proxy.url}/store/: 503 \(waited 0\.\d\d s\)",
                        str(items["H-1"]["retry_log"][0])), items["H-1"]["retry_log"]
    assert items["H-2"]["retries"] == 0 and items["H-2"]["retry_log"] == []
    data = results(pytester.path / "out")
    store = next(p for p in data["prims"] if p["name"] == "store")
    assert (store["retries"], store["requests"], store["retried_requests"]) == (1, 2, 1)
    assert store["retry_rate"] == 50.0
    assert store["verdict"] == "PASS" and not store["unstable"], "1 retried request is noise"
    assert sorted(junit_props(pytester, "retries")) == ["0", "1"]


def test_one_blip_in_many_requests_passes_with_the_retry_on_record(
    pytester: pytest.Pytester, proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    prim_yaml(pytester.path, "store", "live")
    write(pytester.path, plan({"h": [
        t(f"H-{i}", f"https://store.prim.sh/?i={i}", body={"status": "ok"}) for i in range(6)
    ]}))
    proxy.rules.append(Rule("GET", "/store/", "reset", hits=(3,)))
    monkeypatch.setenv("COLUMNS", "200")
    result = run(pytester, proxy, "--primgate-ci")
    assert result.ret == 0, result.stdout.str()
    out = result.stdout.str()
    row = next(line.split() for line in out.splitlines() if line.startswith("prim ") and
               " store " in line)
    header = next(line.split() for line in out.splitlines() if "retries" in line.split())
    assert row[header.index("retries") + 1] == "1", "the header has no cell above 'prim'"
    assert "primgate: PASSED" in out
    assert "reset after send" in by_id(pytester)["H-2"]["retry_log"][0]  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "endpoint", "body", "expected"),
    [
        ("GET", "https://infer.prim.sh/v1/models", None, {"data": "array (non-empty)"}),
        ("POST", "https://infer.prim.sh/v1/chat",
         {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
         {"object": "chat.completion"}),
    ],
)
def test_reset_paid_call_resends_the_same_signature_and_settles_once(
    pytester: pytest.Pytester, proxy: FaultProxy, sandbox: SandboxHandle, method: str,
    endpoint: str, body: object, expected: object,
) -> None:
    prim_yaml(pytester.path, "infer", "live")
    write(pytester.path, plan({"p": [
        t("P-1", endpoint, service="infer.sh", method=method, input=body, body=expected,
          notes="x402 paid ($0.01)."),
    ]}))
    path = "/infer" + endpoint.removeprefix("https://infer.prim.sh")
    proxy.rules.append(Rule(method, path, "reset", only_paid=True))
    result = run(pytester, proxy)
    result.assert_outcomes(passed=1)
    paid = [s for s in proxy.seen if s.path == path and "payment-signature" in s.headers]
    assert [s.action for s in paid] == ["reset", "forward"]
    assert paid[0].headers["payment-signature"] == paid[1].headers["payment-signature"]
    assert sandbox.state()["state"]["paywall"]["settled"] == 1
    item = by_id(pytester)["P-1"]
    assert item["retries"] == 1 and len(item["payments"]) == 1  # type: ignore[arg-type]
    assert "reset after send" in item["retry_log"][0]  # type: ignore[index]
    assert paid[0].headers["payment-signature"] not in result.stdout.str()


def test_free_post_reset_after_sending_is_not_retried(
    pytester: pytest.Pytester, proxy: FaultProxy
) -> None:
    write(pytester.path, plan({"w": [
        t("W-9", "https://wallet.prim.sh/v1/things", service="wallet.sh", method="POST",
          input={"name": "x"}, status=201),
    ]}))
    proxy.rules.append(Rule("POST", "/wallet/v1/things", "reset"))
    result = run(pytester, proxy)
    result.assert_outcomes(failed=1)
    assert proxy.count("POST", "/wallet/v1/things") == 1
    assert "connection error" in result.stdout.str()
    item = by_id(pytester)["W-9"]
    assert item["retries"] == 0 and item["outcome"] == "failed"


def test_retry_after_2_honoured_and_3600_capped(
    pytester: pytest.Pytester, proxy: FaultProxy
) -> None:
    write(pytester.path, plan({"r": [
        t("R-1", "https://store.prim.sh/", body={"status": "ok"}),
        t("R-2", "https://search.prim.sh/", service="search.sh", body={"status": "ok"}),
    ]}))
    proxy.rules += [
        Rule("GET", "/store/", 429, headers={"Retry-After": "2"}),
        Rule("GET", "/search/", 503, headers={"Retry-After": "3600"}),
    ]
    result = run(pytester, proxy, "--primgate-retry-after-cap", "2.5", "--durations=0")
    result.assert_outcomes(passed=2)
    items = by_id(pytester)
    assert items["R-1"]["retry_log"][0].endswith(": 429 (waited 2.00 s)")  # type: ignore[index]
    assert items["R-2"]["retry_log"][0].endswith(": 503 (waited 2.50 s)")  # type: ignore[index]
    assert 2.0 <= float(str(items["R-1"]["duration"])) < 10
    assert 2.5 <= float(str(items["R-2"]["duration"])) < 10


def test_retry_budget_bounds_the_time(pytester: pytest.Pytester, proxy: FaultProxy) -> None:
    write(pytester.path, plan({"b": [t("B-1", "https://store.prim.sh/")]}))
    proxy.rules.append(Rule("GET", "/store/", 503, hits=()))
    result = run(pytester, proxy, "--primgate-transient-retries", "1000",
                 "--primgate-retry-budget", "1")
    result.assert_outcomes(failed=1)
    assert "expected status 200, got 503" in result.stdout.str()
    item = by_id(pytester)["B-1"]
    assert 3 <= int(str(item["retries"])) < 100
    assert float(str(item["duration"])) < 3.0


def test_retries_off(pytester: pytest.Pytester, proxy: FaultProxy) -> None:
    write(pytester.path, plan({"b": [t("B-1", "https://store.prim.sh/")]}))
    proxy.rules.append(Rule("GET", "/store/", 503))
    result = run(pytester, proxy, "--primgate-transient-retries", "0")
    result.assert_outcomes(failed=1)
    assert proxy.count("GET", "/store/") == 1


def _unstable_plan(directory: Path, status: str, gates: str = "") -> None:
    prim_yaml(directory, "store", status)
    if gates:
        path = directory / "prims" / "store.yaml"
        path.write_text(path.read_text() + gates)
    write(directory, plan({"u": [
        t(f"U-{i}", f"https://store.prim.sh/?i={i}", body={"status": "ok"}) for i in range(6)
    ]}))


@pytest.mark.parametrize(
    ("status", "args", "gates", "code", "verdict"),
    [
        ("live", (), "", 1, "FAIL UNSTABLE"),
        ("testing", (), "", 0, "WARN UNSTABLE"),
        ("live", ("--primgate-max-retry-rate", "90"), "", 0, "PASS"),
        ("live", (), "gates:\n  max_retry_rate: 90\n", 0, "PASS"),
    ],
)
def test_unstable_verdict(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, status: str,
    args: tuple[str, ...], gates: str, code: int, verdict: str,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    _unstable_plan(pytester.path, status, gates)
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "-p", "no:cacheprovider", "--primgate-ci",
        "--primgate-runs", "1", "--primgate-results-dir", "out", "--primgate-concurrency", "1",
        "--primgate-sandbox-fault", "path=/store/*,every=2,status=503", *args,
    )
    out = result.stdout.str()
    assert result.ret == code, out
    result.assert_outcomes(passed=6)
    row = next(line for line in out.splitlines() if line.startswith("prim ") and " store " in line)
    assert row.endswith(verdict)
    data = results(pytester.path / "out")
    store = next(p for p in data["prims"] if p["name"] == "store")
    assert (store["requests"], store["retried_requests"], store["retries"]) == (6, 5, 5)
    limit = "90" if verdict == "PASS" else "20"
    assert store["max_retry_rate"] == float(limit)
    text = f"UNSTABLE 83.3 % of requests retried > {limit} % (5 of 6)"
    if verdict == "PASS":
        assert "UNSTABLE" not in data["verdict_line"]
    else:
        assert text in data["verdict_line"] and text in out
    if code == 1:
        assert data["verdict_line"] == f"primgate: FAILED — store (live): {text}"


def test_bad_retry_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    write(pytester.path, plan({"b": [t("B-1", "https://store.prim.sh/")]}))
    result = pytester.runpytest_subprocess("--primgate", "-p", "no:cacheprovider",
                                           "--primgate-max-retry-rate", "-5")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--primgate-max-retry-rate must not be negative, got -5.0*"])
    assert "Traceback" not in result.stderr.str()


def test_ini_keys(pytester: pytest.Pytester, proxy: FaultProxy) -> None:
    pytester.makeini("[pytest]\nprimgate_transient_retries = 0\n")
    write(pytester.path, plan({"b": [t("B-1", "https://store.prim.sh/")]}))
    proxy.rules.append(Rule("GET", "/store/", 503))
    result = run(pytester, proxy)
    result.assert_outcomes(failed=1)
    assert proxy.count("GET", "/store/") == 1
    assert json.loads((pytester.path / "out").joinpath(
        next(p.name for p in (pytester.path / "out").glob("*.json"))).read_text()
    )["tests"][0]["retries"] == 0


def test_scenario_counts_the_retries_of_primgate_fetch(pytester: pytest.Pytester) -> None:
    import sys

    fetch = f'"{sys.executable}" -m pytest_primgate.cli fetch https://store.prim.sh/ --no-setup'
    (pytester.path / "twice.sh").write_text(f"{fetch}\n{fetch}\n")
    (pytester.path / "demo.smoke.toml").write_text(
        '[[scenario]]\nname = "fetch_twice"\nscript = "twice.sh"\nowners = ["t"]\n'
        'prim = "store"\nexpect_stdout = "store.sh"\nruns = 1\n'
    )
    prim_yaml(pytester.path, "store", "live")
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "-p", "no:cacheprovider", "--primgate-results-dir",
        "out", "--primgate-sandbox-fault", "path=/store/,every=2,status=503",
    )
    result.assert_outcomes(passed=1)
    item = by_id(pytester)["fetch_twice"]
    assert (item["retries"], item["requests"], item["retried_requests"]) == (1, 2, 1)
    assert re.fullmatch(r"GET http://127\.0\.0\.1:\d+/store/: 503 \(waited 0\.\d\d s\)",
                        str(item["retry_log"][0])), item["retry_log"]  # type: ignore[index]


def test_scenario_retries_off_reaches_primgate_fetch(pytester: pytest.Pytester) -> None:
    import sys

    fetch = f'"{sys.executable}" -m pytest_primgate.cli fetch https://store.prim.sh/ --no-setup'
    (pytester.path / "twice.sh").write_text(f"{fetch}\n{fetch}\n")
    (pytester.path / "demo.smoke.toml").write_text(
        '[[scenario]]\nname = "fetch_twice"\nscript = "twice.sh"\nowners = ["t"]\n'
        'prim = "store"\nruns = 1\n'
    )
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "-p", "no:cacheprovider", "--primgate-results-dir",
        "out", "--primgate-sandbox-fault", "path=/store/,every=2,status=503",
        "--primgate-transient-retries", "0",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*primgate fetch: GET http://127.0.0.1:*/store/ -> HTTP 503*"])
    assert by_id(pytester)["fetch_twice"]["retries"] == 0
