"""pytest hooks of pytest-primgate. Hooks only: the work happens in the modules they call.

Inert unless ``--primgate`` (or ini ``primgate = true``, or a holdout directory) is given: the
options and markers are registered, nothing is collected, nothing is patched.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Generator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

from pytest_primgate import discovery, options
from pytest_primgate.fixtures import payment as payment_fixtures
from pytest_primgate.fixtures import vps as vps_fixtures
from pytest_primgate.settings import SETTINGS_KEY, build_settings, get_settings


class _LazyModule:
    """A module imported on first attribute access, so an idle run never loads it.

    Looked up in ``sys.modules`` on every access: pytester's in-process runs drop modules
    first imported during a run, and each run must then see the module it imported itself.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):  # pytest and pluggy probe plugin attributes: no import for them
            raise AttributeError(attr)
        module: ModuleType | None = sys.modules.get(self._name)
        if module is None:
            module = importlib.import_module(self._name)
        return getattr(module, attr)


# Only option registration and the "is it enabled?" check are imported eagerly: a pytest run
# without --primgate must not pay for the rest (docs/performance.md, idle cost).
if TYPE_CHECKING:
    from pytest_primgate import items, lifecycle, selection
else:
    items = _LazyModule("pytest_primgate.items")
    lifecycle = _LazyModule("pytest_primgate.lifecycle")
    selection = _LazyModule("pytest_primgate.selection")

MISSED_MANIFEST_KEY = pytest.StashKey[Path]()
"""A manifest seen while disabled: the hint to add ``--primgate``."""

_matches = discovery.matches
"""Kept for callers of the old name (``holdout.py``)."""

MARKERS = (
    "primgate_group(name): the plan group (or 'smoke') of a primgate item",
    "primgate_prim(name, status): the prim a primgate item exercises and its prim.yaml status",
    "owner_task(name): a task that owns this smoke scenario (one marker per owner)",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    if any(arg.startswith("--primgate-") for arg in args):
        from pytest_primgate import rootdir

        rootdir.check(early_config, args, parser)
    result = yield
    options.add_short_aliases(parser)
    return result


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    config.pluginmanager.register(payment_fixtures, "primgate-fixtures-payment")
    config.pluginmanager.register(vps_fixtures, "primgate-fixtures-vps")
    config.stash[SETTINGS_KEY] = build_settings(config)
    if not get_settings(config).enabled:
        return
    lifecycle.configure(config)
    config.pluginmanager.register(RunHooks(config), "primgate-run")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "primgate-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    if SETTINGS_KEY in config.stash and get_settings(config).enabled:
        lifecycle.unconfigure(config)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    config = parent.config
    settings = get_settings(config)
    if not settings.enabled:
        if (
            file_path.suffix in (".json", ".toml") and MISSED_MANIFEST_KEY not in config.stash
            and _matches(file_path, settings.plan_globs + settings.smoke_globs, config.rootpath)
        ):
            config.stash[MISSED_MANIFEST_KEY] = file_path
        return None
    if file_path.suffix == ".json" and _matches(file_path, settings.plan_globs, config.rootpath):
        plan: pytest.Collector = items.PlanFile.from_parent(parent, path=file_path)
        return plan
    if file_path.suffix == ".toml" and _matches(file_path, settings.smoke_globs, config.rootpath):
        smoke: pytest.Collector = items.SmokeFile.from_parent(parent, path=file_path)
        return smoke
    return None


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    settings = get_settings(config)
    if settings.enabled:
        selection.select(config, settings, items)


def pytest_collection_finish(session: pytest.Session) -> None:
    if get_settings(session.config).enabled:
        lifecycle.collection_finished(session)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    settings = get_settings(session.config)
    if settings.enabled and settings.dry_run:
        lifecycle.dry_run(session)
        return True
    return None


def pytest_report_teststatus(
    report: pytest.TestReport | pytest.CollectReport, config: pytest.Config
) -> tuple[str, str, str | tuple[str, dict[str, bool]]] | None:
    if not get_settings(config).enabled or not isinstance(report, pytest.TestReport):
        return None
    return lifecycle.teststatus(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if get_settings(session.config).enabled:
        lifecycle.sessionfinish(session, exitstatus)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    missed = config.stash.get(MISSED_MANIFEST_KEY, None)
    if missed is not None and config.args_source == pytest.Config.ArgsSource.ARGS:
        terminalreporter.write_line(discovery.missed_hint(missed, config.rootpath), yellow=True)
    if get_settings(config).enabled:
        lifecycle.terminal_summary(terminalreporter, config)


class XdistHooks:
    """Hooks that exist only when pytest-xdist is installed."""

    def pytest_configure_node(self, node: object) -> None:
        lifecycle.configure_node(node)

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: object) -> object | None:
        scheduler: object | None = lifecycle.make_scheduler(config, log)
        return scheduler


class RunHooks:
    """Hooks of an enabled run that need the config: recording reports, the verdict line."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        lifecycle.logreport(self.config, report)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        lifecycle.skip_at_manifest_line(item, report)
        return report

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            lifecycle.collection_failed(self.config, report)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        try:
            yield
        finally:
            lifecycle.final_line(session)
