"""Command-line options and ini keys of the plugin, registered in one named group.

Short names from the seeds (``--group``, ``--ci``, ``--spawn``, ``--owner-task``) are only
registered when no other installed plugin already owns them; the ``--primgate-`` form always
exists. Plugins add options in the order they are registered, so the short aliases are added
late, once every installed plugin and the initial conftests have added theirs
(``pytest_load_initial_conftests``). pytest offers no public way to list registered options,
so the check reads the parser's groups defensively.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import pytest

SHORT_ALIASES = ("--group", "--ci", "--spawn", "--owner-task", "--canary")

DEFAULT_PLANS = ["smoke-test-plan.json", "*.plan.json"]
DEFAULT_SMOKE = ["**/smoke/manifest.toml", "*.smoke.toml"]
DEFAULT_PRIMS = ["packages/*/prim.yaml", "primitives.yaml", "prims/*.yaml"]

_SKIPPED_SHORT_NAMES: list[str] = []


def _taken_option_names(parser: pytest.Parser) -> set[str]:
    """Option strings already registered by pytest or other plugins."""
    names: set[str] = set()
    groups = [*getattr(parser, "_groups", []), getattr(parser, "_anonymous", None)]
    for group in groups:
        for opt in getattr(group, "options", []) or []:
            try:
                names.update(opt.names())
            except Exception:  # pragma: no cover - defensive against parser changes
                continue
    return names


def typed_short_names(args: Sequence[str]) -> list[str]:
    """Short names another plugin owns that appear in ``args`` (``--group`` or ``--group=1``)."""
    return [
        short for short in _SKIPPED_SHORT_NAMES
        if any(arg == short or arg.startswith(short + "=") for arg in args)
    ]


def short_name_note(names: Sequence[str]) -> str:
    """One line for the terminal (not a warning: ``-W error`` must not turn it into an error)."""
    ours = ", ".join("--primgate-" + name.lstrip("-") for name in names)
    return (f"primgate: {', '.join(names)} belong(s) to another installed plugin here; "
            f"primgate's form: {ours}")


_ALIASES: list[tuple[str, dict[str, Any]]] = []


def add_short_aliases(parser: pytest.Parser) -> None:
    """Add ``--group`` etc. as aliases of the ``--primgate-`` options, where still free."""
    taken = _taken_option_names(parser)
    _SKIPPED_SHORT_NAMES.clear()
    group = parser.getgroup("primgate")
    for short, kwargs in _ALIASES:
        if short in taken:
            _SKIPPED_SHORT_NAMES.append(short)
        else:
            group.addoption(short, **{**kwargs, "help": f"alias of {kwargs['help']}"})


def add_options(parser: pytest.Parser) -> None:
    """Register every primgate option (long forms) and ini key."""
    group = parser.getgroup("primgate", "primgate: smoke manifests and the CI quality gate")
    _ALIASES.clear()

    def add(short: str | None, long: str, **kwargs: Any) -> None:
        group.addoption(long, **kwargs)
        if short is not None:
            kwargs = {**kwargs, "help": long}
            kwargs.pop("default", None)
            kwargs["default"] = argparse.SUPPRESS
            _ALIASES.append((short, kwargs))

    group.addoption(
        "--primgate", action="store_true", default=None,
        help="enable pytest-primgate: collect smoke plans and manifests, apply the gate",
    )
    add("--group", "--primgate-group", action="append", default=[], dest="primgate_group",
        metavar="ID", help="select plan groups (repeatable, comma-separated)")
    group.addoption("--primgate-no-deps", action="store_true", default=False,
                    help="do not pull in the depends_on closure of selected groups")
    add("--ci", "--primgate-ci", action="store_true", default=False, dest="primgate_ci",
        help="CI mode: exit 0 when every hard gate passes, 1 on a regression, 2 on infra errors")
    add("--spawn", "--primgate-spawn", nargs="?", const=1, type=int, default=0,
        dest="primgate_spawn", metavar="N", help="run the selected items on N spawned VPSes")
    add("--owner-task", "--primgate-owner-task", action="append", default=[],
        dest="primgate_owner_task", metavar="TASK",
        help="select smoke scenarios owned by TASK (shortcut for -m owner_task(name=...))")
    group.addoption("--primgate-dry-run", action="store_true", default=False,
                    help="print what would run and run nothing")
    group.addoption("--primgate-var", action="append", default=[], metavar="K=V",
                    help="template variable for {{K}} (repeatable)")
    group.addoption("--primgate-base-url", action="append", default=[], metavar="HOST=URL",
                    help="send requests for HOST to URL (repeatable)")
    group.addoption("--primgate-sandbox", action="store_true", default=False,
                    help="start the embedded sandbox and map every prim host to it")
    group.addoption("--primgate-sandbox-fault", action="append", default=[], metavar="SPEC",
                    help="sandbox fault injection, e.g. 'path=/store/*,every=3,status=500'")
    group.addoption("--primgate-prims", action="append", default=[], metavar="GLOB",
                    help="prim.yaml files to read (added to ini primgate_prims)")
    group.addoption("--primgate-runs", type=int, default=None, metavar="N",
                    help="attempts per item, >= 1 (default 3)")
    group.addoption("--primgate-quorum", type=int, default=None, metavar="N",
                    help="passing attempts needed, 1..runs (default 2; 1 when runs is 1)")
    group.addoption("--primgate-threshold", action="append", default=[], metavar="PRIM=N",
                    help="override a prim's pass threshold in percent (repeatable)")
    group.addoption("--primgate-allow-unreachable", action="store_true", default=False,
                    help="an unreachable live endpoint does not make the run an infra error")
    group.addoption("--primgate-allow-empty", action="store_true", default=False,
                    help="a run that verified no gated item exits 0 instead of 2 under --ci")
    group.addoption("--primgate-results-dir", default=None, metavar="DIR",
                    help="where the results JSON goes (default tests/runs under rootdir)")
    group.addoption("--primgate-markdown", default=None, metavar="PATH",
                    help="write the summary table as markdown (for a PR comment)")
    group.addoption("--primgate-timeout", type=float, default=30.0, metavar="SECONDS",
                    help="total time per request: connect, headers and body, in seconds, > 0 "
                    "(default 30)")
    group.addoption("--primgate-max-response-bytes", default=None, metavar="SIZE",
                    help="cap on the decoded bytes read per response, e.g. 10MiB "
                    "(default: ini primgate_max_response_bytes, 10MiB)")
    group.addoption("--primgate-transient-retries", type=int, default=None, metavar="N",
                    help="re-sends per request after a transient fault (reset, connect timeout, "
                    "429/502/503/504) inside an attempt; 0 turns retrying off (default 3; "
                    "ini primgate_transient_retries)")
    group.addoption("--primgate-retry-budget", type=float, default=None, metavar="SECONDS",
                    help="no retry of a request starts later than this after its first send "
                    "(default 10; ini primgate_retry_budget)")
    group.addoption("--primgate-retry-after-cap", type=float, default=None, metavar="SECONDS",
                    help="longest Retry-After honoured before a retry (default 5; "
                    "ini primgate_retry_after_cap)")
    group.addoption("--primgate-max-retry-rate", type=float, default=None, metavar="PCT",
                    help="a prim whose share of requests needing a retry exceeds this is "
                    "UNSTABLE (default 20; ini primgate_max_retry_rate, prim.yaml "
                    "gates.max_retry_rate)")
    group.addoption("--primgate-concurrency", type=int, default=None, metavar="N",
                    help="plan tests whose dependencies are done run at once, at most N "
                    "requests in flight per process; 1 runs them one by one (default 16; "
                    "ini primgate_concurrency)")
    group.addoption("--primgate-max-per-host", type=int, default=None, metavar="N",
                    help="at most N requests in flight to one host per process (default 12; "
                    "ini primgate_max_per_host)")
    group.addoption("--primgate-wallet", default=None, metavar="PATH|ephemeral",
                    help="keystore file, or 'ephemeral' for a fresh key")
    group.addoption("--primgate-min-balance", default="1.00", metavar="USDC",
                    help="fund from the faucet when the balance is below this (default 1.00)")
    group.addoption("--primgate-max-payment", default="1.00", metavar="USDC",
                    help="refuse any single payment above this (default 1.00)")
    group.addoption("--primgate-budget", default="10.00", metavar="USDC",
                    help="refuse payments once the session total would exceed this (default 10.00)")
    group.addoption("--primgate-pay-to", action="append", default=[], metavar="ADDRESS",
                    help="only pay these recipients (repeatable; default: any)")
    group.addoption("--primgate-network", default=None, metavar="eip155:N",
                    help="pay only on this network (default: ini primgate_network, "
                    "$PRIM_NETWORK, the plan's network, else eip155:84532)")
    group.addoption("--primgate-allow-mainnet", action="store_true", default=False,
                    help="allow payments on a mainnet chain (refused by default)")
    group.addoption("--primgate-max-timeout", type=int, default=3600, metavar="SECONDS",
                    help="cap on an authorization's validity, whatever maxTimeoutSeconds "
                    "asks (default 3600)")
    group.addoption("--primgate-grow-only-base", default=None, metavar="REF",
                    help="fail when a smoke scenario present at git REF is gone")
    group.addoption("--primgate-holdout", default=None, metavar="DIR",
                    help="run blind holdout scenarios from DIR (or HOLDOUT_SCENARIOS_DIR)")
    group.addoption("--primgate-holdout-threshold", type=float, default=90.0, metavar="PCT",
                    help="holdout gate threshold in percent (default 90)")
    group.addoption("--primgate-holdout-label", default=None, metavar="LABEL",
                    help="label of the evidence file (default: git short commit)")
    add("--canary", "--primgate-canary", action="store_true", default=False,
        dest="primgate_canary",
        help="canary mode: an LLM agent reads each group's llms.txt and uses the service")
    group.addoption("--primgate-canary-endpoint", default=None, metavar="URL",
                    help="OpenAI-compatible chat-completions endpoint for the canary agent "
                         "(default: the infer prim's /v1/chat, paid via x402)")
    group.addoption("--primgate-canary-model", default=None, metavar="MODEL",
                    help="model name sent to the endpoint (default $CANARY_MODEL, "
                         "else openrouter/auto)")
    group.addoption("--primgate-canary-api-key-env", default="CANARY_API_KEY", metavar="VAR",
                    help="environment variable holding the endpoint's API key "
                         "(default CANARY_API_KEY; never printed)")
    group.addoption("--primgate-canary-timeout", type=float, default=300.0, metavar="SECONDS",
                    help="time limit of one group's canary (default 300)")
    group.addoption("--primgate-llms-dir", default=None, metavar="DIR",
                    help="where <prim>/llms.txt files are read first (canary)")
    group.addoption("--primgate-spawn-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="how long to wait for a spawned server to become active (default 120)")

    parser.addini("primgate", "enable pytest-primgate", type="bool", default=False)
    parser.addini("primgate_plans", "globs of plan files", type="linelist", default=DEFAULT_PLANS)
    parser.addini("primgate_smoke", "globs of smoke manifests", type="linelist",
                  default=DEFAULT_SMOKE)
    parser.addini("primgate_prims", "globs of prim.yaml files", type="linelist",
                  default=DEFAULT_PRIMS)
    parser.addini("primgate_prim_paths",
                  "a prim's files for `primgate changed`: GLOB with {id}, or PRIM=GLOB",
                  type="linelist", default=["packages/{id}/**"])
    parser.addini("primgate_base_urls", "HOST=URL lines", type="linelist", default=[])
    parser.addini("primgate_transient_retries", "re-sends per request after a transient fault",
                  default="3")
    parser.addini("primgate_retry_budget", "seconds after which no retry of a request starts",
                  default="10")
    parser.addini("primgate_retry_after_cap", "longest Retry-After honoured, in seconds",
                  default="5")
    parser.addini("primgate_max_retry_rate", "percent of requests needing a retry above which "
                  "a prim is UNSTABLE", default="20")
    parser.addini("primgate_concurrency", "plan tests in flight at once per process (1: one "
                  "by one)", default="16")
    parser.addini("primgate_max_per_host", "requests in flight to one host per process",
                  default="12")
    parser.addini("primgate_network", "network payments are pinned to (eip155:N)", default="")
    parser.addini("primgate_max_response_bytes", "cap on the decoded bytes read per response",
                  default="10MiB")
