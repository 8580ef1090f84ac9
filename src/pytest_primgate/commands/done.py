"""`primgate done TASK [--full-smoke] [--skip-smoke] [--manifest PATH]`: the smoke gate.

Runs the scenarios TASK owns (all with ``--full-smoke``) through ``pytest --primgate`` in a
subprocess, reads the results JSON the plugin writes, and refuses (exit 1) while any of them
fails, naming each broken scenario; a scenario whose script is missing is an ERROR naming its
full path. SKIPs and unreachable endpoints are listed loudly but do not block, as in
workgraph's ``wg done``. ``--skip-smoke`` bypasses the gate for humans only: an agent
(``WG_AGENT_ID`` set) is refused unless ``WG_SMOKE_AGENT_OVERRIDE=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.smoke import SmokeManifest, load_smoke

MANIFEST_ENV = ("PRIMGATE_SMOKE_MANIFEST", "WG_SMOKE_MANIFEST")
DEFAULT_MANIFEST = Path("tests") / "smoke" / "manifest.toml"
MANIFEST_CANDIDATES = (DEFAULT_MANIFEST, Path("smoke") / "manifest.toml",
                       Path("manifests") / "smoke" / "manifest.toml")
"""Where ``primgate done`` looks, in each directory from the current one up to the git top."""
PYTEST_MARGIN_SECONDS = 120.0
AGENT_ENV = "WG_AGENT_ID"
OVERRIDE_ENV = "WG_SMOKE_AGENT_OVERRIDE"
REFUSAL_HINT = ("Fix the regression or, if you understand why this is non-blocking, rerun with "
                "--skip-smoke (humans only).")
AGENT_SKIP_REFUSED = (
    "Agents cannot use --skip-smoke. The smoke gate is the regression contract; fix the broken "
    "scenario or escalate to a human. If a human is intentionally bypassing for this task, "
    f"export {OVERRIDE_ENV}=1 in this shell.")


def add_parser(sub: Any) -> None:
    """Register the subcommand."""
    parser = sub.add_parser(
        "done",
        help="smoke gate: refuse while a scenario owned by TASK fails",
        description="Run the smoke scenarios owned by TASK (all with --full-smoke) and exit 1 "
        "naming every broken one.",
    )
    parser.add_argument("task", metavar="TASK", help="task id (kebab-case) owning scenarios")
    parser.add_argument("--full-smoke", action="store_true",
                        help="run every scenario in the manifest, not only TASK's")
    parser.add_argument("--skip-smoke", action="store_true",
                        help="bypass the smoke gate (loud warning); refused for agents "
                        f"({AGENT_ENV} set) unless {OVERRIDE_ENV}=1 is also exported")
    parser.add_argument("--manifest", type=Path, default=None, metavar="PATH",
                        help="smoke manifest (default: $PRIMGATE_SMOKE_MANIFEST, "
                        "$WG_SMOKE_MANIFEST, or the first of tests/smoke/manifest.toml, "
                        "smoke/manifest.toml, manifests/smoke/manifest.toml from the current "
                        "directory up to the git top level)")
    parser.add_argument("--sandbox", action="store_true",
                        help="start the embedded sandbox for the run (pytest --primgate-sandbox)")
    parser.add_argument("--runs", type=int, default=None, metavar="N",
                        help="attempts per scenario (pytest --primgate-runs; default 3, 2 of 3 "
                        "must pass)")
    parser.add_argument("--pytest-args", action="append", default=[], metavar="ARGS",
                        help="more pytest arguments, shell-quoted (repeatable)")
    parser.set_defaults(run=run)


def _git_top(cwd: Path) -> Path | None:
    try:
        proc = subprocess.run(["git", "-C", str(cwd), "rev-parse", "--show-toplevel"],
                              capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def find_manifest(explicit: Path | None, cwd: Path) -> Path | None:
    """``explicit``, then the environment, then ``MANIFEST_CANDIDATES`` upward to git top."""
    if explicit is not None:
        return explicit
    for name in MANIFEST_ENV:
        value = os.environ.get(name)
        if value:
            return Path(value)
    top = _git_top(cwd)
    directory = cwd.resolve()
    while True:
        for relative in MANIFEST_CANDIDATES:
            candidate = directory / relative
            if candidate.is_file():
                return candidate
        if top is None or directory == top.resolve() or directory.parent == directory:
            return None
        directory = directory.parent


@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario's line in the results file, as far as the gate needs it."""

    name: str
    outcome: str
    reason: str
    exit_code: int | None


