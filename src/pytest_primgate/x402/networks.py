"""Networks x402 payments may use: ids (v1 name and CAIP-2), chain id, USDC and its domain."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pytest_primgate.x402.errors import X402Error
from pytest_primgate.x402.text import quoted


@dataclass(frozen=True)
class Network:
    """One EVM network with its USDC contract and EIP-712 domain defaults."""

    caip2: str
    v1_name: str
    chain_id: int
    usdc: str
    usdc_name: str
    usdc_version: str = "2"
    decimals: int = 6


NETWORKS: tuple[Network, ...] = (
    Network("eip155:84532", "base-sepolia", 84532,
            "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC"),
    Network("eip155:8453", "base", 8453,
            "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin"),
)

_BY_ID: dict[str, Network] = {
    key: net for net in NETWORKS for key in (net.caip2, net.v1_name)
}


def find_network(network: str) -> Network | None:
    """The network named ``network`` (CAIP-2 ``eip155:84532`` or v1 ``base-sepolia``)."""
    return _BY_ID.get(network)


def chain_id_of(network: str) -> int:
    """Chain id of a CAIP-2 id (any ``eip155:N``) or a known v1 name; X402Error otherwise."""
    known = find_network(network)
    if known is not None:
        return known.chain_id
    prefix, _, rest = network.partition(":")
    if prefix == "eip155" and rest.isdigit():
        return int(rest)
    raise X402Error(f"unknown network {quoted(network, 40)}")


def caip2_of(network: str) -> str:
    """The CAIP-2 id of a network given by either name."""
    known = find_network(network)
    return known.caip2 if known is not None else network


def v1_name_of(network: str) -> str:
    """The v1 name of a network given by either name."""
    known = find_network(network)
    return known.v1_name if known is not None else network


DEFAULT_NETWORK = "eip155:84532"
"""Where a run pays when neither an option nor the plan names a network (Base Sepolia)."""

MAINNET_CHAINS = frozenset({1, 10, 56, 100, 137, 324, 8453, 42161, 42220, 43114, 59144, 534352})
"""EVM chains with real money: paying there needs ``--primgate-allow-mainnet``."""

_EIP155 = re.compile(r"eip155:([0-9]+)")


def pinned_network(text: str) -> str | None:
    """``eip155:N`` named in ``text`` (``"Base Sepolia (eip155:84532)"``, a v1 name), or None."""
    known = find_network(text.strip())
    if known is not None:
        return known.caip2
    found = _EIP155.search(text)
    return f"eip155:{int(found.group(1))}" if found else None


def is_mainnet(network: str) -> bool:
    """Whether ``network`` (either name) is a chain where payments are real money."""
    try:
        return chain_id_of(network) in MAINNET_CHAINS
    except X402Error:
        return False
