"""End of a run on the controller: apply the gate, write the results and the CI artifacts."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_primgate import __version__
from pytest_primgate.gate import GateResult, PrimGate, evaluate, resolve_gate
from pytest_primgate.model import ItemRecord
from pytest_primgate.session import PrimgateSession
from pytest_primgate.settings import Settings


@dataclass(frozen=True)
class FinishOutcome:
    """What the terminal shows and which exit status the run gets."""

    summary_lines: list[str]
    verdict_line: str
    results_path: Path | None
    exit_code: int | None
    """The exit status to set (None: leave pytest's own)."""


def git_commit(cwd: Path) -> str | None:
    """The checked-out commit, when ``cwd`` is in a git repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def prim_gates(records: list[ItemRecord], settings: Settings) -> dict[str, PrimGate]:
    """One gate per prim seen in the records, with prim.yaml and command-line thresholds."""
    gates: dict[str, PrimGate] = {}
    for record in records:
        if record.prim not in gates:
            gates[record.prim] = dataclasses.replace(
                resolve_gate(
                    record.prim, record.prim_status, record.prim_threshold, settings.thresholds
                ),
                max_retry_rate=(
                    record.prim_max_retry_rate
                    if record.prim_max_retry_rate is not None else settings.max_retry_rate
                ),
            )
    return gates


def finish_run(
    config: pytest.Config, settings: Settings, state: PrimgateSession, exitstatus: int
) -> FinishOutcome:
    """Evaluate the gate over the recorded items and publish the verdict everywhere."""
    from pytest_primgate.lifecycle import terminal_width
    from pytest_primgate.report import github, results, terminal

    state.join_ledger()
    records = list(state.records)
    gates = prim_gates(records, settings)
    result: GateResult = evaluate(
        records, gates, allow_unreachable=settings.allow_unreachable,
        infra_errors=state.infra_errors, collection_errors=state.collection_errors,
    )
    network = _network(state)
    lines = terminal.summary_lines(
        result, payments=state.payments, network=network, verdict=False,
        width=terminal_width(config),
    )
    from pytest_primgate.canary import report as canary_report

    canaries = list(state.canary_results)
    if canaries and not records:
        del lines[:2]  # an empty prim table (header and zero totals) says nothing in a canary run
    lines[len(lines) - 1:len(lines) - 1] = canary_report.canary_lines(canaries)
    canary_misses = canary_report.canary_misses(canaries)
    missing = grow_only_missing(config, settings)
    base = settings.grow_only_base
    lines.extend(f"grow-only: removed since {base}: {m}::{n}" for m, n in missing)
    exit_code: int | None = None
    if state.interrupted:
        lines.append("primgate: the run was interrupted; the verdict covers finished items only")
    if settings.ci or settings.holdout is not None:
        exit_code = 2 if state.interrupted else result.exit_code
        if exit_code == 0 and (state.other_failures or missing):
            exit_code = 1
    elif missing and exitstatus == 0:
        exit_code = 1
    if settings.ci and canary_misses and exit_code == 0:
        exit_code = 1
    held = None
    if settings.holdout is not None:
        from pytest_primgate import holdout

        infra = list(state.infra_errors)
        if state.collection_errors and not infra:
            infra.append("invalid holdout manifest")
        held = holdout.finish(records, settings, config.rootpath, infra)
        exit_code = 2 if state.interrupted else held.exit_code
        lines.append(f"holdout evidence: {held.evidence}")
    final_exit = exit_code if exit_code is not None else exitstatus
    meta = results.RunMeta(
        plugin_version=__version__,
        mode=settings.mode,
        run_id=state.run.run_id,
        started_at=state.run.started_at,
        finished_at=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        interrupted=state.interrupted,
        git_commit=git_commit(config.rootpath),
        selected_groups=list(settings.groups),
        base_urls=dict(settings.urlmap.bases),
        network=network,
        wallet_address=next((p.payer for p in state.payments if p.payer), None),
        python=platform.python_version(),
        pytest=pytest.__version__,
        xdist_workers=int(getattr(config.option, "numprocesses", 0) or 0),
    )
    data = results.build_results(
        records=records, result=result, payments=state.payments, meta=meta, exit_code=final_exit
    )
    if canaries:
        data["canary"] = canary_report.canary_section(canaries)
        if held is None:
            data["verdict_line"] = canary_report.verdict_line(
                data["verdict_line"], canaries, bool(records)
            )
            if canary_misses and data["verdict"] == "PASSED":
                data["verdict"] = "FAILED"
    if held is not None:
        data["verdict"] = {0: "PASSED", 1: "FAILED"}.get(held.exit_code, "INFRA ERROR")
        data["verdict_line"] = f"primgate: {held.verdict_line}"
    path = results.write_results(settings.results_dir, settings.mode, data, datetime.now(UTC))
    markdown = github.step_summary_markdown(result, state.payments, "primgate gate")
    if settings.markdown is not None:
        settings.markdown.parent.mkdir(parents=True, exist_ok=True)
        settings.markdown.write_text(markdown, encoding="utf-8")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        github.write_step_summary(markdown)
    if os.environ.get("GITHUB_ACTIONS") == "true" or os.environ.get("GITHUB_STEP_SUMMARY"):
        lines.extend(github.annotations(result))
    verdict_line = result.verdict_line if held is None else held.verdict_line
    if canaries and held is None:
        verdict_line = data["verdict_line"]
    if state.interrupted:
        verdict_line = f"primgate: INTERRUPTED — {len(records)} item(s) finished; " + verdict_line
    return FinishOutcome(lines, verdict_line, path, exit_code)


def grow_only_missing(config: pytest.Config, settings: Settings) -> list[tuple[str, str]]:
    """Scenarios present at ``--primgate-grow-only-base`` and gone now (empty when unset)."""
    if not settings.grow_only_base:
        return []
    from pytest_primgate.grow_only import (
        GrowOnlyError,
        discover,
        missing_scenarios,
        repo_root,
    )

    try:
        repo = repo_root(config.rootpath)
        manifests = [repo / rel for rel in discover(repo, settings.grow_only_base)]
        return missing_scenarios(repo, manifests, settings.grow_only_base)
    except GrowOnlyError as exc:
        return [("(grow-only check failed)", str(exc))]


def _network(state: PrimgateSession) -> str | None:
    networks = sorted({p.network for p in state.payments})
    return ", ".join(networks) if networks else None
