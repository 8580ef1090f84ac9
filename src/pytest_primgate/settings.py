"""A typed, validated view of the options, built once per process and kept in the config stash."""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_primgate.urlmap import UrlMap

if TYPE_CHECKING:
    from pytest_primgate.transport.policy import RetryPolicy

SETTINGS_KEY = pytest.StashKey["Settings"]()


@dataclass(frozen=True)
class Settings:
    """Everything the plugin's stages read from the command line and ini file."""

    enabled: bool
    groups: tuple[str, ...] = ()
    no_deps: bool = False
    ci: bool = False
    spawn: int = 0
    owner_tasks: tuple[str, ...] = ()
    dry_run: bool = False
    variables: dict[str, str] = field(default_factory=dict)
    urlmap: UrlMap = field(default_factory=UrlMap)
    sandbox: bool = False
    sandbox_faults: tuple[str, ...] = ()
    prim_globs: tuple[str, ...] = ()
    plan_globs: tuple[str, ...] = ()
    smoke_globs: tuple[str, ...] = ()
    runs: int = 3
    quorum: int = 2
    runs_explicit: bool = False
    thresholds: dict[str, float] = field(default_factory=dict)
    allow_unreachable: bool = False
    allow_empty: bool = False
    results_dir: Path = Path("tests/runs")
    markdown: Path | None = None
    timeout: float = 30.0
    wallet: str | None = None
    min_balance: Decimal = Decimal("1.00")
    max_payment: Decimal = Decimal("1.00")
    budget: Decimal = Decimal("10.00")
    pay_to: tuple[str, ...] = ()
    network: str | None = None
    """Network pinned by option, ini or ``$PRIM_NETWORK`` (None: the plan's, else default)."""
    allow_mainnet: bool = False
    max_timeout: int = 3600
    grow_only_base: str | None = None
    holdout: Path | None = None
    holdout_threshold: float = 90.0
    holdout_label: str | None = None
    spawn_timeout: float = 120.0
    canary: bool = False
    canary_endpoint: str | None = None
    canary_model: str | None = None
    canary_api_key_env: str = "CANARY_API_KEY"
    canary_timeout: float = 300.0
    canary_llms_dir: Path | None = None
    max_response_bytes: int = 10 * 1024 * 1024
    """Cap on the decoded bytes read per HTTP response (``--primgate-max-response-bytes``)."""
    transient_retries: int = 3
    retry_budget: float = 10.0
    retry_after_cap: float = 5.0
    max_retry_rate: float = 20.0
    concurrency: int = 16
    """Plan tests computed at once per process (``--primgate-concurrency``; 1: sequential)."""
    max_per_host: int = 12
    """Requests in flight to one host per process (``--primgate-max-per-host``)."""

    @property
    def retry_policy(self) -> RetryPolicy:
        """The transient-fault retry policy of every client of the run."""
        from pytest_primgate.transport.policy import RetryPolicy

        return RetryPolicy(retries=self.transient_retries, budget=self.retry_budget,
                           retry_after_cap=self.retry_after_cap)

    @property
    def mode(self) -> str:
        """Results-file mode: holdout, spawn, ci or local."""
        if self.holdout is not None:
            return "holdout"
        if self.spawn:
            return "spawn"
        return "ci" if self.ci else "local"


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in values:
        key, sep, value = raw.partition("=")
        if not sep or not key.strip():
            raise pytest.UsageError(f"{option} expects KEY=VALUE, got {raw!r}")
        out[key.strip()] = value.strip()
    return out


def _usdc(value: str, option: str) -> Decimal:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise pytest.UsageError(
            f"{option} expects a USDC amount like 1.00, got {value!r}"
        ) from None
    if not amount.is_finite():
        raise pytest.UsageError(f"{option} must be a finite USDC amount, got {value!r}")
    if amount < 0:
        raise pytest.UsageError(f"{option} must not be negative, got {value!r}")
    if amount > MAX_USDC:
        raise pytest.UsageError(f"{option} must be at most {MAX_USDC} USDC, got {value!r}")
    return amount


