"""Test-suite setup that must happen before any test runs."""

from __future__ import annotations


def _preload_native_modules() -> None:
    """Import C-extension-backed modules before any pytester snapshot can drop them.

    pytester restores ``sys.modules`` after each test; re-importing pycryptodome's cffi
    bindings or cryptography's Rust bindings in the same process then fails.
    """
    import fabric  # noqa: F401
    from eth_account import Account

    Account.encrypt(b"\x01" * 32, "preload", kdf="pbkdf2", iterations=1)
    Account.decrypt(Account.encrypt(b"\x01" * 32, "p", kdf="scrypt"), "p")


_preload_native_modules()
