"""Hostile responses on loopback: every read is capped in bytes and bounded by one deadline."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from pytest_primgate.bounded import (
    BodyTooLarge,
    NoCompleteResponse,
    request_bounded,
    size_text,
)
from tests.hostile_http import gzip_bomb, hostile_server
from tests.plans import plan, results, t, write

DEADLINE = 2.0
MARGIN = 1.5
"""Seconds allowed beyond the deadline (a loaded 2-core machine)."""
RSS_LIMIT_KB = 200 * 1024


def test_size_text() -> None:
    assert size_text(10 * 1024 * 1024) == "10 MiB"
    assert size_text(1536) == "1.5 KiB"
    assert size_text(100) == "100 bytes"


@pytest.fixture(scope="module")
def hostile() -> str:
    gzip_bomb()
    with hostile_server() as url:
        yield url  # type: ignore[misc]


def test_normal_response_is_read_whole(hostile: str) -> None:
    with httpx.Client(timeout=DEADLINE) as client:
        response = request_bounded(client, "GET", f"{hostile}/ok")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


@pytest.mark.parametrize("path", ["/endless", "/gzip-bomb"])
def test_body_over_the_cap_is_refused(hostile: str, path: str) -> None:
    started = time.monotonic()
    with httpx.Client(timeout=DEADLINE) as client, pytest.raises(BodyTooLarge) as info:
        request_bounded(client, "GET", f"{hostile}{path}", max_bytes=1 << 20)
    assert str(info.value) == "response body exceeds 1 MiB"
    assert time.monotonic() - started < DEADLINE + MARGIN


@pytest.mark.parametrize("path", ["/drip-headers", "/drip-body"])
def test_drip_ends_at_the_deadline(hostile: str, path: str) -> None:
    started = time.monotonic()
    with httpx.Client(timeout=DEADLINE) as client, pytest.raises(NoCompleteResponse) as info:
        request_bounded(client, "GET", f"{hostile}{path}", deadline=DEADLINE)
    elapsed = time.monotonic() - started
    assert str(info.value) == f"no complete response within {DEADLINE:g} s"
    assert DEADLINE - 0.1 <= elapsed < DEADLINE + MARGIN


def test_drip_on_a_kept_alive_client_does_not_spoil_the_next_request(hostile: str) -> None:
    with httpx.Client(timeout=DEADLINE) as client:
        with pytest.raises(NoCompleteResponse):
            request_bounded(client, "GET", f"{hostile}/drip-body", deadline=1.0)
        assert request_bounded(client, "GET", f"{hostile}/ok").json() == {"ok": True}


def _high_water_kb(pid: int) -> int:
    """``VmHWM`` of ``pid`` (peak RSS of its current program; 0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _run_measured(
    pytester: pytest.Pytester, *args: str
) -> tuple[int, str, int, float]:
    """Run pytest in a child process: exit code, output, peak RSS (KiB) of that child, wall.

    ``ru_maxrss`` of a forked child starts at the parent's size (it survives ``exec``), so
    the child's own high-water mark is sampled from ``/proc`` every 20 ms instead.
    """
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )
    peak = 0
    chunks: list[bytes] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: chunks.append(proc.stdout.read()), daemon=True)
    reader.start()
    try:
        while proc.poll() is None and time.monotonic() - started < 120:
            peak = max(peak, _high_water_kb(proc.pid))
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        reader.join(timeout=10)
        proc.stdout.close()
    output = b"".join(chunks).decode("utf-8", errors="replace")
    return proc.returncode, output, peak, time.monotonic() - started


def test_hostile_plan_fails_each_item_in_time_with_flat_memory(
    pytester: pytest.Pytester,
) -> None:
    gzip_bomb()
    with hostile_server() as url:
        write(pytester.path, plan({"hostile": [
            t("H-ENDLESS", f"{url}/endless", paid=False),
            t("H-BOMB", f"{url}/gzip-bomb", paid=False),
            t("H-DRIP-HEADERS", f"{url}/drip-headers", paid=False),
            t("H-DRIP-BODY", f"{url}/drip-body", paid=False),
        ]}))
        code, output, peak_kb, wall = _run_measured(
            pytester, "--primgate", "--primgate-ci", "--primgate-timeout", str(DEADLINE),
            "--primgate-runs", "1", "--primgate-quorum", "1",
            "--primgate-results-dir", "out", "-rA",
        )
    assert code == 1, output
    for tid, reason in (
        ("H-ENDLESS", "response body exceeds 10 MiB"),
        ("H-BOMB", "response body exceeds 10 MiB"),
        ("H-DRIP-HEADERS", f"no complete response within {DEADLINE:g} s"),
        ("H-DRIP-BODY", f"no complete response within {DEADLINE:g} s"),
    ):
        assert re.search(rf"_ hostile::{tid} GET \S+ _+\n{reason}\n", output), (tid, output)
    assert "Traceback" not in output and "INTERNALERROR" not in output
    assert peak_kb < RSS_LIMIT_KB, f"peak RSS {peak_kb} KiB"
    data = results(pytester.path / "out")
    by_id = {test["test_id"]: test for test in data["tests"]}
    assert {tid: test["outcome"] for tid, test in by_id.items()} == dict.fromkeys(
        ("H-ENDLESS", "H-BOMB", "H-DRIP-HEADERS", "H-DRIP-BODY"), "failed"
    )
    for test in by_id.values():
        assert test["duration"] < DEADLINE + MARGIN, test
    assert data["exit_code"] == 1
    assert wall < 4 * (DEADLINE + MARGIN) + 15


