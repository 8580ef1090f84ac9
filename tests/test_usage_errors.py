"""Bad option values: one clear line each, exit 4 (pytest's usage error), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from pytest_primgate.cli import main
from pytest_primgate.sandbox.process import start_sandbox
from tests.plans import plan, t

SMOKE = """
[[scenario]]
name = "one"
script = "one.sh"
owners = ["task-a", "task-b"]
expect_exit = 0
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "smoke-test-plan.json").write_text(
        json.dumps(plan({"store": [t("ST-1", "https://store.prim.sh/")]})))
    (pytester.path / "x.smoke.toml").write_text(SMOKE)
    (pytester.path / "one.sh").write_text("exit 0\n")
    return pytester


@pytest.mark.parametrize(("args", "message"), [
    (["--primgate-timeout", "0"],
     "--primgate-timeout must be a positive number of seconds, got 0"),
    (["--primgate-timeout", "-2.5"],
     "--primgate-timeout must be a positive number of seconds, got -2.5"),
    (["--primgate-spawn-timeout", "0"],
     "--primgate-spawn-timeout must be a positive number of seconds, got 0"),
    (["--primgate-runs", "0"], "--primgate-runs must be at least 1, got 0"),
    (["--primgate-runs", "2", "--primgate-quorum", "3"],
     "--primgate-quorum must be between 1 and --primgate-runs (2), got 3"),
    (["--primgate-quorum", "0"],
     "--primgate-quorum must be between 1 and --primgate-runs (3), got 0"),
    (["--primgate-threshold", "store=120"],
     "--primgate-threshold store must be a percentage from 0 to 100, got '120'"),
    (["--primgate-holdout-threshold", "-1"],
     "--primgate-holdout-threshold must be a percentage from 0 to 100, got -1"),
    (["--primgate-owner-task", "nobody"],
     "--primgate-owner-task: unknown owner task 'nobody'; known owner tasks: task-a, task-b"),
])
def test_option_error(project: pytest.Pytester, args: list[str], message: str) -> None:
    result = project.runpytest("--primgate", "-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output and "INTERNALERROR" not in output


def test_known_owner_task_selects_its_scenario(project: pytest.Pytester) -> None:
    result = project.runpytest("--primgate", "--primgate-owner-task", "task-b", "-v",
                               "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["x.smoke.toml::one PASSED*"])
    assert result.ret == 0


def test_forgetting_primgate_beside_a_manifest_hints(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "no:cacheprovider", ".")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    hints = [line for line in result.outlines if "add --primgate" in line]
    assert hints == ["primgate: smoke-test-plan.json is a smoke manifest; add --primgate to run it"]


def test_no_hint_without_manifests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", ".")
    assert "add --primgate" not in result.stdout.str()
    result.assert_outcomes(passed=1)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"primgate {version('pytest-primgate')}\n"


@pytest.mark.parametrize(("args", "line"), [
    (["--port", "99999"], "primgate sandbox: --port must be 0 to 65535 (0: any free port), "
                          "got 99999"),
    (["--port", "-1"], "primgate sandbox: --port must be 0 to 65535 (0: any free port), got -1"),
    (["--host", "10.0.0.1"],
     "primgate sandbox: refusing to bind to '10.0.0.1'; use 127.0.0.1 or ::1"),
])
def test_sandbox_bad_option_is_one_line(args: list[str], line: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "pytest_primgate.cli", "sandbox", *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [line]
    assert proc.stdout == ""


def test_sandbox_root_names_the_service() -> None:
    with start_sandbox() as handle:
        body = httpx.get(handle.url + "/", timeout=10).json()
    assert body["service"] == "primgate sandbox"
    assert body["status"] == "ok"
    assert body["prims"]["store"] == "/store/"
    assert "_sandbox" not in body["prims"]
