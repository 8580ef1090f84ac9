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



@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """``pytest --primgate`` with no paths runs the example manifests, not this test suite.

    testpaths names ``tests`` and ``manifests``: plain ``pytest`` runs the suite (the plugin is
    inert there, and ``manifests/`` holds no Python tests), and the design card's
    ``pytest --primgate --primgate-sandbox --group infer`` runs the example plan out of the box.
    """
    primgate = config.getoption("primgate", None) or config.getini("primgate")
    if primgate and config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        config.args[:] = [a for a in config.args if Path(a).name != "tests"]
