"""Holdout mode: blind scenarios whose text nobody sees, a 2-of-3 majority each, a 90 % gate.

The people whose code is under test must not be able to tune it to the gate, so nothing of a
holdout scenario's text reaches any output: items are named by an opaque id (a short hash of
file and name), reasons are generic one-liners, and every report of a holdout item is scrubbed
before pytest, junit-xml, the cache or a plugin sees it. What remains is the opaque id,
pass/fail, the attempts and the one-line reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pytest_primgate import records as rp
from pytest_primgate.gate import holdout_verdict
from pytest_primgate.items import (
    PlanItem,
    PrimgateItem,
    ScenarioItem,
    _mark,
    _run_primgate_item,
)
from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.model import ItemRecord
from pytest_primgate.session import get_session
from pytest_primgate.settings import Settings

HOLDOUT_RUNS = (3, 2)
NAMED_MARKERS = frozenset({"primgate_group", "primgate_prim", "owner_task"})
SAFE_PROPS = frozenset({
    rp.KIND, rp.TEST_ID, rp.GROUP, rp.PRIM, rp.PRIM_STATUS, rp.STATUS_CLASS,
    rp.THRESHOLD, rp.OUTCOME, rp.REASON, rp.ATTEMPTS, rp.PASSES, rp.ATTEMPT_OUTCOMES,
    rp.BLOCKED_BY, rp.STATUS_CODE, rp.EXIT_CODE, rp.HOLDOUT, rp.PAYMENTS,
})
QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "paramiko", "fabric", "invoke")
UNREADABLE = "holdout directory missing or unreadable"


def opaque_id(relative_path: str, name: str) -> str:
    """``H-`` and 10 hex digits of a hash of file and name: stable, reveals nothing."""
    digest = hashlib.sha256(f"{relative_path}::{name}".encode()).hexdigest()
    return f"H-{digest[:10]}"


def _readable(directory: Path) -> bool:
    return directory.is_dir() and os.access(directory, os.R_OK | os.X_OK)


def configure(config: pytest.Config, settings: Settings) -> None:
    """Point collection at the holdout directory (only there, unless paths were given)."""
    directory = settings.holdout
    assert directory is not None
    explicit = config.args_source == pytest.Config.ArgsSource.ARGS
    kept = list(config.args) if explicit else []
    if _readable(directory):
        kept.append(str(directory.resolve()))
    else:
        get_session(config).infra_errors.append(UNREADABLE)
    config.args[:] = kept


# ---------------------------------------------------------------------------------------------
# Collection


def _disguise(item: PrimgateItem, opaque: str) -> None:
    """Make an item reveal nothing: opaque name and label, no named markers, safe properties."""
    item.redact = True
    item.label = opaque
    item.manifest_line = 0
    item.runs_override = HOLDOUT_RUNS
    item.own_markers[:] = [m for m in item.own_markers if m.name not in NAMED_MARKERS]
    item.add_marker(_mark("primgate_group", name="holdout"))
    rp.set_props(item.user_properties, {
        rp.TEST_ID: opaque, rp.GROUP: "holdout", rp.PRIM: "holdout",
        rp.PRIM_STATUS: "holdout", rp.STATUS_CLASS: "live", rp.THRESHOLD: "", rp.HOLDOUT: True,
    })


class _HoldoutFile(pytest.File):
    """A manifest in the holdout directory; its errors say where, never what."""

    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> str:
        if isinstance(excinfo.value, ManifestError):
            line = f" line {excinfo.value.line}" if excinfo.value.line else ""
            return f"primgate holdout: invalid manifest {self.nodeid}{line}"
        return f"primgate holdout: cannot collect {self.nodeid} ({type(excinfo.value).__name__})"

    @property
    def relative(self) -> str:
        root = self.parent.path if self.parent is not None else self.path.parent
        return self.path.relative_to(root).as_posix()


class HoldoutPlanFile(_HoldoutFile):
    """A plan file of the holdout directory."""

    def collect(self) -> Iterator[pytest.Item]:
        from pytest_primgate.manifests.plan import load_plan

        plan = load_plan(self.path)
        prims = get_session(self.config).prims_for(self.path.parent)
        for group in plan.groups:
            for test_id in group.test_ids:
                opaque = opaque_id(self.relative, test_id)
                item = PlanItem.from_parent(self, name=opaque, callobj=_run_primgate_item)
                item.setup_plan(plan, plan.tests[test_id], prims)
                _disguise(item, opaque)
                yield item


class HoldoutSmokeFile(_HoldoutFile):
    """A smoke manifest of the holdout directory."""

    def collect(self) -> Iterator[pytest.Item]:
        from pytest_primgate.manifests.smoke import load_smoke

        manifest = load_smoke(self.path)
        prims = get_session(self.config).prims_for(self.path.parent)
        for scenario in manifest.scenarios:
            opaque = opaque_id(self.relative, scenario.name)
            item = ScenarioItem.from_parent(self, name=opaque, callobj=_run_primgate_item)
            item.setup_scenario(manifest, scenario, prims)
            _disguise(item, opaque)
            yield item


class HoldoutDir(pytest.Directory):
    """The holdout directory: every plan and smoke manifest below it, in sorted order."""

    def collect(self) -> list[pytest.Collector]:
        from pytest_primgate.plugin import _matches
        from pytest_primgate.settings import get_settings

        settings = get_settings(self.config)
        nodes: list[pytest.Collector] = []
        for path in sorted(p for p in self.path.rglob("*") if p.is_file()):
            kind: type[_HoldoutFile] | None = None
            if path.suffix == ".json" and _matches(path, settings.plan_globs, self.path):
                kind = HoldoutPlanFile
            elif path.suffix == ".toml" and _matches(path, settings.smoke_globs, self.path):
                kind = HoldoutSmokeFile
            if kind is not None:
                node_id = f"holdout/m{len(nodes) + 1:02d}"
                nodes.append(kind.from_parent(self, path=path, nodeid=node_id))
        return nodes


# ---------------------------------------------------------------------------------------------
# Redaction of reports


def _one_line(item: pytest.Item, report: pytest.TestReport) -> str:
    reason = rp.as_dict(item.user_properties).get(rp.REASON)
    if reason:
        return str(reason)
    if report.when != "call":
        return f"{report.when} error"
    return "failed" if report.failed else "skipped"


class HoldoutHooks:
    """Hooks active in holdout mode: collection of the directory, scrubbing of every report."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()

    @pytest.hookimpl(tryfirst=True)
    def pytest_collect_directory(self, path: Path, parent: pytest.Collector) -> Any:
        if path.resolve() == self.directory:
            return HoldoutDir.from_parent(parent, path=path, nodeid="holdout")
        return None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if not getattr(item, "redact", False):
            return (yield)
        loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
        before = [lg.disabled for lg in loggers]
        for lg in loggers:
            lg.disabled = True
        try:
            return (yield)
        finally:
            for lg, was in zip(loggers, before, strict=True):
                lg.disabled = was

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if not getattr(item, "redact", False):
            return report
        report.sections = []
        report.user_properties = [(k, v) for k, v in item.user_properties if k in SAFE_PROPS]
        if report.failed:
            report.longrepr = _one_line(item, report)
        elif report.skipped:
            report.longrepr = (item.nodeid, 0, _one_line(item, report))
        return report


