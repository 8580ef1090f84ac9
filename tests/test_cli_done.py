"""`primgate done`: manifest lookup, verdict lines, and the gate end to end through pytest."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_primgate.cli import main
from pytest_primgate.commands.done import (
    ScenarioOutcome,
    broken_label,
    find_manifest,
    refusal_line,
    report,
)

MANIFEST = """
[[scenario]]
name = "good"
script = "good.sh"
owners = ["task-a"]
expect_stdout = "good"

[[scenario]]
name = "broken"
script = "broken.sh"
owners = ["task-b"]
expect_stdout = "fixed"

[[scenario]]
name = "needs-key"
script = "skip.sh"
owners = ["task-b"]
expect_exit = 0
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    smoke = tmp_path / "tests" / "smoke"
    smoke.mkdir(parents=True)
    (smoke / "manifest.toml").write_text(MANIFEST)
    (smoke / "good.sh").write_text("echo good\n")
    (smoke / "broken.sh").write_text("echo regression >&2\nexit 3\n")
    (smoke / "skip.sh").write_text("echo 'SMOKE SKIPPED — NO KEY: set PRIM_KEY' >&2\nexit 77\n")
    for name in ("PRIMGATE_SMOKE_MANIFEST", "WG_SMOKE_MANIFEST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _o(name: str, outcome: str, reason: str = "", code: int | None = None) -> ScenarioOutcome:
    return ScenarioOutcome(name, outcome, reason, code)


def test_broken_labels() -> None:
    assert broken_label(_o("a", "failed", "exit 3", 3)) == "exit 3"
    assert broken_label(_o("a", "failed", "timed out after 30 s", -15)) == "timed out"
    assert broken_label(_o("a", "failed", "script not found: /x/y.sh")) == (
        "script not found: /x/y.sh")
    assert broken_label(_o("a", "failed", "expect_stdout: 'x' not found in stdout", 0)) == (
        "expect_stdout: 'x' not found in stdout")
    assert refusal_line("t", [_o("a", "failed", "exit 3", 3), _o("b", "failed", "timed out")]) == (
        "Smoke gate refused 'done t': 2 scenario(s) broken — a (exit 3), b (timed out)")


def test_report_lists_skips_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    code = report("t", [_o("a", "passed"), _o("b", "skipped", "no key"),
                        _o("c", "unreachable", "endpoint unreachable: http://x/ (refused)")])
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        "  PASS  a",
        "  SKIP  b — no key",
        "  UNREACHABLE  c — endpoint unreachable: http://x/ (refused)",
        "Smoke gate: 2 scenario(s) emitted SKIP — verify the missing endpoint/credential "
        "before claiming done.",
        "Smoke gate passed for 't': 1 passed, 2 skipped",
    ]


def test_manifest_lookup(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = project / "tests" / "smoke" / "manifest.toml"
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_manifest(None, deep) == expected
    assert find_manifest(Path("x.toml"), deep) == Path("x.toml")
    monkeypatch.setenv("WG_SMOKE_MANIFEST", "/wg.toml")
    assert find_manifest(None, deep) == Path("/wg.toml")
    monkeypatch.setenv("PRIMGATE_SMOKE_MANIFEST", "/pg.toml")
    assert find_manifest(None, deep) == Path("/pg.toml")


def test_lookup_stops_at_git_top(tmp_path: Path) -> None:
    (tmp_path / "tests" / "smoke").mkdir(parents=True)
    (tmp_path / "tests" / "smoke" / "manifest.toml").write_text("")
    inner = tmp_path / "inner"
    subprocess.run(["git", "init", "-q", str(inner)], check=True)
    assert find_manifest(None, inner) is None


def test_no_owned_scenarios(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["done", "task-z"]) == 0
    assert capsys.readouterr().out == "No smoke scenarios owned by 'task-z'\n"


def test_invalid_manifest_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "tests/smoke/manifest.toml").write_text('[[scenario]]\nname = "x"\n')
    assert main(["done", "task-a"]) == 2
    assert capsys.readouterr().err == (
        "primgate done: invalid manifest: tests/smoke/manifest.toml:1: scenario[0].script: "
        "missing required key 'script'\n".replace(
            "tests/smoke/manifest.toml", str(project / "tests/smoke/manifest.toml")))


def test_done_end_to_end(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # an owned scenario fails: refused, naming it
    assert main(["done", "task-b", "--runs", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Smoke gate: running 2 scenario(s) for 'task-b' (manifest: ")
    assert "  SKIP  needs-key — SMOKE SKIPPED — NO KEY: set PRIM_KEY" in out
    assert out[-2] == "Smoke gate refused 'done task-b': 1 scenario(s) broken — broken (exit 3)"
    # other owners' failures do not matter
    assert main(["done", "task-a", "--runs", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "Smoke gate passed for 'task-a': 1 passed, 0 skipped")
    # --full-smoke runs them all
    assert main(["done", "task-a", "--full-smoke", "--runs", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "  PASS  good" in out
    assert out[-2] == "Smoke gate refused 'done task-a': 1 scenario(s) broken — broken (exit 3)"
    # fixed, but printing the wrong thing: still refused, with the expectation named
    (project / "tests/smoke/broken.sh").write_text("echo nope\n")
    assert main(["done", "task-b", "--runs", "1"]) == 1
    assert capsys.readouterr().out.splitlines()[-2] == (
        "Smoke gate refused 'done task-b': 1 scenario(s) broken — "
        "broken (expect_stdout: 'fixed' not found in stdout)")
    # fixed: passes, the skip is still listed loudly
    (project / "tests/smoke/broken.sh").write_text("echo fixed\n")
    assert main(["done", "task-b", "--runs", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("Smoke gate: 1 scenario(s) emitted SKIP")
    assert out[-1] == "Smoke gate passed for 'task-b': 1 passed, 1 skipped"


def test_timeout_and_missing_script_labels(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "tests/smoke/manifest.toml").write_text(
        '[[scenario]]\nname = "slow"\nscript = "slow.sh"\nowners = ["t"]\ntimeout_seconds = 0.5\n'
        'expect_exit = 0\n\n'
        '[[scenario]]\nname = "gone"\nscript = "gone.sh"\nowners = ["t"]\nexpect_exit = 0\n')
    (project / "tests/smoke/slow.sh").write_text("sleep 30\n")
    assert main(["done", "t", "--runs", "1"]) == 1
    assert capsys.readouterr().out.splitlines()[-2] == (
        "Smoke gate refused 'done t': 2 scenario(s) broken — slow (timed out), "
        f"gone (script not found: {project / 'tests/smoke/gone.sh'})")