def _network(config: pytest.Config) -> str | None:
    """``--primgate-network``, else ini ``primgate_network``, else ``$PRIM_NETWORK``."""
    for value, where in (
        (config.getoption("primgate_network"), "--primgate-network"),
        (config.getini("primgate_network"), "primgate_network"),
        (os.environ.get("PRIM_NETWORK"), "PRIM_NETWORK"),
    ):
        text = str(value or "").strip()
        if not text:
            continue
        prefix, _, chain = text.partition(":")
        names = {"base-sepolia": "eip155:84532", "base": "eip155:8453"}
        if text in names:
            return names[text]
        if prefix != "eip155" or not chain.isascii() or not chain.isdigit():
            raise pytest.UsageError(f"{where} expects eip155:N, got {text!r}")
        return f"eip155:{int(chain)}"
    return None


def _max_timeout(value: object) -> int:
    seconds = int(str(value))
    if seconds <= 0:
        raise pytest.UsageError(f"--primgate-max-timeout must be positive, got {value!r}")
    return seconds


def _positive(value: float, option: str) -> None:
    if not value > 0:
        raise pytest.UsageError(f"{option} must be a positive number of seconds, got {value:g}")


def _percent(value: float, option: str) -> None:
    if not 0 <= value <= 100:
        raise pytest.UsageError(f"{option} must be a percentage from 0 to 100, got {value:g}")