# ---------------------------------------------------------------------------------------------
# The gate and the evidence file


@dataclass(frozen=True)
class HoldoutOutcome:
    """The holdout verdict and where the evidence went."""

    passed: int
    total: int
    exit_code: int
    verdict_line: str
    evidence: Path


def default_label(rootdir: Path) -> str:
    """The git short commit of ``rootdir``, or ``nogit``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=rootdir, capture_output=True,
            text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "nogit"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "nogit"


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, path)


def finish(
    records: Sequence[ItemRecord], settings: Settings, rootdir: Path, infra: Sequence[str],
    now: datetime | None = None,
) -> HoldoutOutcome:
    """Apply the holdout gate and write ``evidence/holdout/<date>-<label>.json``.

    Exit 2 when the run could not look (directory unreadable, invalid manifest, an unreachable
    target), else 0 when at least the threshold of scenarios passed, else 1.
    """
    mine = [r for r in records if r.holdout]
    passed = sum(1 for r in mine if r.outcome == "passed")
    ok, line = holdout_verdict(passed, len(mine), settings.holdout_threshold)
    problems = list(infra)
    if any(r.outcome == "unreachable" for r in mine):
        problems.append("holdout target unreachable")
    exit_code = 2 if problems else (0 if ok else 1)
    if problems:
        line = f"{line} — INFRA ERROR: {problems[0]}"
    stamp = now or datetime.now(UTC)
    label = settings.holdout_label or default_label(rootdir)
    safe_label = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    path = rootdir / "evidence" / "holdout" / f"{stamp:%Y-%m-%d}-{safe_label}.json"
    _write_atomic(path, {
        "schema_version": 1,
        "date": stamp.strftime("%Y-%m-%d"),
        "label": label,
        "threshold": settings.holdout_threshold,
        "scenarios": [
            {"id": r.test_id, "result": r.outcome, "attempts": list(r.attempt_outcomes),
             "reason": r.reason}
            for r in sorted(mine, key=lambda r: r.test_id)
        ],
        "passed": passed,
        "total": len(mine),
        "verdict": "PASSED" if exit_code == 0 else "INFRA ERROR" if problems else "FAILED",
        "verdict_line": line,
        "exit_code": exit_code,
    })
    return HoldoutOutcome(passed, len(mine), exit_code, line, path)


def evidence_schema() -> dict[str, Any]:
    """The JSON Schema of the evidence file (shipped in the package)."""
    from importlib import resources

    text = resources.files("pytest_primgate.report").joinpath("evidence.schema.json")
    data: dict[str, Any] = json.loads(text.read_text(encoding="utf-8"))
    return data
