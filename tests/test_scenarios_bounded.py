"""Hostile scripts: catastrophic regexes, output past the cap, checks past the deadline, and
descendants in another session holding the output after the script exited."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from pytest_primgate.manifests.smoke import parse_smoke
from pytest_primgate.model import AttemptResult
from pytest_primgate.scenarios import run_scenario
from tests.test_scenarios_runner import _live

MARGIN = 1.5
"""Seconds allowed beyond a scenario's timeout (a loaded 2-core machine)."""


def _run(tmp_path: Path, body: str, toml: str) -> tuple[AttemptResult, float]:
    (tmp_path / "s.sh").write_text(body, encoding="utf-8")
    manifest = parse_smoke(f'[[scenario]]\nname = "s"\nscript = "s.sh"\n{toml}\n', "m.toml")
    started = time.monotonic()
    result = run_scenario(manifest.scenarios[0], manifest_dir=tmp_path)
    return result, time.monotonic() - started


def test_catastrophic_regex_ends_at_the_scenario_deadline(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    result, elapsed = _run(
        tmp_path, f"# {marker}\nprintf 'a%.0s' $(seq 1 60); echo '!'\n",
        "timeout_seconds = 3\nexpect_stdout_regex = '^(a|aa)+$'",
    )
    assert result.outcome == "failed"
    assert result.reason == "timed out after 3 s (while checking the expected output)"
    assert elapsed < 3 + MARGIN
    assert _live(marker) == []


def test_regex_that_matches_quickly_still_passes(tmp_path: Path) -> None:
    result, _ = _run(
        tmp_path, "echo aaaa\n", "timeout_seconds = 5\nexpect_stdout_regex = '^(a|aa)+$'"
    )
    assert result.outcome == "passed", result.reason


def test_output_past_the_cap_is_reported_as_cut(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    result, _ = _run(
        tmp_path,
        f"# {marker}\nhead -c 3000000 /dev/zero | tr '\\0' x; echo; echo END-MARKER\n",
        "timeout_seconds = 20\nexpect_stdout = 'END-MARKER'",
    )
    assert result.outcome == "failed"
    assert result.reason == (
        "expect_stdout: 'END-MARKER' not found in stdout "
        "(stdout cut at 1 MiB; expectation not found in what was kept)"
    )
    assert _live(marker) == []


def test_output_under_the_cap_is_not_called_cut(tmp_path: Path) -> None:
    result, _ = _run(tmp_path, "echo hello\n", "expect_stdout = 'END-MARKER'")
    assert result.reason == "expect_stdout: 'END-MARKER' not found in stdout"


def test_setsid_grandchild_holding_stdout_is_killed_and_noted(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    result, elapsed = _run(
        tmp_path,
        f"setsid bash -c 'exec -a {marker}-1 sleep 300' &\n"
        f"setsid bash -c 'exec -a {marker}-2 sleep 300' &\n"
        "sleep 0.5\necho done\nexit 0\n",
        "timeout_seconds = 8\nexpect_stdout = 'done'",
    )
    assert result.outcome == "passed", result.reason
    assert result.exit_code == 0
    assert result.reason.startswith("killed 2 leftover processes holding the script's output")
    assert "(sleep)" in result.reason
    assert elapsed < 3
    time.sleep(0.2)
    assert _live(marker) == []


def test_setsid_grandchild_after_a_failing_exit_keeps_the_exit_status(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    result, elapsed = _run(
        tmp_path,
        f"setsid bash -c 'exec -a {marker} sleep 300' &\nsleep 0.5\necho broken >&2\nexit 3\n",
        "timeout_seconds = 8",
    )
    assert (result.outcome, result.reason, result.exit_code) == ("failed", "exit 3", 3)
    assert "killed 1 leftover process holding the script's output" in result.detail
    assert elapsed < 3
    time.sleep(0.2)
    assert _live(marker) == []
