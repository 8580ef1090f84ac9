"""Shared fixtures of pytest-primgate's own test suite (plugin tests run through pytester)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.plans import UPSTREAM_MISSING, require_upstream

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent
_UPSTREAM_SKIPPED: list[str] = []
"""Node ids skipped because the upstream files are absent (reported at the end)."""


@pytest.fixture(scope="session")
def repo_dir() -> Path:
    """The repository root (manifests/, docs/, src/)."""
    return REPO


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    """Real upstream files (prim.sh plan and prim.yaml files, workgraph manifest), read-only.

    Skips loudly when they are absent (a fresh clone); ``.ci/run`` turns that into a failure.
    """
    return require_upstream()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tests marked ``upstream`` need the real upstream files (see ``upstream_dir``)."""
    if item.get_closest_marker("upstream") is not None:
        require_upstream()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and UPSTREAM_MISSING in str(longrepr[2]):
        _UPSTREAM_SKIPPED.append(report.nodeid)



def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly, once, that the upstream-format tests did not run."""
    if _UPSTREAM_SKIPPED:
        terminalreporter.write_sep("!", f"{len(_UPSTREAM_SKIPPED)} upstream tests SKIPPED",
                                   yellow=True)
        terminalreporter.write_line(UPSTREAM_MISSING)


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