def broken_label(outcome: ScenarioOutcome) -> str:
    """How a failed scenario is named in the refusal: ``(exit 3)``, ``(timed out)``, ..."""
    reason = outcome.reason.strip().splitlines()[0] if outcome.reason.strip() else ""
    if reason.startswith("timed out"):
        return "timed out"
    if reason.startswith("script not found"):
        return reason
    if reason.startswith("exit ") or reason.startswith("killed by signal"):
        return reason
    if not reason:
        return f"exit {outcome.exit_code}" if outcome.exit_code is not None else "failed"
    return reason if len(reason) <= 100 else reason[:97] + "..."


def skip_smoke(task: str, environ: Mapping[str, str]) -> int:
    """``--skip-smoke``: 1 with wg's refusal for an agent without the override, else 0 with
    the loud warning (both on stderr)."""
    if environ.get(AGENT_ENV) is not None and environ.get(OVERRIDE_ENV) != "1":
        print(f"primgate done: {AGENT_SKIP_REFUSED}", file=sys.stderr)
        return 1
    print(f"WARNING: --skip-smoke bypassed the smoke gate for '{task}'. Any scenario regression "
          "will not be caught.", file=sys.stderr)
    return 0


def missing_scripts(manifest_path: Path, scenarios: Sequence[Any]) -> dict[str, Path]:
    """Scenario name -> the full path of its script, for scripts that do not exist."""
    base = manifest_path.resolve().parent
    out: dict[str, Path] = {}
    for scenario in scenarios:
        script = Path(scenario.script)
        script = script if script.is_absolute() else base / script
        if not script.is_file():
            out[scenario.name] = script
    return out


def refusal_line(task: str, broken: Sequence[ScenarioOutcome]) -> str:
    """The refusal, verbatim format of workgraph's gate (the hint line follows it)."""
    names = ", ".join(f"{o.name} ({broken_label(o)})" for o in broken)
    return f"Smoke gate refused 'done {task}': {len(broken)} scenario(s) broken — {names}"


def passed_line(task: str, passed: int, skipped: int) -> str:
    """The success line."""
    return f"Smoke gate passed for '{task}': {passed} passed, {skipped} skipped"


def no_owned_line(task: str) -> str:
    """Nothing to run for TASK."""
    return f"No smoke scenarios owned by '{task}'"


