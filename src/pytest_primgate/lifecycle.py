"""What the plugin's hooks do, stage by stage: configure, collect, record, gate, report.

Split from ``plugin.py`` so that the hooks stay one-liners and this glue can be read in order.
Aggregation happens only where reports converge: the xdist controller, or the single process.
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate import records as rp
from pytest_primgate.dry_run import dry_run_rows
from pytest_primgate.report.terminal import dry_run_lines
from pytest_primgate.session import SESSION_KEY, PrimgateSession, RunInfo, get_session
from pytest_primgate.settings import SETTINGS_KEY, get_settings

FREEZE_MIN_ITEMS = 500
SANDBOX_KEY = pytest.StashKey[Any]()
SPAWN_KEY = pytest.StashKey[Any]()
RESULT_KEY = pytest.StashKey[Any]()
RESULTS_PATH_KEY = pytest.StashKey[Any]()
SIGNALS_KEY = pytest.StashKey[Any]()


def is_worker(config: pytest.Config) -> bool:
    """True inside an xdist worker process."""
    return hasattr(config, "workerinput")


def sandbox_hosts(url: str) -> dict[str, str]:
    """URL map entries that send every prim host to the sandbox (``*.prim.sh`` wildcard)."""
    return {"*.prim.sh": url.rstrip("/") + "/{prim}"}


def configure(config: pytest.Config) -> None:
    """Create this process's session; on the controller start the sandbox and spawned workers."""
    # pytest collects garbage in its unconfigure hook and in a cleanup its unraisable plugin
    # registers at configure, after ours: this cleanup runs after both (last in, first out).
    config.add_cleanup(functools.partial(_unfreeze, config))
    settings = get_settings(config)
    if settings.dry_run and hasattr(config.option, "dist"):
        config.option.dist = "no"
        config.option.numprocesses = 0
    sandbox_url: str | None = None
    if is_worker(config):
        workerinput: dict[str, Any] = config.workerinput  # type: ignore[attr-defined]
        run = RunInfo.from_workerinput(workerinput["primgate_run"])
        sandbox_url = workerinput.get("primgate_sandbox_url")
    else:
        run = RunInfo.new()
        note = short_name_note_for(config)
        if note:
            config.stash[SHORT_NAME_NOTE_KEY] = note
        from pytest_primgate.selection import check_rerun_options

        check_rerun_options(config)
        if not settings.dry_run and not config.option.collectonly:
            from pytest_primgate.signals import SignalGuard

            guard = config.stash[SIGNALS_KEY] = SignalGuard()
            guard.install()
        if settings.sandbox and not settings.dry_run and not config.option.collectonly:
            sandbox_url = start_session_sandbox(config, settings.sandbox_faults)
    if sandbox_url:
        settings = dataclasses.replace(
            settings, urlmap=settings.urlmap.merged(sandbox_hosts(sandbox_url))
        )
        config.stash[SETTINGS_KEY] = settings
    config.stash[SESSION_KEY] = PrimgateSession(config=config, run=run, sandbox_url=sandbox_url)
    if settings.holdout is not None:
        from pytest_primgate import holdout

        holdout.configure(config, settings)
        config.pluginmanager.register(holdout.HoldoutHooks(settings.holdout), "primgate-holdout")
    if settings.spawn and not is_worker(config) and not settings.dry_run:
        from pytest_primgate import spawn_run
        from pytest_primgate.vps import SpawnError

        try:
            config.stash[SPAWN_KEY] = spawn_run.provision(config, settings)
        except SpawnError as exc:
            unconfigure(config)
            pytest.exit(f"primgate: could not spawn servers for --spawn: {exc}", returncode=2)


def start_session_sandbox(config: pytest.Config, faults: tuple[str, ...]) -> str:
    """Start the sandbox subprocess for this run; a bad fault spec is a usage error."""
    from pytest_primgate.sandbox.faults import FaultSpecError, parse_faults
    from pytest_primgate.sandbox.process import SandboxStartError, start_sandbox

    try:
        parse_faults(faults)
    except FaultSpecError as exc:
        raise pytest.UsageError(f"--primgate-sandbox-fault: {exc}") from None
    manager = start_sandbox(faults=faults)
    try:
        handle = manager.__enter__()
    except SandboxStartError as exc:
        pytest.exit(f"primgate: the sandbox could not start: {exc}", returncode=2)
    config.stash[SANDBOX_KEY] = manager
    return handle.url


SHORT_NAME_NOTE_KEY = pytest.StashKey[str]()