MAX_USDC = Decimal(1_000_000)
"""Largest amount accepted for budgets, payments and balances (beyond it, a typo)."""
_SIZE = re.compile(r"^\s*(\d+)\s*(|b|bytes|kib|k|mib|m|gib|g)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "bytes": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}
MAX_RESPONSE_CAP = 1 << 40


def percent(value: str, option: str) -> float:
    """A pass threshold in percent: finite, 0 to 100 (a trailing ``%`` is allowed)."""
    try:
        number = float(value.strip().rstrip("%"))
    except ValueError:
        raise pytest.UsageError(f"{option} expects a percentage 0-100, got {value!r}") from None
    if not math.isfinite(number) or not 0 <= number <= 100:
        raise pytest.UsageError(f"{option} must be a percentage from 0 to 100, got {value!r}")
    return number


def byte_size(value: str, option: str) -> int:
    """``10485760``, ``10MiB``, ``512 KiB`` -> bytes (at least 1, at most 1 TiB)."""
    match = _SIZE.match(str(value))
    if match is None:
        raise pytest.UsageError(
            f"{option} expects a size in bytes (or with KiB/MiB/GiB), got {value!r}"
        )
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if not 1 <= size <= MAX_RESPONSE_CAP:
        raise pytest.UsageError(f"{option} must be between 1 byte and 1 TiB, got {value!r}")
    return size


def _split_csv(values: list[str]) -> tuple[str, ...]:
    return tuple(part.strip() for raw in values for part in raw.split(",") if part.strip())


def _number(config: pytest.Config, option: str, ini: str, *, integer: bool = False) -> float:
    """An option's value, else its ini key's; a clear usage error when not a number >= 0."""
    value = config.getoption(option)
    source = "--" + option.replace("_", "-")
    if value is None:
        value, source = config.getini(ini), ini
    try:
        number = int(str(value)) if integer else float(str(value).strip().rstrip("%"))
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise pytest.UsageError(f"{source} expects {kind}, got {value!r}") from None
    if number < 0:
        raise pytest.UsageError(f"{source} must not be negative, got {value!r}")
    return number


def _at_least_one(config: pytest.Config, name: str) -> int:
    """A whole-number option (or its ini key, same name) that must be at least 1."""
    number = int(_number(config, name, name, integer=True))
    if number < 1:
        source = "--" + name.replace("_", "-") if config.getoption(name) is not None else name
        raise pytest.UsageError(f"{source} must be at least 1, got {number}")
    return number


def build_settings(config: pytest.Config) -> Settings:
    """Read and validate the options; raises ``pytest.UsageError`` with the option's name."""
    opt = config.getoption
    enabled = bool(opt("primgate") or config.getini("primgate"))
    variables = {
        key[len("PRIMGATE_VAR_"):]: value
        for key, value in sorted(os.environ.items())
        if key.startswith("PRIMGATE_VAR_") and len(key) > len("PRIMGATE_VAR_")
    }
    variables.update(_pairs(opt("primgate_var"), "--primgate-var"))
    base_urls = _pairs(list(config.getini("primgate_base_urls")), "primgate_base_urls")
    base_urls.update(_pairs(opt("primgate_base_url"), "--primgate-base-url"))
    thresholds: dict[str, float] = {}
    for prim, value in _pairs(opt("primgate_threshold"), "--primgate-threshold").items():
        thresholds[prim] = percent(value, f"--primgate-threshold {prim}")
    runs_opt = opt("primgate_runs")
    quorum_opt = opt("primgate_quorum")
    runs = 3 if runs_opt is None else int(runs_opt)
    if runs < 1:
        raise pytest.UsageError(f"--primgate-runs must be at least 1, got {runs}")
    quorum = (2 if runs >= 2 else 1) if quorum_opt is None else int(quorum_opt)
    if quorum < 1 or quorum > runs:
        raise pytest.UsageError(
            f"--primgate-quorum must be between 1 and --primgate-runs ({runs}), got {quorum}"
        )
    for name in ("primgate_timeout", "primgate_spawn_timeout"):
        _positive(opt(name), "--" + name.replace("_", "-"))
    _percent(opt("primgate_holdout_threshold"), "--primgate-holdout-threshold")
    results_dir = opt("primgate_results_dir")
    holdout = opt("primgate_holdout") or os.environ.get("HOLDOUT_SCENARIOS_DIR") or None
    markdown = opt("primgate_markdown")
    return Settings(
        enabled=enabled or holdout is not None,
        groups=_split_csv(opt("primgate_group")),
        no_deps=bool(opt("primgate_no_deps")),
        ci=bool(opt("primgate_ci")),
        spawn=int(opt("primgate_spawn") or 0),
        owner_tasks=_split_csv(opt("primgate_owner_task")),
        dry_run=bool(opt("primgate_dry_run")),
        variables=variables,
        urlmap=UrlMap.from_pairs(base_urls),
        sandbox=bool(opt("primgate_sandbox")),
        sandbox_faults=tuple(opt("primgate_sandbox_fault")),
        prim_globs=tuple(config.getini("primgate_prims")) + tuple(opt("primgate_prims")),
        plan_globs=tuple(config.getini("primgate_plans")),
        smoke_globs=tuple(config.getini("primgate_smoke")),
        runs=runs,
        quorum=quorum,
        runs_explicit=runs_opt is not None,
        thresholds=thresholds,
        allow_unreachable=bool(opt("primgate_allow_unreachable")),
        allow_empty=bool(opt("primgate_allow_empty")),
        results_dir=Path(results_dir) if results_dir else config.rootpath / "tests" / "runs",
        markdown=Path(markdown) if markdown else None,
        timeout=float(opt("primgate_timeout")),
        wallet=opt("primgate_wallet"),
        min_balance=_usdc(opt("primgate_min_balance"), "--primgate-min-balance"),
        max_payment=_usdc(opt("primgate_max_payment"), "--primgate-max-payment"),
        budget=_usdc(opt("primgate_budget"), "--primgate-budget"),
        pay_to=_split_csv(opt("primgate_pay_to")),
        network=_network(config),
        allow_mainnet=bool(opt("primgate_allow_mainnet")),
        max_timeout=_max_timeout(opt("primgate_max_timeout")),
        grow_only_base=opt("primgate_grow_only_base"),
        holdout=Path(holdout) if holdout else None,
        holdout_threshold=percent(str(opt("primgate_holdout_threshold")),
                                  "--primgate-holdout-threshold"),
        holdout_label=opt("primgate_holdout_label"),
        spawn_timeout=float(opt("primgate_spawn_timeout")),
        transient_retries=int(_number(config, "primgate_transient_retries",
                                      "primgate_transient_retries", integer=True)),
        retry_budget=_number(config, "primgate_retry_budget", "primgate_retry_budget"),
        retry_after_cap=_number(config, "primgate_retry_after_cap", "primgate_retry_after_cap"),
        max_retry_rate=_number(config, "primgate_max_retry_rate", "primgate_max_retry_rate"),
        concurrency=_at_least_one(config, "primgate_concurrency"),
        max_per_host=_at_least_one(config, "primgate_max_per_host"),
        canary=bool(opt("primgate_canary")),
        canary_endpoint=opt("primgate_canary_endpoint") or None,
        canary_model=opt("primgate_canary_model") or None,
        canary_api_key_env=str(opt("primgate_canary_api_key_env")),
        canary_timeout=float(opt("primgate_canary_timeout")),
        canary_llms_dir=Path(opt("primgate_llms_dir")) if opt("primgate_llms_dir") else None,
        max_response_bytes=byte_size(
            opt("primgate_max_response_bytes") or config.getini("primgate_max_response_bytes"),
            "--primgate-max-response-bytes",
        ),
    )


def get_settings(config: pytest.Config) -> Settings:
    """The settings of this process (built in pytest_configure)."""
    return config.stash[SETTINGS_KEY]
