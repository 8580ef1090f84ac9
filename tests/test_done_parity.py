"""`primgate done` against workgraph's `wg done`: --skip-smoke and the agent rule, a missing
script as an ERROR with its full path, and the refusal's scenario, exit code and hint line.

Each test runs the installed ``primgate`` command in a fresh project, as a user (or an agent)
does.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from pytest_primgate.commands.done import AGENT_SKIP_REFUSED, REFUSAL_HINT

MANIFEST = """\
[[scenario]]
name = "good"
script = "good.sh"
owners = ["task-a"]
expect_stdout = "good"

[[scenario]]
name = "broken"
script = "broken.sh"
owners = ["task-a"]

[[scenario]]
name = "gone"
script = "scenarios/gone.sh"
owners = ["task-g"]
expect_exit = 0
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    smoke = pytester.path / "tests" / "smoke"
    smoke.mkdir(parents=True)
    (smoke / "manifest.toml").write_text(MANIFEST)
    (smoke / "good.sh").write_text("echo good\n")
    (smoke / "broken.sh").write_text("echo 'regression: x is 2' >&2\nexit 3\n")
    for name in ("PRIMGATE_SMOKE_MANIFEST", "WG_SMOKE_MANIFEST", "WG_AGENT_ID",
                 "WG_SMOKE_AGENT_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)
    return pytester.path


def done(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    exe = shutil.which("primgate", path=str(Path(sys.executable).parent))
    assert exe is not None
    return pytester.run(exe, "done", *args, "--runs", "1", timeout=240)


def test_refusal_names_scenario_exit_code_and_hint(
    project: Path, pytester: pytest.Pytester
) -> None:
    result = done(pytester, "task-a")
    assert result.ret == 1
    assert result.outlines[-3:] == [
        "  FAIL  broken (exit 3)",
        "Smoke gate refused 'done task-a': 1 scenario(s) broken — broken (exit 3)",
        REFUSAL_HINT,
    ]
    assert "regression: x is 2" in result.errlines


def test_missing_script_is_an_error_with_its_full_path(
    project: Path, pytester: pytest.Pytester
) -> None:
    result = done(pytester, "task-g")
    assert result.ret == 1
    full = project / "tests" / "smoke" / "scenarios" / "gone.sh"
    assert result.outlines[-3:] == [
        f"  ERROR gone — script not found: {full}",
        f"Smoke gate refused 'done task-g': 1 scenario(s) broken — gone (script not found: "
        f"{full})",
        REFUSAL_HINT,
    ]
    assert "(script not found)" not in result.stdout.str()


def test_skip_smoke_for_a_human_warns_and_runs_nothing(
    project: Path, pytester: pytest.Pytester
) -> None:
    result = done(pytester, "task-a", "--skip-smoke")
    assert result.ret == 0
    assert result.outlines == []
    assert result.errlines == ["WARNING: --skip-smoke bypassed the smoke gate for 'task-a'. "
                               "Any scenario regression will not be caught."]


def test_skip_smoke_refused_for_an_agent(
    project: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WG_AGENT_ID", "agent-7")
    result = done(pytester, "task-a", "--skip-smoke")
    assert result.ret == 1
    assert result.outlines == []
    assert result.errlines == [f"primgate done: {AGENT_SKIP_REFUSED}"]
    assert "export WG_SMOKE_AGENT_OVERRIDE=1" in AGENT_SKIP_REFUSED
    # any value counts as an agent, and only the exact override "1" lifts the rule
    monkeypatch.setenv("WG_AGENT_ID", "")
    monkeypatch.setenv("WG_SMOKE_AGENT_OVERRIDE", "yes")
    assert done(pytester, "task-a", "--skip-smoke").ret == 1


def test_skip_smoke_for_an_agent_with_the_override(
    project: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WG_AGENT_ID", "agent-7")
    monkeypatch.setenv("WG_SMOKE_AGENT_OVERRIDE", "1")
    result = done(pytester, "task-a", "--skip-smoke")
    assert result.ret == 0
    assert result.errlines[0].startswith("WARNING: --skip-smoke bypassed the smoke gate")


def test_an_agent_without_skip_smoke_is_gated_as_usual(
    project: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WG_AGENT_ID", "agent-7")
    result = done(pytester, "task-a")
    assert result.ret == 1
    assert result.outlines[-2].startswith("Smoke gate refused 'done task-a'")
