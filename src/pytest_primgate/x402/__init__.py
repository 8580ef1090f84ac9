"""x402 payments: wire codec (v1/v2), EIP-3009 signer and verifier, spend policy, httpx client."""
