"""Leftovers of crashed processes: `primgate reap` and the controller's reap at session end."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_primgate.sandbox.config import SandboxConfig
from pytest_primgate.sandbox.process import SandboxHandle, start_sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with start_sandbox(SandboxConfig(spawn_active_delay=0.1)) as handle:
        yield handle


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("PRIMGATE_STATE_DIR", str(tmp_path / "state"))
    import os

    return dict(os.environ)


def spawn_state(sandbox: SandboxHandle) -> tuple[int, int]:
    state = sandbox.state()["state"]["spawn"]
    return state["servers"], state["ssh_keys"]


CRASHER = """
import os, httpx
from decimal import Decimal
from eth_account import Account
from pytest_primgate.vps import VpsPool
from pytest_primgate.x402.client import make_x402_client
from pytest_primgate.x402.spend import SpendPolicy

url = {url!r}
account = Account.create()
httpx.post(url + "/faucet/v1/faucet/usdc", json={{"address": account.address}})
http = make_x402_client(account, SpendPolicy(max_payment=Decimal("1"), budget=Decimal("5"),
                        pay_to=()), timeout=10)
pool = VpsPool(http, url + "/spawn", run_id="20260101T000000Z-crash", process="main",
               wallet_key=bytes(account.key).hex(), wallet_source="ephemeral", timeout=10)
pool.spawn()
pool.spawn()
os.kill(os.getpid(), 9)
"""


def test_reap_deletes_what_a_killed_process_left(
    sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASHER.format(url=sandbox.url)))
    proc = subprocess.run([sys.executable, str(script)], env=env, timeout=60,
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert spawn_state(sandbox) == (2, 1)
    records = list((tmp_path / "state").rglob("*.json"))
    assert len(records) == 1 and oct(records[0].stat().st_mode & 0o777) == "0o600"

    reap = subprocess.run(["primgate", "reap"], env=env, timeout=60, capture_output=True,
                          text=True)
    assert reap.returncode == 0, reap.stdout + reap.stderr
    lines = reap.stdout.splitlines()
    assert sum(x.startswith("deleted server srv_") for x in lines) == 2
    assert any(x.startswith("deleted ssh key sk_") for x in lines)
    assert all("(primgate-20260101T000000Z-crash-" in x for x in lines)
    assert spawn_state(sandbox) == (0, 0)
    assert not list((tmp_path / "state").rglob("*.json"))

    again = subprocess.run(["primgate", "reap"], env=env, timeout=60, capture_output=True,
                           text=True)
    assert again.returncode == 0
    assert again.stdout.strip() == "primgate reap: nothing to reap"


def test_killed_xdist_worker_leaves_nothing(
    pytester: pytest.Pytester, sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    pytester.makepyfile(
        """
        import os, signal

        def test_crash(spawned_vps):
            assert spawned_vps.run("true", hide=True).ok
            os.kill(os.getpid(), signal.SIGKILL)

        def test_fine(spawned_vps):
            assert spawned_vps.run("echo ok", hide=True).stdout == "ok\\n"
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--max-worker-restart", "1",
        "--primgate-base-url", f"*.prim.sh={sandbox.url}/{{prim}}",
        "--primgate-wallet", "ephemeral",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*worker 'gw*' crashed while running*",
                                 "*primgate reap: deleted server srv_* (primgate-*"])
    assert spawn_state(sandbox) == (0, 0)
    reap = subprocess.run(["primgate", "reap"], env=env, timeout=60, capture_output=True,
                          text=True)
    assert reap.returncode == 0
    assert "nothing to reap" in reap.stdout
    assert spawn_state(sandbox) == (0, 0)
