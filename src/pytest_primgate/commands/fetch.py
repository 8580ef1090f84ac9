"""`primgate fetch URL`: one HTTP request through the x402-paying client; prints the body.

For smoke scripts (``curl`` for paid routes): it loads a wallet (``--wallet``, default
ephemeral), registers it and funds it from the faucet (through the sandbox when
``--sandbox``/``$PRIMGATE_SANDBOX_URL`` is set), then sends the request, paying a 402 once.
Exit 0 on 2xx, 1 on any other status (body still printed), 2 when the request or the payment
could not be made. Never prints keys or payment headers. Inside a primgate run
(``$PRIMGATE_LEDGER``, set for smoke scripts) it pays under the run's spend policy, counts
against the run's budget and logs its payment where the run's spend line finds it. It
registers and funds the wallet only where a prim.sh wallet is in reach (sandbox, a mapped
wallet host, or a prim.sh URL).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pytest_primgate.urlmap import UrlMap

if TYPE_CHECKING:
    from pytest_primgate.transport.policy import RetryPolicy
    from pytest_primgate.transport.retry import RetryLog

SANDBOX_PRIMS = ("wallet", "faucet", "store", "search", "infer", "spawn", "email")


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser(
        "fetch", help="one request with the x402-paying client; prints the response body",
        description="Send one request, paying a 402 challenge once, and print the body. "
        "Exit 0 on 2xx, 1 on another status, 2 when it could not be sent or paid.",
    )
    parser.add_argument("url", metavar="URL")
    parser.add_argument("--method", default=None,
                        help="HTTP method (default GET, or POST with --json)")
    parser.add_argument("--json", dest="json_body", default=None, metavar="BODY",
                        help="JSON request body")
    parser.add_argument("--wallet", default="ephemeral", metavar="PATH|ephemeral",
                        help="keystore file, or 'ephemeral' (default)")
    parser.add_argument("--sandbox", default=os.environ.get("PRIMGATE_SANDBOX_URL"),
                        metavar="URL", help="sandbox base URL: maps every prim host to it "
                        "(default $PRIMGATE_SANDBOX_URL)")
    parser.add_argument("--base-url", action="append", default=[], metavar="HOST=URL",
                        help="send requests for HOST to URL (repeatable)")
    parser.add_argument("--max-payment", default=None, metavar="USDC",
                        help="refuse a payment above this (default: the run's, else 1.00)")
    parser.add_argument("--min-balance", default="1.00", metavar="USDC")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                        help="total time per request: connect, headers and body (default 30)")
    parser.add_argument("--max-response-bytes", type=int, default=None, metavar="BYTES",
                        help="cap on the decoded bytes read per response (default 10 MiB)")
    parser.add_argument("--no-setup", action="store_true",
                        help="skip wallet registration and faucet funding")
    parser.add_argument("--transient-retries", type=int, default=None, metavar="N",
                        help="re-sends per request after a transient fault; 0 turns retrying "
                        "off (default $PRIMGATE_TRANSIENT_RETRIES, else 3)")
    parser.add_argument("--replay-safe", action="store_true",
                        help="the request may be re-sent after a reset even when it reached the "
                        "server (e.g. a paid POST: the unpaid request is answered 402 unprocessed "
                        "and the signed one settles its nonce once)")
    parser.add_argument("--retry-budget", type=float, default=None, metavar="SECONDS",
                        help="no retry starts later than this after a request's first send "
                        "(default $PRIMGATE_RETRY_BUDGET, else 10)")
    parser.set_defaults(run=run)


def build_urlmap(sandbox: str | None, pairs: list[str]) -> UrlMap:
    """Prim hosts -> sandbox prefixes, then explicit HOST=URL pairs (explicit wins)."""
    bases: dict[str, str] = {}
    if sandbox:
        base = sandbox.rstrip("/")
        bases.update({f"{prim}.prim.sh": f"{base}/{prim}" for prim in SANDBOX_PRIMS})
    for raw in pairs:
        host, sep, url = raw.partition("=")
        if not sep or not host.strip():
            raise ValueError(f"--base-url expects HOST=URL, got {raw!r}")
        bases[host.strip()] = url.strip()
    return UrlMap.from_pairs(bases)


def targets_prim(urlmap: UrlMap, url: str) -> bool:
    """Whether a prim.sh wallet is in reach: the wallet host is mapped, or ``url`` is prim.sh."""
    wallet = "https://wallet.prim.sh/v1/wallets"
    host = (url.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]).split(":", 1)[0]
    return urlmap.rewrite(wallet) != wallet or host == "prim.sh" or host.endswith(".prim.sh")


def _fail(message: str) -> int:
    print(f"primgate fetch: {message}", file=sys.stderr)
    return 2


def _policy(args: argparse.Namespace) -> RetryPolicy:
    """The run's policy from the environment (set for scenario scripts), options win."""
    from pytest_primgate.transport.retry import policy_from_env

    policy = policy_from_env(os.environ)
    if args.transient_retries is not None:
        policy = dataclasses.replace(policy, retries=int(args.transient_retries))
    if args.retry_budget is not None:
        policy = dataclasses.replace(policy, budget=float(args.retry_budget))
    return policy