def short_name_note_for(config: pytest.Config) -> str | None:
    """The clash note, only when the user typed a short name another plugin owns."""
    import shlex

    from pytest_primgate.options import short_name_note, typed_short_names

    args = [*config.invocation_params.args, *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
            *config.getini("addopts")]
    typed = typed_short_names([str(a) for a in args])
    return short_name_note(typed) if typed else None


FROZE_KEY = pytest.StashKey[bool]()


def collection_finished(session: pytest.Session) -> None:
    """Move everything collected out of the cyclic GC's way for the rest of the run.

    Manifest items live until the end of the session; with 10,000 of them every full
    collection (pytest itself forces several at exit) walks them all for nothing. Frozen
    objects are still freed normally once unreferenced; ``unconfigure`` unfreezes.
    """
    note = session.config.stash.get(SHORT_NAME_NOTE_KEY, None)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if note and reporter is not None:
        reporter.write_line(note, yellow=True)
    config = session.config
    if not is_worker(config) and not config.pluginmanager.has_plugin("dsession"):
        from pytest_primgate.completeness import remember_items

        remember_items(config, session.items)
    if len(session.items) >= FREEZE_MIN_ITEMS and not config.stash.get(FROZE_KEY, False):
        gc.freeze()
        config.stash[FROZE_KEY] = True


def _unfreeze(config: pytest.Config) -> None:
    """Give the frozen items back to the cyclic GC (in-process runs, e.g. pytester, go on)."""
    from pytest_primgate.manifests.plan import thaw

    if config.stash.get(FROZE_KEY, False):
        config.stash[FROZE_KEY] = False
        gc.unfreeze()
    thaw()


def unconfigure(config: pytest.Config) -> None:
    """Close clients, tear down spawned servers, stop the sandbox: each always attempted."""
    guard = config.stash.get(SIGNALS_KEY, None)
    if guard is not None:
        guard.begin_finish()
    try:
        if SESSION_KEY in config.stash:
            get_session(config).close()
    finally:
        try:
            spawn = config.stash.get(SPAWN_KEY, None)
            if spawn is not None:
                del config.stash[SPAWN_KEY]
                spawn.teardown()
        finally:
            manager = config.stash.get(SANDBOX_KEY, None)
            if manager is not None:
                del config.stash[SANDBOX_KEY]
                manager.__exit__(None, None, None)
            if guard is not None:
                del config.stash[SIGNALS_KEY]
                guard.restore()


def configure_node(node: Any) -> None:
    """Hand the run identity and sandbox URL to an xdist worker."""
    config: pytest.Config = node.config
    session = get_session(config)
    node.workerinput["primgate_run"] = session.run.to_workerinput()
    from pytest_primgate.plan_batch import RUN_AHEAD_KEY, worker_may_run_ahead

    node.workerinput[RUN_AHEAD_KEY] = worker_may_run_ahead(config)
    if session.sandbox_url:
        node.workerinput["primgate_sandbox_url"] = session.sandbox_url


def node_collection_finished(node: Any, ids: list[str]) -> None:
    """The xdist controller learns the selected set from the workers' collection."""
    from pytest_primgate.completeness import remember_ids

    if get_settings(node.config).enabled:
        remember_ids(node.config, ids)


