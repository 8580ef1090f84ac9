"""Per-process state of one primgate run: run identity, shared clients, prims, records.

One ``PrimgateSession`` lives in ``config.stash`` of every process (controller and xdist
workers). Workers get the run identity and the sandbox URL from the controller through
``workerinput``, so every process names, templates and addresses things the same way.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import shutil
import tempfile
import threading
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_primgate.model import ItemRecord, Payment
from pytest_primgate.x402.networks import DEFAULT_NETWORK

if TYPE_CHECKING:
    import httpx

    from pytest_primgate.manifests.prims import PrimRegistry
    from pytest_primgate.x402.client import X402Client

SESSION_KEY = pytest.StashKey["PrimgateSession"]()
_HTTP_LOCK = threading.Lock()


@dataclass(frozen=True)
class RunInfo:
    """Identity of one run, shared by the controller and its workers."""

    run_id: str
    started_at: str
    """ISO 8601 UTC timestamp of the run's start (the ``iso_timestamp`` variable)."""
    started_ms: int
    ledger: str = ""
    """Directory of the run's spend ledger (committed total, payment log, policy)."""

    @classmethod
    def new(cls) -> RunInfo:
        """A fresh identity: UTC time plus random suffix."""
        now = datetime.now(UTC)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        return cls(
            run_id=f"{stamp}-{secrets.token_hex(3)}",
            started_at=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            started_ms=int(now.timestamp() * 1000),
        )

    def to_workerinput(self) -> dict[str, Any]:
        """Builtins for ``node.workerinput``."""
        return {"run_id": self.run_id, "started_at": self.started_at,
                "started_ms": self.started_ms, "ledger": self.ledger}

    @classmethod
    def from_workerinput(cls, data: dict[str, Any]) -> RunInfo:
        """Inverse of ``to_workerinput``."""
        return cls(str(data["run_id"]), str(data["started_at"]), int(data["started_ms"]),
                   str(data.get("ledger", "")))


