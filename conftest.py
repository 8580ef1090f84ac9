"""Shared fixtures of pytest-primgate's own test suite (plugin tests run through pytester)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("PRIMGATE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    """The repository root (manifests/, docs/, src/)."""
    return REPO


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """Real upstream files (prim.sh plan and prim.yaml files, workgraph manifest), read-only."""
    path = SHARED / "upstream"
    if not path.is_dir():
        pytest.fail(f"shared upstream files not found at {path}; set PRIMGATE_SHARED_DIR")
    return path
