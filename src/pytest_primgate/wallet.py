"""The paying wallet: where its key comes from, EIP-191 registration, faucet funding.

Key sources, first match wins: ``--primgate-wallet PATH|ephemeral``, the default keystore under
``PRIM_HOME`` (``~/.prim``), ``AGENT_PRIVATE_KEY``, and an ephemeral key when wallet.prim.sh
maps to loopback (the sandbox). Keys and passphrases never appear in messages or reprs.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct

from pytest_primgate.bounded import DEFAULT_MAX_BYTES, ResponseLimitError, request_bounded
from pytest_primgate.transport.retry import ANSWERS_EXTENSION, REPLAY_SAFE_EXTENSION
from pytest_primgate.urlmap import UrlMap

if TYPE_CHECKING:
    from pytest_primgate.settings import Settings

WALLETS_URL = "https://wallet.prim.sh/v1/wallets"
FAUCET_USDC_URL = "https://faucet.prim.sh/v1/faucet/usdc"
FAUCET_STATUS_URL = "https://faucet.prim.sh/v1/faucet/status"
PASSPHRASE_ENV = "PRIM_WALLET_PASSPHRASE"
KEY_ENV = "AGENT_PRIVATE_KEY"
HOME_ENV = "PRIM_HOME"
LOOPBACK = ("127.0.0.1", "::1", "localhost")

NO_WALLET = (
    "no wallet configured: pass --primgate-wallet PATH (a `prim wallet create` keystore, "
    f"passphrase in {PASSPHRASE_ENV}), keep a default wallet in ~/.prim/keys (or $PRIM_HOME), "
    f"set {KEY_ENV}, or pass --primgate-wallet ephemeral"
)


class WalletError(Exception):
    """The wallet could not be loaded, registered or funded (one line, no secrets)."""


def registration_message(address: str, timestamp: str) -> str:
    """The exact EIP-191 message prim.sh signs: ``Register <address> with prim.sh at <ts>``."""
    return f"Register {address} with prim.sh at {timestamp}"


def iso_now() -> str:
    """UTC now as JavaScript's ``toISOString()`` writes it (milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Wallet:
    """The paying account, its checksummed address and where the key came from."""

    account: Any = field(repr=False)
    address: str
    source: str
    """``keystore:<path>``, ``env:AGENT_PRIVATE_KEY`` or ``ephemeral``."""

    def sign_registration(self, timestamp: str | None = None) -> tuple[str, str]:
        """``(iso_timestamp, eip191_sig)`` for wallet.sh registration, signed now by default."""
        stamp = timestamp or iso_now()
        signed = self.account.sign_message(
            encode_defunct(text=registration_message(self.address, stamp))
        )
        return stamp, "0x" + bytes(signed.signature).hex()

    def template_variables(self) -> dict[str, str]:
        """``agent_address``, and a fresh ``eip191_sig`` with the ``iso_timestamp`` it signs."""
        stamp, signature = self.sign_registration()
        return {"agent_address": self.address, "eip191_sig": signature, "iso_timestamp": stamp}


def _from_account(account: Any, source: str) -> Wallet:
    return Wallet(account=account, address=str(account.address), source=source)


def prim_home(environ: Mapping[str, str]) -> Path:
    """``$PRIM_HOME`` or ``~/.prim``."""
    home = environ.get(HOME_ENV)
    return Path(home).expanduser() if home else Path.home() / ".prim"


def load_keystore(path: Path, passphrase: str | None) -> Any:
    """Decrypt a V3 keystore (as ``prim wallet create`` writes it) into an eth-account account."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise WalletError(f"cannot read keystore {path}: {exc.strerror}") from None
    except ValueError:
        raise WalletError(f"keystore {path} is not JSON") from None
    if not isinstance(data, dict) or ("crypto" not in data and "Crypto" not in data):
        raise WalletError(f"keystore {path} is not a V3 keystore")
    if passphrase is None:
        raise WalletError(f"keystore {path} needs its passphrase in {PASSPHRASE_ENV}")
    try:
        key = Account.decrypt(data, passphrase)
    except ValueError:
        raise WalletError(
            f"cannot decrypt keystore {path}: wrong passphrase in {PASSPHRASE_ENV}"
        ) from None
    except Exception as exc:
        raise WalletError(f"cannot decrypt keystore {path}: {type(exc).__name__}") from None
    return Account.from_key(key)


def default_keystore(home: Path) -> Path | None:
    """The default wallet's keystore: ``config.toml`` ``default_wallet``, else the only key."""
    keys = home / "keys"
    config = home / "config.toml"
    if config.is_file():
        try:
            default = tomllib.loads(config.read_text()).get("default_wallet")
        except (OSError, tomllib.TOMLDecodeError):
            raise WalletError(f"cannot read {config}") from None
        if isinstance(default, str) and default:
            for candidate in sorted(keys.glob("*.json")):
                if candidate.stem.lower() == default.lower():
                    return candidate
            raise WalletError(f"default_wallet {default} of {config} has no keystore in {keys}")
    found = sorted(keys.glob("*.json")) if keys.is_dir() else []
    if len(found) > 1:
        raise WalletError(
            f"{len(found)} keystores in {keys} and no default_wallet in {config}; "
            "pass --primgate-wallet PATH"
        )
    return found[0] if found else None