@dataclass
class PrimgateSession:
    """What one process of a primgate run shares across items."""

    config: pytest.Config
    run: RunInfo
    sandbox_url: str | None = None
    records: list[ItemRecord] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    infra_errors: list[str] = field(default_factory=list)
    collection_errors: int = 0
    other_failures: int = 0
    interrupted: bool = False
    canary_only_groups: list[tuple[str, str]] = field(default_factory=list)
    """(plan node id, group id) of ``canary_only`` groups left out of a deterministic run."""
    canary_results: list[dict[str, Any]] = field(default_factory=list)
    """One entry per finished canary item (results file ``canary`` section)."""
    _http: httpx.Client | None = None
    _prims: dict[tuple[str, ...], PrimRegistry] = field(default_factory=dict)
    _owns_ledger: bool = False

    def __post_init__(self) -> None:
        """On the controller: make the run's ledger directory and write the spend policy."""
        if self.run.ledger or hasattr(self.config, "workerinput"):
            return
        directory = Path(tempfile.mkdtemp(prefix="primgate-ledger-"))
        self.run = dataclasses.replace(self.run, ledger=str(directory))
        self._owns_ledger = True
        from pytest_primgate.settings import SETTINGS_KEY

        settings = self.config.stash.get(SETTINGS_KEY, None)
        if settings is None:
            return
        policy = {
            "max_payment": str(settings.max_payment), "budget": str(settings.budget),
            "pay_to": list(settings.pay_to), "network": settings.network or DEFAULT_NETWORK,
            "allow_mainnet": settings.allow_mainnet, "max_timeout": settings.max_timeout,
        }
        (directory / "policy.json").write_text(json.dumps(policy), encoding="utf-8")

    def ledger_dir(self) -> Path | None:
        """The run's ledger directory, if this process can reach it."""
        path = Path(self.run.ledger) if self.run.ledger else None
        return path if path is not None and path.is_dir() else None

    def join_ledger(self) -> None:
        """Make ``payments`` every payment of the run: the shared log (plain tests, plan
        items, scenario subprocesses, all workers), preferring the reported copies."""
        directory = self.ledger_dir()
        if directory is None or not (directory / "payments.jsonl").is_file():
            return
        from pytest_primgate.x402.ledger import read_payments

        logged = read_payments(directory)
        reported = {p.ref: p for p in self.payments if p.ref}
        seen = {p.ref for p in logged}
        merged = [reported.get(p.ref, p) for p in logged]
        merged.extend(p for p in self.payments if not p.ref or p.ref not in seen)
        self.payments[:] = merged

    @property
    def base_variables(self) -> dict[str, str]:
        """Built-in template variables of the run."""
        return {
            "test_prefix": f"gate-{self.run.started_ms}",
            "runner": "primgate",
            "iso_timestamp": self.run.started_at,
        }

    def http_client(self) -> httpx.Client:
        """The keep-alive client for free requests (one per process)."""
        with _HTTP_LOCK:
            return self._http_client()

    def _http_client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            from pytest_primgate.settings import get_settings
            from pytest_primgate.transport.retry import retrying_transport

            settings = get_settings(self.config)
            self._http = httpx.Client(
                timeout=settings.timeout, transport=retrying_transport(settings.retry_policy)
            )
        return self._http

    def payer(self, request: pytest.FixtureRequest) -> X402Client | None:
        """The session's x402 client (from the fixture, so wallets fund once per run)."""
        client: X402Client = request.getfixturevalue("x402_client")
        return client

    def payer_problem(self, request: pytest.FixtureRequest) -> str | None:
        """Why the x402 client cannot be had (wallet not loadable or not funded), or None."""
        try:
            self.payer(request)
        except pytest.fail.Exception as exc:
            return str(exc.msg) if hasattr(exc, "msg") else str(exc)
        except Exception as exc:  # a fixture error is an infrastructure error, not a test's
            return f"x402 client unavailable: {type(exc).__name__}: {exc}"
        return None

    def wallet_variables(self, request: pytest.FixtureRequest) -> dict[str, str]:
        """``agent_address``, ``eip191_sig`` and the ``iso_timestamp`` they were signed with, from
        the run's wallet as loaded: registering and funding it is left to the plan's own tests
        when it has them, and to the ``prim_wallet`` fixture otherwise."""
        from pytest_primgate.wallet_setup import load

        wallet = load(self.config, request.getfixturevalue("tmp_path_factory"))
        variables: dict[str, str] = wallet.template_variables()
        return variables

    def _client_payments(self) -> list[Payment]:
        from pytest_primgate.fixtures.payment import X402_CLIENT_KEY

        client = self.config.stash.get(X402_CLIENT_KEY, None)
        return list(client.payments) if client is not None else []

    def payment_count(self) -> int:
        """How many payments this process made so far."""
        return len(self._client_payments())

    def payments_since(self, count: int) -> list[Payment]:
        """Payments made after ``payment_count()`` returned ``count``."""
        return self._client_payments()[count:]

    def payments_of(self, test_id: str) -> list[Payment]:
        """Payments this process made for one item (by node id), oldest first."""
        return [p for p in self._client_payments() if p.test_id == test_id]

    def scenario_env(self) -> dict[str, str]:
        """Environment handed to smoke scripts (where the sandbox is, which run this is)."""
        from pytest_primgate.settings import get_settings
        from pytest_primgate.transport.retry import policy_env

        env = {"PRIMGATE_RUN_ID": self.run.run_id}
        env.update(policy_env(get_settings(self.config).retry_policy))
        if self.ledger_dir() is not None:
            env["PRIMGATE_LEDGER"] = self.run.ledger
        if self.sandbox_url:
            env["PRIMGATE_SANDBOX_URL"] = self.sandbox_url
        return env

    def prims_for(self, directory: Path) -> PrimRegistry:
        """prim.yaml files matching the ini globs under rootdir, under ``directory`` and under
        each directory between them (so ``manifests/prims/`` serves ``manifests/smoke/``)."""
        from pytest_primgate.manifests.prims import load_prims
        from pytest_primgate.settings import get_settings

        settings = get_settings(self.config)
        roots = [self.config.rootpath, directory]
        for parent in directory.resolve().parents:
            if parent == self.config.rootpath.resolve() or len(roots) > 12:
                break
            roots.append(parent)
        found: set[Path] = set()
        for root in roots:
            for pattern in settings.prim_globs:
                base = Path(pattern)
                if base.is_absolute():
                    found.update(p for p in base.parent.glob(base.name) if p.is_file())
                else:
                    found.update(p for p in root.glob(pattern) if p.is_file())
        key = tuple(sorted(str(p.resolve()) for p in found))
        if key not in self._prims:
            self._prims[key] = load_prims([Path(p) for p in key])
            for message in self._prims[key].warnings:
                warnings.warn(pytest.PytestWarning(f"primgate: {message}"), stacklevel=2)
        return self._prims[key]

    def close(self) -> None:
        """Close shared clients."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._owns_ledger:
            shutil.rmtree(self.run.ledger, ignore_errors=True)
            self._owns_ledger = False


def get_session(config: pytest.Config) -> PrimgateSession:
    """This process's primgate session (created in pytest_configure)."""
    return config.stash[SESSION_KEY]
