"""pytest-primgate: smoke manifests as pytest items and a CI quality gate for x402-paid prims."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