def is_sandbox(urlmap: UrlMap) -> bool:
    """True when wallet.prim.sh is mapped to a loopback address."""
    host = urlsplit(urlmap.rewrite(WALLETS_URL)).hostname or ""
    return host in LOOPBACK


def load_wallet(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    new_account: Callable[[], Any] = Account.create,
) -> Wallet:
    """The wallet of this run, from the first configured source (see the module docstring)."""
    env = os.environ if environ is None else environ
    if settings.wallet == "ephemeral":
        return _from_account(new_account(), "ephemeral")
    if settings.wallet:
        path = Path(settings.wallet).expanduser()
        return _from_account(load_keystore(path, env.get(PASSPHRASE_ENV)), f"keystore:{path}")
    default = default_keystore(prim_home(env))
    if default is not None:
        return _from_account(load_keystore(default, env.get(PASSPHRASE_ENV)),
                             f"keystore:{default}")
    key = env.get(KEY_ENV, "").strip()
    if key:
        try:
            account = Account.from_key(key)
        except Exception:
            raise WalletError(f"{KEY_ENV} is not a valid private key (64 hex digits)") from None
        return _from_account(account, f"env:{KEY_ENV}")
    if is_sandbox(settings.urlmap):
        return _from_account(new_account(), "ephemeral")
    raise WalletError(NO_WALLET)


def _why(exc: httpx.HTTPError) -> str:
    """A transport failure in a few words (the limit's own message for a bounded read)."""
    return str(exc) if isinstance(exc, ResponseLimitError) else type(exc).__name__


REGISTER_RETRY = {REPLAY_SAFE_EXTENSION: True, ANSWERS_EXTENSION: frozenset({409})}
"""A repeated registration is answered 409 (already registered): harmless to re-send."""
FAUCET_RETRY = {REPLAY_SAFE_EXTENSION: True, ANSWERS_EXTENSION: frozenset({429})}
"""A repeated drip is answered 429 (recently funded), an answer to keep, not a blip to retry."""


def _head(response: httpx.Response) -> str:
    return response.text[:200].replace("\n", " ")


def register(
    client: httpx.Client, wallet: Wallet, urlmap: UrlMap, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> int:
    """``POST /v1/wallets`` with a fresh EIP-191 signature; returns the status (201/409 fine)."""
    url = urlmap.rewrite(WALLETS_URL)
    stamp, signature = wallet.sign_registration()
    try:
        response = request_bounded(
            client, "POST", url, max_bytes=max_bytes,
            json={"address": wallet.address, "signature": signature, "timestamp": stamp},
            extensions=REGISTER_RETRY,
        )
    except httpx.HTTPError as exc:
        raise WalletError(f"wallet registration at {url} failed: {_why(exc)}") from None
    return response.status_code


def _balance(
    client: httpx.Client, wallet: Wallet, urlmap: UrlMap, max_bytes: int
) -> Decimal | None:
    """The USDC balance when the faucet's status route reports one (the sandbox does)."""
    url = urlmap.rewrite(FAUCET_STATUS_URL)
    try:
        response = request_bounded(
            client, "GET", url, max_bytes=max_bytes, params={"address": wallet.address}
        )
        usdc = response.json().get("usdc") if response.status_code == 200 else None
        return Decimal(str(usdc["balance"])) if isinstance(usdc, dict) else None
    except (httpx.HTTPError, ValueError, KeyError, AttributeError, InvalidOperation):
        return None


def fund(
    client: httpx.Client, wallet: Wallet, urlmap: UrlMap, min_balance: Decimal,
    *, max_bytes: int = DEFAULT_MAX_BYTES,
) -> str:
    """Ask the faucet for USDC unless the known balance suffices; says what happened."""
    balance = _balance(client, wallet, urlmap, max_bytes)
    if balance is not None and balance >= min_balance:
        return f"balance {balance} USDC, at least --primgate-min-balance {min_balance}: not funded"
    url = urlmap.rewrite(FAUCET_USDC_URL)
    try:
        response = request_bounded(
            client, "POST", url, max_bytes=max_bytes, json={"address": wallet.address},
            extensions=FAUCET_RETRY,
        )
    except httpx.HTTPError as exc:
        raise WalletError(f"faucet at {url} failed: {_why(exc)}") from None
    if response.status_code == 200:
        try:
            body = response.json()
        except ValueError:
            body = {}
        amount = body.get("amount", "?") if isinstance(body, dict) else "?"
        return f"funded {amount} USDC from the faucet"
    if response.status_code == 429:
        wait = response.headers.get("retry-after", "?")
        return f"recently funded (faucet rate limit, retry after {wait} s)"
    raise WalletError(
        f"wallet could not be funded: faucet at {url} answered {response.status_code}: "
        f"{_head(response)}"
    )
