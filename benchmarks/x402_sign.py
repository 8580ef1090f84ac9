"""x402 signing speed and paid-request overhead.

1. Authorizations signed per second: our ``sign_authorization`` (full v2 payload) against the
   official ``x402`` 2.25 client (``x402ClientSync.create_payment_payload``, full payload) and
   its scheme signer (``ExactEvmScheme.create_payment_payload``), in the same run, best of
   ``--rounds``; every signature of a sample is checked by recovery. Target: ratio >= 1.0.
2. Wall time of 200 paid requests vs 200 free requests to the sandbox (subprocess, loopback),
   one keep-alive client.

    python benchmarks/x402_sign.py [--count 300] [--rounds 3] [--requests 200]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from eth_account import Account

from pytest_primgate.sandbox.process import start_sandbox
from pytest_primgate.x402.client import make_x402_client
from pytest_primgate.x402.signer import domain_for, recover_authorization, sign_authorization
from pytest_primgate.x402.spend import SpendPolicy

REQUIREMENT: dict[str, Any] = {
    "scheme": "exact", "network": "eip155:84532", "amount": "10000",
    "asset": "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
    "payTo": "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "maxTimeoutSeconds": 300,
    "extra": {"name": "USDC", "version": "2"},
}
RESOURCE = {"url": "http://127.0.0.1/x", "description": "bench", "mimeType": "application/json"}


def rate(fn: Callable[[], Any], count: int, rounds: int) -> float:
    """Best calls per second over ``rounds`` rounds of ``count`` calls."""
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(count):
            fn()
        best = max(best, count / (time.perf_counter() - start))
    return best


def check(payload: dict[str, Any], address: str) -> None:
    inner = payload["payload"]
    signer = recover_authorization(inner["authorization"], inner["signature"],
                                   domain_for(REQUIREMENT))
    if signer != address:
        raise SystemExit(f"signature recovers to {signer}, expected {address}")


def signing(count: int, rounds: int) -> None:
    from x402 import x402ClientSync
    from x402.mechanisms.evm import EthAccountSigner
    from x402.mechanisms.evm.exact.client import ExactEvmScheme
    from x402.mechanisms.evm.exact.register import register_exact_evm_client
    from x402.schemas import PaymentRequired, PaymentRequirements, ResourceInfo

    account = Account.create()
    official = x402ClientSync()
    register_exact_evm_client(official, EthAccountSigner(account))
    required = PaymentRequired(x402_version=2, accepts=[PaymentRequirements(**{
        "scheme": "exact", "network": "eip155:84532", "amount": "10000",
        "asset": REQUIREMENT["asset"], "pay_to": REQUIREMENT["payTo"],
        "max_timeout_seconds": 300, "extra": REQUIREMENT["extra"]})],
        resource=ResourceInfo(url=RESOURCE["url"]))
    scheme = ExactEvmScheme(EthAccountSigner(account))

    def ours() -> dict[str, Any]:
        return sign_authorization(account, REQUIREMENT, version=2, resource=RESOURCE)

    def theirs() -> dict[str, Any]:
        payload = official.create_payment_payload(required)
        return payload.model_dump(by_alias=True, exclude_none=True)

    def theirs_scheme() -> dict[str, Any]:
        return scheme.create_payment_payload(required.accepts[0])

    for _ in range(5):
        check(ours(), account.address)
        check(theirs(), account.address)
    our_rate = rate(ours, count, rounds)
    their_rate = rate(theirs, count, rounds)
    scheme_rate = rate(theirs_scheme, count, rounds)
    print(f"signing: ours {our_rate:8.0f}/s")
    print(f"signing: official x402ClientSync.create_payment_payload {their_rate:8.0f}/s")
    print(f"signing: official ExactEvmScheme.create_payment_payload {scheme_rate:8.0f}/s")
    print(f"signing ratio ours/official client: {our_rate / their_rate:.2f} (target >= 1.0)")
    print(f"signing ratio ours/official scheme: {our_rate / scheme_rate:.2f}")


def paid_vs_free(requests: int) -> None:
    with start_sandbox() as sandbox:
        client = make_x402_client(Account.create(), SpendPolicy(), timeout=10.0)
        with client:
            funded = client.post(f"{sandbox.url}/faucet/v1/faucet/usdc",
                                 json={"address": client.address})
            funded.raise_for_status()
            free_url, paid_url = f"{sandbox.url}/store/", f"{sandbox.url}/store/v1/buckets"
            for url in (free_url, paid_url):
                client.get(url).raise_for_status()

            def timed(url: str) -> float:
                start = time.perf_counter()
                for _ in range(requests):
                    response = client.get(url)
                    if response.status_code != 200:
                        raise SystemExit(f"{url}: {response.status_code}")
                return time.perf_counter() - start

            free = timed(free_url)
            paid = timed(paid_url)
        settled = sandbox.state()["state"]["paywall"]["settled"]
    print(f"sandbox: {requests} free requests {free:.3f} s ({free / requests * 1000:.2f} ms each)")
    print(f"sandbox: {requests} paid requests {paid:.3f} s ({paid / requests * 1000:.2f} ms each,"
          f" {settled} settled)")
    print(f"sandbox: paid/free wall time ratio {paid / free:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    signing(args.count, args.rounds)
    paid_vs_free(args.requests)


if __name__ == "__main__":
    main()
