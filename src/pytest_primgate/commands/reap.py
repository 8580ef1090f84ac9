"""``primgate reap``: delete spawned servers and SSH keys that finished runs left behind."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

NOTHING = "primgate reap: nothing to reap"


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser(
        "reap",
        help="delete leftover primgate- servers and SSH keys of finished runs",
        description="Reads the run records under $PRIMGATE_STATE_DIR (default "
        "~/.local/state/primgate) and deletes the servers and keys named primgate-<run_id>-… "
        "of every run whose process is gone. Pays with the run's ephemeral wallet, else with "
        "--wallet.",
    )
    parser.add_argument("--base-url", default=None, metavar="URL",
                        help="spawn.sh root to use instead of the recorded one "
                        "(e.g. http://127.0.0.1:PORT/spawn)")
    parser.add_argument("--wallet", default=None, metavar="PATH",
                        help="keystore paying for the API calls (passphrase in "
                        "PRIM_WALLET_PASSPHRASE); default: the run's ephemeral key, then "
                        "AGENT_PRIVATE_KEY")
    parser.add_argument("--older-than", type=float, default=None, metavar="SECONDS",
                        help="also reap runs started this long ago even if still running")
    parser.add_argument("--all-runs", action="store_true",
                        help="delete every primgate- server and key of the wallet at --base-url, "
                        "recorded or not")
    parser.set_defaults(run=run)


def _account(args: argparse.Namespace) -> Any:
    from eth_account import Account

    from pytest_primgate.wallet import KEY_ENV, PASSPHRASE_ENV, load_keystore

    if args.wallet:
        return load_keystore(Path(args.wallet).expanduser(), os.environ.get(PASSPHRASE_ENV))
    key = os.environ.get(KEY_ENV, "").strip()
    return Account.from_key(key) if key else None


def run(args: argparse.Namespace) -> int:
    """Reap; exit 0 when nothing failed, 2 when something could not be deleted."""
    from pytest_primgate.vps import reap
    from pytest_primgate.wallet import WalletError

    try:
        account = _account(args)
    except (WalletError, ValueError) as exc:
        print(f"primgate reap: {exc}")
        return 2
    if args.all_runs and (account is None or not args.base_url):
        print("primgate reap: --all-runs needs --base-url and a wallet (--wallet or "
              "AGENT_PRIVATE_KEY)")
        return 2
    deleted, errors = reap(base_url=args.base_url, account=account,
                           older_than=args.older_than, all_runs=args.all_runs)
    for error in errors:
        print(f"primgate reap: {error}")
    if not deleted and not errors:
        print(NOTHING)
    return 2 if errors else 0