def read_results(results_dir: Path) -> list[ScenarioOutcome] | None:
    """Scenario outcomes from the newest results JSON in ``results_dir`` (None: no file)."""
    files = sorted(results_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None
    data = json.loads(files[-1].read_text(encoding="utf-8"))
    out: list[ScenarioOutcome] = []
    for test in data.get("tests", []):
        if test.get("kind", "scenario") != "scenario":
            continue
        code = test.get("exit_code")
        out.append(ScenarioOutcome(
            name=str(test.get("test_id") or test.get("nodeid", "?").rsplit("::", 1)[-1]),
            outcome=str(test.get("outcome", "failed")),
            reason=str(test.get("reason") or ""),
            exit_code=code if isinstance(code, int) else None,
        ))
    return out


def _pytest_command(manifest: Path, task: str, full: bool, results: Path,
                    extra: Sequence[str]) -> list[str]:
    command = [sys.executable, "-m", "pytest", "--primgate", "-p", "no:cacheprovider"]
    if not full:
        command += ["--primgate-owner-task", task]
    command += [str(manifest), f"--primgate-results-dir={results}", "-q", *extra]
    return command


def _budget(manifest: SmokeManifest, full: bool, task: str) -> float:
    scenarios = manifest.scenarios if full else manifest.owned_by(task)
    return sum(s.timeout_seconds * (s.runs or 3) for s in scenarios) + PYTEST_MARGIN_SECONDS


def run(args: argparse.Namespace) -> int:
    """0: nothing broken; 1: refused; 2: the gate could not run (bad manifest, pytest crash)."""
    task: str = args.task
    full: bool = args.full_smoke
    if args.skip_smoke:
        return skip_smoke(task, os.environ)
    extra = [part for raw in args.pytest_args for part in shlex.split(raw)]
    if args.sandbox:
        extra.append("--primgate-sandbox")
    if args.runs is not None:
        quorum = args.runs // 2 + 1
        extra += ["--primgate-runs", str(args.runs), "--primgate-quorum", str(quorum)]
    manifest_path = find_manifest(args.manifest, Path.cwd())
    if manifest_path is None:
        looked = ", ".join(p.as_posix() for p in MANIFEST_CANDIDATES)
        print(f"No smoke manifest found (looked for {looked} from "
              f"{Path.cwd()} up to the git top level); nothing to check for '{task}'")
        return 0
    try:
        manifest = load_smoke(manifest_path)
    except ManifestError as exc:
        print(f"primgate done: invalid manifest: {exc}", file=sys.stderr)
        return 2
    selected = manifest.scenarios if full else manifest.owned_by(task)
    if not selected:
        print(f"No smoke scenarios in {manifest_path}" if full else no_owned_line(task))
        return 0
    what = "all" if full else f"for '{task}'"
    print(f"Smoke gate: running {len(selected)} scenario(s) {what} (manifest: {manifest_path})",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="primgate-done-") as tmp:
        results_dir = Path(tmp)
        command = _pytest_command(manifest_path, task, full, results_dir, extra)
        try:
            proc = subprocess.run(command, capture_output=True, text=True, check=False,
                                  timeout=_budget(manifest, full, task))
        except subprocess.TimeoutExpired:
            print("primgate done: pytest did not finish in time", file=sys.stderr)
            return 2
        sys.stderr.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        outcomes = read_results(results_dir)
    if outcomes is None:
        print(f"primgate done: pytest wrote no results (exit {proc.returncode}); "
              "see its output above", file=sys.stderr)
        return 2
    missing = missing_scripts(manifest_path, selected)
    outcomes = [ScenarioOutcome(o.name, "error", f"script not found: {missing[o.name]}", None)
                if o.name in missing else o for o in outcomes]
    order = {s.name: i for i, s in enumerate(selected)}  # manifest order, whatever ran first
    return report(task, sorted(outcomes, key=lambda o: order.get(o.name, len(order))))


def report(task: str, outcomes: Sequence[ScenarioOutcome]) -> int:
    """Print the gate's verdict lines and return the exit code."""
    broken = [o for o in outcomes if o.outcome in ("failed", "error")]
    loud = [o for o in outcomes if o.outcome in ("skipped", "unreachable", "blocked")]
    passed = sum(1 for o in outcomes if o.outcome == "passed")
    for o in outcomes:
        if o.outcome == "failed":
            print(f"  FAIL  {o.name} ({broken_label(o)})")
        elif o.outcome == "error":
            print(f"  ERROR {o.name} — {o.reason}")
        elif o.outcome in ("skipped", "unreachable", "blocked"):
            print(f"  {o.outcome.upper() if o.outcome != 'skipped' else 'SKIP'}  {o.name} — "
                  f"{o.reason or 'no reason given'}")
        else:
            print(f"  PASS  {o.name}")
    if loud:
        print(f"Smoke gate: {len(loud)} scenario(s) emitted SKIP — verify the missing "
              "endpoint/credential before claiming done.")
    if broken:
        print(refusal_line(task, broken))
        print(REFUSAL_HINT)
        return 1
    print(passed_line(task, passed, len(loud)))
    return 0
