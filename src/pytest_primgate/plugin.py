"""pytest hooks of pytest-primgate. Hooks only: the work happens in the modules they call."""

from __future__ import annotations

import pytest

from pytest_primgate import options
from pytest_primgate.settings import SETTINGS_KEY, build_settings


@pytest.hookimpl(trylast=True)
def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SETTINGS_KEY] = build_settings(config)
