"""End of a run on the controller: apply the gate, write the results and the CI artifacts."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    from pytest_primgate.canary import report as canary_report
    from pytest_primgate.completeness import final_records
    from pytest_primgate.lifecycle import terminal_width
    from pytest_primgate.report import github, results, terminal

    state.join_ledger()
    why = "not run: the run was interrupted" if state.interrupted else "no result (not run)"
    canaries = list(state.canary_results)
    records = final_records(config, state.records, why,
                            reported_elsewhere=(str(c.get("nodeid")) for c in canaries))
    state.records[:] = records
    canary_misses = canary_report.canary_misses(canaries)
    gates = prim_gates(records, settings)
    missing = grow_only_missing(config, settings)
    result: GateResult = evaluate(
        records, gates, allow_unreachable=settings.allow_unreachable,
        infra_errors=state.infra_errors, collection_errors=state.collection_errors,
        interrupted=state.interrupted, allow_empty=settings.allow_empty or bool(canaries),
        other_failures=state.other_failures,
        grow_only_removed=[f"{m}::{n}" for m, n in missing],
    )
    network = _network(state)
    lines = terminal.summary_lines(
        result, payments=state.payments, network=network, verdict=False,
        width=terminal_width(config),
    )
    if canaries and not records:
        del lines[:2]  # an empty prim table (header and zero totals) says nothing in a canary run
    lines[len(lines) - 1:len(lines) - 1] = canary_report.canary_lines(canaries)
    base = settings.grow_only_base
    lines.extend(f"grow-only: removed since {base}: {m}::{n}" for m, n in missing)
    exit_code: int | None = None
    if state.interrupted:
        lines.append("primgate: the run was interrupted; the verdict covers finished items only")
    if settings.ci or settings.holdout is not None or state.interrupted:
        exit_code = result.exit_code
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
    verdict_line = result.verdict_line
    if canaries:
        data["canary"] = canary_report.canary_section(canaries)
        if held is None:
            verdict_line = data["verdict_line"] = canary_report.verdict_line(
                str(data["verdict_line"]), canaries, bool(records)
            )
            if canary_misses and data["verdict"] == "PASSED":
                data["verdict"] = "FAILED"
    if held is not None:
        verdict_line = held.verdict_line
        data["verdict"] = {0: "PASSED", 1: "FAILED"}.get(held.exit_code, "INFRA ERROR")
        data["verdict_line"] = f"primgate: {held.verdict_line}"
        if state.interrupted:
            data["verdict"] = "INTERRUPTED"
            verdict_line = data["verdict_line"] = f"primgate: INTERRUPTED — {held.verdict_line}"
    path, write_error = write_results_or_fallback(settings, data)
    if write_error is not None:
        lines.append(write_error)
        exit_code = 2
        verdict_line = str(data["verdict_line"])
    markdown = github.step_summary_markdown(result, state.payments, "primgate gate")
    if settings.markdown is not None:
        settings.markdown.parent.mkdir(parents=True, exist_ok=True)
        settings.markdown.write_text(markdown, encoding="utf-8")
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        github.write_step_summary(markdown)
    if os.environ.get("GITHUB_ACTIONS") == "true" or os.environ.get("GITHUB_STEP_SUMMARY"):
        lines.extend(github.annotations(result))
    return FinishOutcome(lines, verdict_line, path, exit_code)


FALLBACK_DIR = "primgate-results"
"""Directory under the system temp dir that takes the results when the chosen one fails."""


def write_results_or_fallback(
    settings: Settings, data: dict[str, Any]
) -> tuple[Path | None, str | None]:
    """Write the results file. When its directory is unusable (read-only, full, not a
    directory) the run becomes an infrastructure error (exit 2, stated in ``data``) and the file
    goes to a fallback directory under the system temp dir; returns the one-line error."""
    import tempfile

    from pytest_primgate.report import results

    try:
        return results.write_results(settings.results_dir, settings.mode, data,
                                     datetime.now(UTC)), None
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    fallback = Path(tempfile.gettempdir()) / FALLBACK_DIR
    cause = f"cannot write results to {settings.results_dir} ({problem})"
    if data["verdict"] != "INTERRUPTED":
        data["verdict"] = "INFRA ERROR"
    previous = str(data["verdict_line"]).removeprefix("primgate: ")
    data["verdict_line"] = f"primgate: {data['verdict']} — {cause}; gate: {previous}"
    data["exit_code"] = 2
    data["infra_errors"] = [*data["infra_errors"], cause]
    try:
        path = results.write_results(fallback, settings.mode, data, datetime.now(UTC))
    except OSError as exc:
        return None, (f"primgate: cannot write results to {settings.results_dir} ({problem}) "
                      f"nor to {fallback} ({exc.strerror or type(exc).__name__})")
    return path, (f"primgate: cannot write results to {settings.results_dir} ({problem}); "
                  f"written to {path} instead")


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
