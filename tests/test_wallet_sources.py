"""Where the wallet's key comes from: keystore (PRIM_HOME / --primgate-wallet), env, ephemeral."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from pytest_primgate.settings import Settings
from pytest_primgate.urlmap import UrlMap
from pytest_primgate.wallet import NO_WALLET, Wallet, WalletError, load_wallet

PASSPHRASE = "correct horse battery staple"
SANDBOX = UrlMap.from_pairs({"*.prim.sh": "http://127.0.0.1:9/{prim}"})


def write_keystore(directory: Path, passphrase: str = PASSPHRASE) -> tuple[Any, Path]:
    """A keystore as ``prim wallet create`` writes it (V3 scrypt plus a ``prim`` field)."""
    account = Account.create()
    data = Account.encrypt(account.key, passphrase, kdf="scrypt", iterations=2**10)
    data["prim"] = {"label": "ci", "kdfInput": "passphrase", "createdAt": "2026-01-01T00:00:00Z"}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{account.address}.json"
    path.write_text(json.dumps(data))
    return account, path


def settings(**kw: Any) -> Settings:
    return Settings(enabled=True, **kw)


def test_keystore_in_prim_home_round_trip(tmp_path: Path) -> None:
    account, _ = write_keystore(tmp_path / "keys")
    env = {"PRIM_HOME": str(tmp_path), "PRIM_WALLET_PASSPHRASE": PASSPHRASE}
    wallet = load_wallet(settings(), environ=env)
    assert wallet.address == account.address
    assert wallet.source == f"keystore:{tmp_path / 'keys' / (account.address + '.json')}"
    assert wallet.account.key == account.key


def test_default_wallet_from_config_toml(tmp_path: Path) -> None:
    write_keystore(tmp_path / "keys")
    chosen, _ = write_keystore(tmp_path / "keys")
    (tmp_path / "config.toml").write_text(
        f'default_wallet = "{chosen.address.lower()}"\nnetwork = "eip155:84532"\n'
    )
    env = {"PRIM_HOME": str(tmp_path), "PRIM_WALLET_PASSPHRASE": PASSPHRASE}
    assert load_wallet(settings(), environ=env).address == chosen.address


def test_several_keystores_without_default(tmp_path: Path) -> None:
    write_keystore(tmp_path / "keys")
    write_keystore(tmp_path / "keys")
    with pytest.raises(WalletError, match=r"2 keystores in .* and no default_wallet"):
        load_wallet(settings(), environ={"PRIM_HOME": str(tmp_path)})


def test_wallet_option_path(tmp_path: Path) -> None:
    account, path = write_keystore(tmp_path / "elsewhere")
    env = {"PRIM_HOME": str(tmp_path / "none"), "PRIM_WALLET_PASSPHRASE": PASSPHRASE,
           "AGENT_PRIVATE_KEY": bytes(Account.create().key).hex()}
    assert load_wallet(settings(wallet=str(path)), environ=env).address == account.address


def test_keystore_errors_name_the_file_not_the_secret(tmp_path: Path) -> None:
    _, path = write_keystore(tmp_path)
    with pytest.raises(WalletError) as info:
        load_wallet(settings(wallet=str(path)), environ={"PRIM_WALLET_PASSPHRASE": "wrong"})
    assert str(info.value) == (
        f"cannot decrypt keystore {path}: wrong passphrase in PRIM_WALLET_PASSPHRASE"
    )
    with pytest.raises(WalletError) as info:
        load_wallet(settings(wallet=str(path)), environ={})
    assert str(info.value) == f"keystore {path} needs its passphrase in PRIM_WALLET_PASSPHRASE"
    with pytest.raises(WalletError, match="cannot read keystore"):
        load_wallet(settings(wallet=str(tmp_path / "missing.json")), environ={})


def test_agent_private_key(tmp_path: Path) -> None:
    account = Account.create()
    key = bytes(account.key).hex()
    env = {"PRIM_HOME": str(tmp_path), "AGENT_PRIVATE_KEY": "0x" + key}
    wallet = load_wallet(settings(), environ=env)
    assert (wallet.address, wallet.source) == (account.address, "env:AGENT_PRIVATE_KEY")
    assert key not in repr(wallet)
    bad = {"PRIM_HOME": str(tmp_path), "AGENT_PRIVATE_KEY": "0xdeadbeef-secret"}
    with pytest.raises(WalletError) as info:
        load_wallet(settings(), environ=bad)
    assert str(info.value) == "AGENT_PRIVATE_KEY is not a valid private key (64 hex digits)"


def test_ephemeral_option_and_sandbox_default(tmp_path: Path) -> None:
    env = {"PRIM_HOME": str(tmp_path)}
    first = load_wallet(settings(wallet="ephemeral"), environ=env)
    second = load_wallet(settings(wallet="ephemeral"), environ=env)
    assert first.source == "ephemeral" and first.address != second.address
    assert load_wallet(settings(urlmap=SANDBOX), environ=env).source == "ephemeral"


def test_no_wallet_outside_the_sandbox(tmp_path: Path) -> None:
    with pytest.raises(WalletError) as info:
        load_wallet(settings(), environ={"PRIM_HOME": str(tmp_path)})
    assert str(info.value) == NO_WALLET
    assert "--primgate-wallet" in NO_WALLET and "AGENT_PRIVATE_KEY" in NO_WALLET


def test_template_variables_sign_the_registration_message() -> None:
    from eth_account.messages import encode_defunct

    account = Account.create()
    wallet = Wallet(account=account, address=account.address, source="ephemeral")
    variables = wallet.template_variables()
    assert variables["agent_address"] == account.address
    assert variables["iso_timestamp"].endswith("Z")
    message = f"Register {account.address} with prim.sh at {variables['iso_timestamp']}"
    signer = Account.recover_message(encode_defunct(text=message),
                                     signature=variables["eip191_sig"])
    assert signer == account.address
