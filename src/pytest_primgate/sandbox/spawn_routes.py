"""Sandbox routes (placeholder until implemented)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_primgate.sandbox.types import Route

if TYPE_CHECKING:
    from pytest_primgate.sandbox.app import SandboxApp


def routes(app: SandboxApp) -> list[Route]:
    """No routes yet."""
    return []
