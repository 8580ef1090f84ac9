"""Wallet setup for the payment fixtures: load, register and fund once per run.

The wallet registers and funds itself once per run: under pytest-xdist the first worker does
it while holding a file lock in the run's shared temp directory, the others read its record
(and, for an ephemeral wallet, the same throwaway key). Kept apart from the fixture module so
that merely registering the fixtures imports nothing heavy (eth-account takes about a second).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account

from pytest_primgate.filelock import lock_exclusive, unlock
from pytest_primgate.fixtures.payment import WALLET_SETUP_KEY
from pytest_primgate.settings import Settings, get_settings
from pytest_primgate.transport.retry import RetryLog, retrying_transport
from pytest_primgate.wallet import Wallet, WalletError, fund, load_wallet, register
from pytest_primgate.x402.client import X402Client, make_x402_client
from pytest_primgate.x402.ledger import Ledger
from pytest_primgate.x402.spend import SpendPolicy

LOCK_TIMEOUT = 120.0
REGISTERED_OK = (200, 201, 409)
LOADED_KEY = pytest.StashKey[Wallet]()
"""The run's wallet as loaded (not yet registered or funded), one per process."""


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, waited for at most ``timeout`` seconds."""
    with path.open("a") as handle:
        try:
            lock_exclusive(handle, timeout, poll=0.05)
        except TimeoutError:
            raise WalletError(f"timed out waiting for {path}") from None
        try:
            yield
        finally:
            unlock(handle)


def setup_wallet(
    http: httpx.Client, wallet: Wallet, settings: Settings, log: RetryLog | None = None
) -> str:
    """Register (201 or 409) and fund when below the minimum balance; says what happened
    (and how many transient faults ``http``'s transport retried, counted in ``log``)."""
    status = register(http, wallet, settings.urlmap, max_bytes=settings.max_response_bytes)
    if status not in REGISTERED_OK:
        raise WalletError(f"wallet registration answered {status} (expected 201 or 409)")
    funding = fund(http, wallet, settings.urlmap, settings.min_balance,
                   max_bytes=settings.max_response_bytes)
    done = f"wallet {wallet.address} ({wallet.source}): registration {status}; {funding}"
    if log is not None and log.retries:
        done += f"; {log.retries} transient {'retry' if log.retries == 1 else 'retries'}"
    return done


def _shared_key(directory: Path) -> Any:
    """One ephemeral key for all workers of a run, kept 0600 in the run's temp directory."""
    path = directory / "primgate-ephemeral.key"
    if path.exists():
        return Account.from_key(path.read_text().strip())
    account = Account.create()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(bytes(account.key).hex())
    return account


def shared_dir(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A directory shared by the xdist workers of this run only (None outside xdist).

    Keyed by xdist's ``testrunuid``: the parent of the base temp directory is shared by every
    run of the same user (and by nested pytest runs), so it must not hold run state directly.
    """
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return None
    path = tmp_path_factory.getbasetemp().parent / f"primgate-run-{workerinput['testrunuid']}"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def own_wallet_per_worker(config: pytest.Config) -> bool:
    """Under ``--spawn`` each worker is a clean machine with its own wallet (SPEC §6)."""
    from pytest_primgate.fixtures.vps import WORKER_SERVER

    return WORKER_SERVER in getattr(config, "workerinput", {})


PRIM_WALLET_URL = "https://wallet.prim.sh/v1/wallets"


def targets_prim(config: pytest.Config, items: Sequence[pytest.Item] = ()) -> bool:
    """Whether this run uses prim.sh's wallet and faucet: the sandbox, a URL map for the
    wallet host, or plan/smoke items (prims the registry maps). Anywhere else the wallet
    just pays: no registration, no faucet."""
    from pytest_primgate.items import PrimgateItem
    from pytest_primgate.session import SESSION_KEY

    settings = get_settings(config)
    session = config.stash.get(SESSION_KEY, None)
    if session is not None and session.sandbox_url:
        return True
    if settings.urlmap.rewrite(PRIM_WALLET_URL) != PRIM_WALLET_URL:
        return True
    return any(isinstance(item, PrimgateItem) for item in items)


def _setup_or_skip(
    http: httpx.Client, wallet: Wallet, settings: Settings, prim: bool,
    log: RetryLog | None = None,
) -> str:
    if prim:
        return setup_wallet(http, wallet, settings, log)
    return (f"wallet {wallet.address} ({wallet.source}): no prim.sh wallet or faucet in this "
            "run; registration and funding skipped")


def load(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Wallet:
    """The run's wallet, loaded once per process and neither registered nor funded: plan
    tests that register and fund it themselves (``{{agent_address}}``) must see its first
    answers, not the 409 / 429 of a set-up done before them (docs/fixtures.md)."""
    wallet = config.stash.get(LOADED_KEY, None)
    if wallet is None:
        settings = get_settings(config)
        shared = shared_dir(config, tmp_path_factory)
        if shared is None or own_wallet_per_worker(config):
            wallet = load_wallet(settings)
        else:
            with file_lock(shared / "primgate-wallet.lock"):
                wallet = load_wallet(settings, new_account=lambda: _shared_key(shared))
        config.stash[LOADED_KEY] = wallet
    return wallet


def prepare(
    config: pytest.Config, tmp_path_factory: pytest.TempPathFactory, *, prim: bool = True
) -> Wallet:
    """Load the wallet, register and fund it (once per run, also under xdist; once per
    worker under ``--spawn``, where every worker has its own wallet); ``prim=False`` (the run
    does not target prim.sh, see ``targets_prim``) only loads it."""
    settings = get_settings(config)
    wallet = load(config, tmp_path_factory)  # the same wallet {{agent_address}} names
    log = RetryLog()
    transport = retrying_transport(settings.retry_policy, log=log)
    with httpx.Client(timeout=settings.timeout, transport=transport) as http:
        shared = shared_dir(config, tmp_path_factory)
        if shared is None or own_wallet_per_worker(config):
            config.stash[WALLET_SETUP_KEY] = _setup_or_skip(http, wallet, settings, prim, log)
            return wallet
        with file_lock(shared / "primgate-wallet.lock"):
            record = shared / f"primgate-wallet-{wallet.address.lower()}.json"
            if record.exists():
                done = str(json.loads(record.read_text())["setup"])
            else:
                done = _setup_or_skip(http, wallet, settings, prim, log)
                record.write_text(json.dumps({"setup": done}))
            config.stash[WALLET_SETUP_KEY] = done
            return wallet


def make_client(config: pytest.Config, wallet: Wallet, shared: Path | None) -> X402Client:
    """The session's paying client: spend policy from the options, the run's ledger (shared
    by xdist workers and scenario subprocesses) for the budget and the payment log."""
    from pytest_primgate.session import SESSION_KEY
    from pytest_primgate.x402.networks import DEFAULT_NETWORK

    settings = get_settings(config)
    policy = SpendPolicy(
        max_payment=settings.max_payment, budget=settings.budget, pay_to=settings.pay_to,
        network=settings.network or DEFAULT_NETWORK, allow_mainnet=settings.allow_mainnet,
        max_timeout=settings.max_timeout,
    )
    session = config.stash.get(SESSION_KEY, None)
    directory = session.ledger_dir() if session is not None else None
    if directory is None and shared is not None:
        directory = shared
    return make_x402_client(
        wallet.account, policy, timeout=settings.timeout, network=settings.network,
        rewrite=settings.urlmap.rewrite, ledger=Ledger(directory),
        transport=retrying_transport(settings.retry_policy),
    )