def _report_retries(log: RetryLog) -> None:
    """Retries go to stderr and, inside a scenario item, to its retry log file."""
    from pytest_primgate.transport.retry import LOG_FILE_ENV, RetrySummary, append_log_file

    summary = RetrySummary.of(log)
    for event in summary.events:
        print(f"primgate fetch: retried {event}", file=sys.stderr)
    path = os.environ.get(LOG_FILE_ENV)
    if path:
        try:
            append_log_file(path, summary)
        except OSError as exc:
            print(f"primgate fetch: cannot write {LOG_FILE_ENV}: {exc}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Send the request; see the module docstring for exit codes."""
    import httpx

    from pytest_primgate.bounded import DEFAULT_MAX_BYTES, ResponseLimitError, send_bounded
    from pytest_primgate.settings import Settings
    from pytest_primgate.transport.retry import (
        REPLAY_SAFE_EXTENSION,
        RetryLog,
        retrying_transport,
    )
    from pytest_primgate.wallet import WalletError, fund, load_wallet, register
    from pytest_primgate.x402.client import make_x402_client
    from pytest_primgate.x402.codec import parse_challenge
    from pytest_primgate.x402.errors import X402Error
    from pytest_primgate.x402.ledger import Ledger
    from pytest_primgate.x402.networks import DEFAULT_NETWORK, pinned_network
    from pytest_primgate.x402.spend import SpendPolicy

    try:
        urlmap = build_urlmap(args.sandbox, args.base_url)
        body = json.loads(args.json_body) if args.json_body is not None else None
        cli_max = Decimal(args.max_payment) if args.max_payment is not None else None
        min_balance = Decimal(args.min_balance)
        max_bytes = DEFAULT_MAX_BYTES if args.max_response_bytes is None else (
            int(args.max_response_bytes))
        if not max_bytes > 0 or not 0 < args.timeout < float("inf"):
            raise ValueError("--timeout and --max-response-bytes must be positive and finite")
        if not ((cli_max is None or cli_max.is_finite()) and min_balance.is_finite()):
            raise ValueError("amounts must be finite")
        policy_retry = _policy(args)
    except (ValueError, ArithmeticError) as exc:
        return _fail(f"invalid argument: {exc}")
    method = (args.method or ("POST" if body is not None else "GET")).upper()
    ledger = Ledger.from_env()
    joined = ledger.policy() if ledger is not None else None
    if joined is not None:
        policy = dataclasses.replace(
            joined, max_payment=min(joined.max_payment, cli_max or joined.max_payment)
        )
    else:
        cap = cli_max if cli_max is not None else Decimal("1.00")
        network = pinned_network(os.environ.get("PRIM_NETWORK", "")) or DEFAULT_NETWORK
        policy = SpendPolicy(max_payment=cap, budget=cap, pay_to=(), network=network)
    settings = Settings(enabled=True, wallet=args.wallet, urlmap=urlmap,
                        max_payment=policy.max_payment, min_balance=min_balance,
                        budget=policy.budget, timeout=args.timeout)
    try:
        wallet = load_wallet(settings)
    except Exception as exc:  # the wallet module's errors are one-line and secret-free
        return _fail(f"no wallet: {exc}")
    target = urlmap.rewrite(args.url)
    log = RetryLog()
    transport = retrying_transport(policy_retry, log=log)
    try:
        with make_x402_client(wallet.account, policy, timeout=args.timeout,
                              ledger=ledger, transport=transport) as client:
            if not args.no_setup and targets_prim(urlmap, args.url):
                register(client, wallet, urlmap, max_bytes=max_bytes)
                fund(client, wallet, urlmap, min_balance, max_bytes=max_bytes)

            def send(request: httpx.Request) -> httpx.Response:
                return send_bounded(client, request, max_bytes=max_bytes, deadline=args.timeout)

            extensions = {REPLAY_SAFE_EXTENSION: True} if args.replay_safe else None
            request = client.build_request(method, target, json=body, extensions=extensions)
            response = send(request)
            if response.status_code == 402:
                response = client.pay(request, parse_challenge(response), test_id="", send=send)
                if response.status_code == 402:
                    raise X402Error(f"402 again after paying for {method} {target}")
    except ResponseLimitError as exc:
        return _fail(f"{method} {target} failed: {exc}")
    except X402Error as exc:
        return _fail(f"payment failed: {exc}")
    except WalletError as exc:
        return _fail(str(exc))
    except httpx.HTTPError as exc:
        return _fail(f"{method} {target} failed: {type(exc).__name__}: {exc}")
    finally:
        _report_retries(log)
    sys.stdout.write(response.text)
    if response.text and not response.text.endswith("\n"):
        sys.stdout.write("\n")
    if not response.is_success:
        print(f"primgate fetch: {method} {target} -> HTTP {response.status_code}",
              file=sys.stderr)
        return 1
    return 0