def test_wallet_registration_and_funding_are_bounded(hostile: str) -> None:
    from eth_account import Account

    from pytest_primgate.urlmap import UrlMap
    from pytest_primgate.wallet import WalletError, _from_account, fund, register

    wallet = _from_account(Account.create(), "ephemeral")
    drip = UrlMap.from_pairs({"wallet.prim.sh": f"{hostile}/drip-headers",
                              "faucet.prim.sh": f"{hostile}/endless"})
    started = time.monotonic()
    with httpx.Client(timeout=DEADLINE) as client:
        with pytest.raises(WalletError) as info:
            register(client, wallet, drip)
        assert str(info.value).endswith(f"failed: no complete response within {DEADLINE:g} s")
        assert time.monotonic() - started < DEADLINE + MARGIN
        with pytest.raises(WalletError) as info:
            fund(client, wallet, drip, Decimal(1), max_bytes=1 << 20)
        assert str(info.value).endswith("failed: response body exceeds 1 MiB")


def test_x402_client_requests_are_bounded(hostile: str) -> None:
    from eth_account import Account

    from pytest_primgate.x402.client import make_x402_client
    from pytest_primgate.x402.spend import SpendPolicy

    policy = SpendPolicy(max_payment=Decimal(1),
                         budget=Decimal(1), pay_to=())
    started = time.monotonic()
    with make_x402_client(Account.create(), policy, timeout=DEADLINE) as client:
        with pytest.raises(NoCompleteResponse):
            request_bounded(client, "GET", f"{hostile}/drip-body")
        with pytest.raises(BodyTooLarge):
            request_bounded(client, "GET", f"{hostile}/gzip-bomb")
    assert time.monotonic() - started < DEADLINE + 2 * MARGIN


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/drip-body", f"no complete response within {DEADLINE:g} s"),
     ("/endless", "response body exceeds 10 MiB")],
)
def test_primgate_fetch_is_bounded(hostile: str, path: str, reason: str) -> None:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_primgate.cli", "fetch", "--no-setup",
         "--timeout", str(DEADLINE), f"{hostile}{path}"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"primgate fetch: GET {hostile}{path} failed: {reason}"
    assert time.monotonic() - started < DEADLINE + MARGIN + 5


def test_paid_call_through_the_x402_client_is_bounded(hostile: str, tmp_path: Path) -> None:
    from eth_account import Account

    from pytest_primgate.manifests.plan import load_plan
    from pytest_primgate.plan_runner import prepare, run_attempt
    from pytest_primgate.urlmap import UrlMap
    from pytest_primgate.x402.client import make_x402_client
    from pytest_primgate.x402.spend import SpendPolicy

    path = write(tmp_path, plan({"g": [t("P-1", f"{hostile}/paid-drip/v1/x", notes="Paid.")]}))
    test = load_plan(path).tests["P-1"]
    policy = SpendPolicy(max_payment=Decimal(1), budget=Decimal(1), pay_to=())
    started = time.monotonic()
    with httpx.Client(timeout=DEADLINE) as http, make_x402_client(
        Account.create(), policy, timeout=DEADLINE
    ) as x402:
        result = run_attempt(
            test, prepare(test, {}, UrlMap()), http=http, payer=lambda: x402, test_id="P-1",
            redact=False, timeout=DEADLINE,
        )
        assert x402.signatures == 1
    assert (result.outcome, result.reason) == (
        "failed", f"no complete response within {DEADLINE:g} s")
    assert time.monotonic() - started < DEADLINE + 2 * MARGIN


def test_a_deadline_on_a_reused_connection_cuts_no_other_threads_request(hostile: str) -> None:
    """Items run concurrently on one client: when one request's deadline passes while its
    reused connection has not answered, a request of another thread, waiting on its own
    reused connection at that moment, still gets its answer."""
    from pytest_primgate.transport.policy import RetryPolicy
    from pytest_primgate.transport.retry import retrying_transport

    transport = retrying_transport(RetryPolicy(retries=0))
    outcome: dict[str, object] = {}
    with httpx.Client(timeout=DEADLINE, transport=transport) as client:

        def dripped() -> None:
            assert request_bounded(client, "GET", f"{hostile}/keep").json() == {}
            try:
                request_bounded(client, "GET", f"{hostile}/keep/again")
            except NoCompleteResponse as exc:
                outcome["dripped"] = exc

        def late() -> None:
            assert request_bounded(client, "GET", f"{hostile}/late").json() == {}
            time.sleep(DEADLINE / 2)  # waiting while the other deadline passes
            wait = int(DEADLINE * 0.8 * 1000)
            outcome["late"] = request_bounded(client, "GET", f"{hostile}/late?ms={wait}").json()

        threads = [threading.Thread(target=dripped), threading.Thread(target=late)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DEADLINE * 4)
    assert isinstance(outcome.get("dripped"), NoCompleteResponse)
    assert outcome.get("late") == {"late": True}


def test_header_drip_on_a_reused_keep_alive_connection_ends_at_the_deadline(
    hostile: str,
) -> None:
    with httpx.Client(timeout=DEADLINE) as client:
        assert request_bounded(client, "GET", f"{hostile}/keep").json() == {}
        started = time.monotonic()
        with pytest.raises(NoCompleteResponse):
            request_bounded(client, "GET", f"{hostile}/keep/again")
        assert time.monotonic() - started < DEADLINE + MARGIN
        assert request_bounded(client, "GET", f"{hostile}/ok").json() == {"ok": True}