def keyboard_interrupt(config: pytest.Config, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Ctrl-C (or a signal turned into one) reached pytest: the run is interrupted. pytest
    also routes collection errors and ``pytest.exit`` here; those are not interruptions."""
    interrupt = type(excinfo.value) is KeyboardInterrupt
    if interrupt and SESSION_KEY in config.stash and not is_worker(config):
        get_session(config).interrupted = True


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Keep dependency chains on one worker when the user left ``--dist load``; for the other
    scope-based modes, xdist's scheduler with crash-safe requeueing (never hangs on a crash)."""
    dist = config.getoption("dist", "no")
    if not get_settings(config).enabled:
        return None
    from pytest_primgate.xdist_scheduling import CRASH_SAFE, DependencyScheduling

    if dist == "load":
        return DependencyScheduling(config, log, plans=named_plans(config))
    if dist in CRASH_SAFE:
        return CRASH_SAFE[dist](config, log)
    return None


def named_plans(config: pytest.Config) -> list[str]:
    """Plan files the command line names, or that sit directly in a directory it names,
    spelled ``rootdir / path`` as the scheduler reads them (deeper plans are read on demand)."""
    from pytest_primgate.discovery import matches

    globs = get_settings(config).plan_globs
    root = config.rootpath
    found: list[str] = []
    for arg in config.args:
        path = Path(arg.split("::", 1)[0])
        path = path if path.is_absolute() else config.invocation_params.dir / path
        try:
            candidates = sorted(path.iterdir()) if path.is_dir() else [path]
            for candidate in candidates:
                if candidate.suffix == ".json" and candidate.is_file() and matches(
                    candidate, globs, root
                ):
                    spelled = Path(os.path.normpath(candidate.absolute())).relative_to(root)
                    found.append(str(root / spelled))
        except (OSError, ValueError):  # unreadable, or outside the rootdir: read on demand
            continue
    return found


def collection_failed(config: pytest.Config, report: pytest.CollectReport) -> None:
    """Count a collection error (an invalid manifest is an infrastructure error)."""
    if SESSION_KEY in config.stash and not is_worker(config):
        session = get_session(config)
        session.collection_errors += 1
        text = str(report.longrepr).strip().splitlines()
        session.infra_errors.append(
            f"collection error in {report.nodeid or '.'}: {text[-1] if text else 'unknown'}"
        )


def _longrepr_line(report: pytest.TestReport) -> str:
    text = str(report.longrepr) if report.longrepr else ""
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        text = str(report.longrepr[2])
    first = text.strip().splitlines()[-1] if text.strip() else ""
    return first[:300]


def _is_final(report: pytest.TestReport) -> bool:
    """The report that carries an item's result: its call, or a setup that did not pass."""
    return report.when == "call" or (report.when == "setup" and not report.passed)


def logreport(config: pytest.Config, report: pytest.TestReport) -> None:
    """Turn the reports of primgate items into records (controller or single process)."""
    if is_worker(config) or SESSION_KEY not in config.stash:
        return
    session = get_session(config)
    if str(report.outcome) == "rerun":
        return  # pytest-rerunfailures: only an item's last report is its result
    props = rp.as_dict(report.user_properties)
    if report.when == CRASH_WHEN:
        crashed(config, report)
        return
    if props.get(rp.KIND) == "canary":
        from pytest_primgate.canary.report import canary_from_report

        canary_from_report(session, report, props)
        if _is_final(report) and props.get(rp.INFRA_ERROR):
            session.infra_errors.append(f"{report.nodeid}: {props[rp.INFRA_ERROR]}")
        return
    if rp.KIND not in props:
        if report.failed and report.when in ("setup", "call"):
            session.other_failures += 1
            if props.get(rp.INFRA_ERROR):
                session.infra_errors.append(f"{report.nodeid}: {props[rp.INFRA_ERROR]}")
        return
    if not _is_final(report):
        return
    record = rp.record_from_report(
        report.nodeid, report.when, report.outcome, props, _longrepr_line(report),
        report.duration, str(getattr(report, "worker_id", "") or ""),
    )
    if record is None:
        return
    session.records.append(record)
    session.payments.extend(rp.payments_from_prop(props.get(rp.PAYMENTS)))
    infra = props.get(rp.INFRA_ERROR)
    if infra:
        session.infra_errors.append(f"{record.nodeid}: {infra}")
    elif report.when == "setup" and report.failed:
        session.infra_errors.append(f"{record.nodeid}: setup error: {record.reason}")


def skip_at_manifest_line(item: pytest.Item, report: pytest.TestReport) -> None:
    """A skipped primgate item points at its manifest line (``-rs``, junit ``<skipped>``),
    not at the line of our code that raised the skip."""
    from pytest_primgate.items import PrimgateItem

    if not (report.skipped and isinstance(report.longrepr, tuple)
            and isinstance(item, PrimgateItem)) or get_settings(item.config).holdout:
        return
    path, line, _ = item.reportinfo()
    report.longrepr = (os.fspath(path), (line or 0) + 1, report.longrepr[2])


CRASH_WHEN = "???"


def crashed(config: pytest.Config, report: pytest.TestReport) -> None:
    """An xdist worker died running this item: a failure of the item, and an infra error."""
    from pytest_primgate.completeness import is_manifest_nodeid, placeholder

    session = get_session(config)
    gateway = getattr(getattr(report, "node", None), "gateway", None)
    worker = str(getattr(gateway, "id", "") or "")
    if not is_manifest_nodeid(report.nodeid):
        session.other_failures += 1
        return
    reason = f"worker crashed running this item: {_longrepr_line(report)}".rstrip(": ")
    session.records.append(placeholder(config, report.nodeid, "failed", reason, worker))
    session.infra_errors.append(f"worker crashed running {report.nodeid}")


TestStatus = tuple[str, str, str | tuple[str, dict[str, bool]]]


def teststatus(report: pytest.TestReport) -> TestStatus | None:
    """Terminal categories BLOCKED and UNREACHABLE for primgate skips."""
    if report.when != "call" or not report.skipped:
        return None
    outcome = rp.as_dict(report.user_properties).get(rp.OUTCOME)
    if outcome == "blocked":
        return "blocked", "b", ("BLOCKED", {"yellow": True})
    if outcome == "unreachable":
        return "unreachable", "U", ("UNREACHABLE", {"red": True})
    if outcome == "warn":
        return "warn", "W", ("WARN", {"yellow": True})
    return None


def dry_run(session: pytest.Session) -> None:
    """Print what would run, run nothing."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = dry_run_lines(dry_run_rows(session.config, session.items),
                          width=terminal_width(session.config))
    lines.extend(
        f"canary only (runs with --canary): {plan}::{group}"
        for plan, group in get_session(session.config).canary_only_groups
    )
    if reporter is not None:
        reporter.write_sep("=", "primgate dry run: nothing is sent")
        for line in lines:
            reporter.write_line(line)
    else:  # pragma: no cover - terminal reporter disabled
        for line in lines:
            print(line)


def sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Decide the gate, write the results file and CI artifacts, set the exit status."""
    config = session.config
    from pytest_primgate.plan_batch import stop_batch

    stop_batch(config)  # nothing computed ahead outlives the run (interrupt, -x)
    if is_worker(config) or SESSION_KEY not in config.stash:
        return
    settings = get_settings(config)
    if config.option.collectonly or settings.dry_run:
        return
    from pytest_primgate import finish

    if exitstatus == pytest.ExitCode.USAGE_ERROR:
        return  # the usage error is the whole story: no verdict, no results file
    state = get_session(config)
    guard = config.stash.get(SIGNALS_KEY, None)
    if guard is not None:
        guard.begin_finish()
    state.interrupted = (
        state.interrupted or (guard is not None and guard.interrupted)
        or (exitstatus == pytest.ExitCode.INTERRUPTED and not state.collection_errors)
    )
    outcome = finish.finish_run(config, settings, state, int(exitstatus))
    config.stash[RESULT_KEY] = outcome
    if outcome.exit_code is not None:
        session.exitstatus = outcome.exit_code


def terminal_summary(reporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The primgate section: table, loud skips, spend line."""
    outcome = config.stash.get(RESULT_KEY, None)
    if outcome is None:
        return
    reporter.write_sep("=", "primgate gate")
    for line in outcome.summary_lines:
        reporter.write_line(line)
    blocked = [r for r in get_session(config).records if r.outcome == "blocked"]
    if blocked:
        reporter.write_line(f"BLOCKED ({len(blocked)}): not run because a dependency did not pass")
        for record in blocked:
            reporter.write_line(f"  {record.nodeid}: {record.reason}")
    records = get_session(config).records
    not_run = [r for r in records if r.outcome == "not_run"]
    if not_run:
        reporter.write_line(f"NOT RUN ({len(not_run)}): selected, but no result")
        for record in not_run:
            reporter.write_line(f"  {record.nodeid}: {record.reason}")
    pulled = [r.nodeid for r in records if r.pulled_in]
    if pulled:
        reporter.write_line(f"pulled in as dependency ({len(pulled)}): {', '.join(pulled)}")
    if outcome.results_path is not None:
        path = outcome.results_path
        here = config.invocation_params.dir
        shown = path.relative_to(here) if path.is_absolute() and path.is_relative_to(here) else path
        reporter.write_line(f"results: {shown}")


def final_line(session: pytest.Session) -> None:
    """The verdict, after everything else pytest prints."""
    config = session.config
    outcome = config.stash.get(RESULT_KEY, None)
    if outcome is None:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(outcome.verdict_line, bold=True)  # never cut: it names the failures
    else:  # pragma: no cover
        print(outcome.verdict_line, file=sys.stderr)


def terminal_width(config: pytest.Config) -> int | None:
    """Columns of the terminal pytest writes to (``COLUMNS``, else 80 when not a tty)."""
    if config.pluginmanager.get_plugin("terminalreporter") is None:
        return None
    return int(config.get_terminal_writer().fullwidth)


def now_utc() -> datetime:
    """The current UTC time (one place to read the clock)."""
    return datetime.now(UTC)


def github_env() -> str | None:
    """Path of the GitHub step summary, when running in GitHub Actions."""
    return os.environ.get("GITHUB_STEP_SUMMARY") or None
