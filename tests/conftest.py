"""Test-suite setup that must happen before any test runs."""

from __future__ import annotations

from importlib.util import find_spec

import pytest

FIXED_ORDER = "--randomly-dont-reorganize"
"""Keeps pytest-randomly loaded (xdist and --spawn workers expect its seed) but not shuffling."""


@pytest.fixture(autouse=True)
def _fixed_order_in_pytester(request: pytest.FixtureRequest) -> None:
    """pytest-randomly is in the test extras: the pytest runs of pytester tests keep a fixed
    order too (pytester clears PYTEST_ADDOPTS when it starts, so it is set after that). Tests of
    the randomly integration delete the variable."""
    if "pytester" in request.fixturenames and find_spec("pytest_randomly") is not None:
        request.getfixturevalue("pytester")
        request.getfixturevalue("monkeypatch").setenv("PYTEST_ADDOPTS", FIXED_ORDER)
    if "pytester" in request.fixturenames:
        # pytest prints untruncated summaries when CI is set: inner runs must look the same
        # on a CI machine as in a terminal, since tests read their output.
        for name in ("CI", "BUILD_NUMBER"):
            request.getfixturevalue("monkeypatch").delenv(name, raising=False)


def _preload_native_modules() -> None:
    """Import C-extension-backed modules before any pytester snapshot can drop them.

    pytester restores ``sys.modules`` after each test; re-importing pycryptodome's cffi
    bindings or cryptography's Rust bindings in the same process then fails. httpx imports
    httpcore lazily, in its first transport: first imported inside an in-process pytester
    run, httpcore would be imported a second time later, and httpx's error mapping (built
    once, from the first copy) would let the second copy's ``httpcore.ReadError`` through
    unmapped, failing whichever test met a reset next.
    """
    import fabric  # noqa: F401
    import httpcore  # noqa: F401
    from eth_account import Account

    Account.encrypt(b"\x01" * 32, "preload", kdf="pbkdf2", iterations=1)
    Account.decrypt(Account.encrypt(b"\x01" * 32, "p", kdf="scrypt"), "p")


_preload_native_modules()
