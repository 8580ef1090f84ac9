"""Holdout mode: opaque ids, 2-of-3 per scenario, the 90 % gate, and no leak of any text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest

from pytest_primgate.holdout import evidence_schema, opaque_id
from pytest_primgate.report.results import validate_results
from tests.plans import plan, t, write

CANARY = "ZEBRACANARY"


def blind_dir(pytester: pytest.Pytester) -> Path:
    """A holdout directory whose scenarios embed the canary everywhere and fail every way."""
    blind = pytester.path / "blind"
    smoke = blind / "smoke"
    smoke.mkdir(parents=True)
    write(blind, plan({f"grp-{CANARY}": [
        t(f"{CANARY}-OK", f"https://store.prim.sh/?q={CANARY}-url",
          body={"service": "store.sh"}),
        t(f"{CANARY}-STATUS", f"https://store.prim.sh/{CANARY}-path"),
        t(f"{CANARY}-SHAPE", "https://store.prim.sh/", body={"status": f"{CANARY}-expected"}),
        t(f"{CANARY}-DOWN", f"http://127.0.0.1:9/{CANARY}"),
        t(f"{CANARY}-PAID", "https://infer.prim.sh/v1/chat", service="infer.sh", method="POST",
          notes="Paid.", input={"model": "m", "messages": [
              {"role": "user", "content": f"{CANARY}-request-body"}]},
          body={"object": f"{CANARY}-object"}, retry=True),
    ]}))
    scripts = {
        f"{CANARY}-pass.sh": f"echo {CANARY}-stdout\n",
        f"{CANARY}-slow.sh": f"echo {CANARY}-slow\nsleep 5\n",
        f"{CANARY}-exit.sh": f"echo {CANARY}-stderr >&2\nexit 3\n",
        f"{CANARY}-error.sh": f"set -e\necho {CANARY}-before\nfalse\necho never\n",
        f"{CANARY}-output.sh": f"echo {CANARY}-other-output\n",
    }
    for name, body in scripts.items():
        (smoke / name).write_text(body)
    (smoke / "manifest.toml").write_text(f'''
[[scenario]]
name = "{CANARY}-passes"
script = "{CANARY}-pass.sh"
owners = ["{CANARY.lower()}-task"]
expect_stdout = "{CANARY}-stdout"

[[scenario]]
name = "{CANARY}-times-out"
script = "{CANARY}-slow.sh"
timeout_seconds = 1

[[scenario]]
name = "{CANARY}-exits-3"
script = "{CANARY}-exit.sh"

[[scenario]]
name = "{CANARY}-errors"
script = "{CANARY}-error.sh"

[[scenario]]
name = "{CANARY}-wrong-output"
script = "{CANARY}-output.sh"
expect_stdout = "{CANARY}-expected-output"

[[scenario]]
name = "{CANARY}-unreachable"
script = "{CANARY}-pass.sh"
endpoints = ["http://127.0.0.1:9/{CANARY}"]
''')
    return blind


def everything_written(root: Path) -> dict[str, str]:
    """Every file pytest or primgate wrote under ``root`` (outside the holdout directory)."""
    out: dict[str, str] = {}
    for path in root.rglob("*"):
        if path.is_file() and "blind" not in path.relative_to(root).parts:
            out[str(path.relative_to(root))] = path.read_text(errors="replace")
    return out


def test_nothing_of_a_holdout_scenario_leaks(pytester: pytest.Pytester) -> None:
    blind_dir(pytester)
    summary = pytester.path / "step-summary.md"
    os.environ["GITHUB_STEP_SUMMARY"] = str(summary)
    os.environ["GITHUB_ACTIONS"] = "true"
    try:
        run = pytester.runpytest_subprocess(
            "--primgate-holdout", "blind", "--primgate-sandbox", "--primgate-holdout-label", "t",
            "-vv", "-rA", "--tb=long", "-l", "--showlocals", "--log-level=DEBUG",
            "-o", "log_cli=true", "-o", "log_cli_level=DEBUG", "--junit-xml", "junit.xml",
            "--primgate-results-dir", "out", "--primgate-markdown", "gate.md",
        )
        collect = pytester.runpytest_subprocess(
            "--primgate-holdout", "blind", "--collect-only", "-vv",
        )
    finally:
        del os.environ["GITHUB_STEP_SUMMARY"], os.environ["GITHUB_ACTIONS"]
    texts = {
        "stdout": run.stdout.str(), "stderr": run.stderr.str(),
        "collect stdout": collect.stdout.str(), "collect stderr": collect.stderr.str(),
        **everything_written(pytester.path),
    }
    assert "junit.xml" in texts and "gate.md" in texts and "step-summary.md" in texts
    assert any(k.startswith(".pytest_cache") for k in texts), sorted(texts)
    assert any(k.startswith("evidence/holdout/") for k in texts), sorted(texts)
    leaks = [name for name, text in texts.items() if CANARY.lower() in text.lower()]
    assert leaks == [], leaks
    out = run.stdout.str()
    assert run.ret == 2  # an unreachable target is an infrastructure error
    for reason in ("status 404, expected 200", "shape mismatch", "endpoint unreachable",
                   "timed out after 1 s", "exit 3", "exit 1", "expected output not found"):
        assert reason in out, reason
    assert "holdout gate: FAILED 2/11 scenarios" in out
    assert "::error" in out
    evidence_file = next((pytester.path / "evidence" / "holdout").glob("*-t.json"))
    evidence = json.loads(evidence_file.read_text())
    jsonschema.validate(evidence, evidence_schema())
    assert evidence["total"] == 11 and evidence["passed"] == 2
    results = json.loads(next((pytester.path / "out").glob("*.json")).read_text())
    assert validate_results(results) == []
    assert results["mode"] == "holdout"


def counted_scenarios(directory: Path, passing: int, total: int) -> None:
    """``total`` scenarios of which ``passing`` pass."""
    smoke = directory / "smoke"
    smoke.mkdir(parents=True)
    (smoke / "ok.sh").write_text("exit 0\n")
    (smoke / "bad.sh").write_text("exit 1\n")
    body = "".join(
        f'[[scenario]]\nname = "s{i}"\nscript = "{"ok.sh" if i < passing else "bad.sh"}"\n\n'
        for i in range(total)
    )
    (smoke / "manifest.toml").write_text(body)


@pytest.mark.parametrize(
    ("passing", "ret", "line"),
    [(9, 0, "holdout gate: PASSED 9/10 scenarios (90 %, threshold 90 %)"),
     (8, 1, "holdout gate: FAILED 8/10 scenarios (80 %, threshold 90 %)")],
)
@pytest.mark.parametrize("workers", [("-p", "no:xdist"), ("-n", "2")])
def test_ninety_percent_boundary(
    pytester: pytest.Pytester, passing: int, ret: int, line: str, workers: tuple[str, str]
) -> None:
    counted_scenarios(pytester.path / "blind", passing, 10)
    result = pytester.runpytest_subprocess("--primgate-holdout", "blind", *workers, "-v")
    assert result.ret == ret, result.stdout.str()
    assert result.outlines[-1] == line
    assert all(f"s{i}" not in result.stdout.str().split("holdout/")[-1] for i in range(10))
    ids = {opaque_id("smoke/manifest.toml", f"s{i}") for i in range(10)}
    assert sum(1 for i in ids if i in result.stdout.str()) == 10


def test_a_scenario_passing_once_in_three_fails(pytester: pytest.Pytester) -> None:
    smoke = pytester.path / "blind" / "smoke"
    smoke.mkdir(parents=True)
    (smoke / "second.sh").write_text(
        'n=$(cat "$COUNTER" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$COUNTER"\n'
        '[ "$n" = 2 ]\n'
    )
    counter = pytester.path / "counter"
    (smoke / "manifest.toml").write_text(
        f'[[scenario]]\nname = "flaky"\nscript = "second.sh"\nenv = {{COUNTER = "{counter}"}}\n'
    )
    result = pytester.runpytest_subprocess("--primgate-holdout", "blind", "--primgate-runs", "1")
    assert result.ret == 1
    assert counter.read_text().strip() == "3"
    evidence = json.loads(next((pytester.path / "evidence" / "holdout").glob("*.json")).read_text())
    assert evidence["scenarios"][0]["attempts"] == ["F", "P", "F"]
    assert evidence["scenarios"][0]["result"] == "failed"


def test_missing_directory_is_an_infrastructure_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--primgate-holdout", "nowhere")
    assert result.ret == 2
    assert "holdout directory missing or unreadable" in result.stdout.str()


def test_environment_variable_selects_holdout_mode(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted_scenarios(pytester.path / "blind", 1, 1)
    monkeypatch.setenv("HOLDOUT_SCENARIOS_DIR", str(pytester.path / "blind"))
    result = pytester.runpytest_subprocess()
    assert result.ret == 0
    assert result.outlines[-1] == "holdout gate: PASSED 1/1 scenarios (100 %, threshold 90 %)"
