"""Runs as a new user starts them: pytest by absolute path from a virtualenv that is not active."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

import pytest

from pytest_primgate.interpreter import run_env, scripts_dir

REPO = Path(__file__).resolve().parents[1]
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"


def _unactivated(monkeypatch: pytest.MonkeyPatch) -> Path:
    """PATH without this interpreter's scripts folder; the absolute path of its pytest."""
    monkeypatch.setenv("PATH", PLAIN_PATH)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.delenv("PRIMGATE_PYTHON", raising=False)
    pytest_bin = Path(sysconfig.get_path("scripts")) / "pytest"
    if not pytest_bin.exists():  # pragma: no cover - pip always installs the script
        pytest.fail(f"no pytest script at {pytest_bin}")
    return pytest_bin


def test_run_env_points_at_this_interpreter() -> None:
    env = run_env({"PATH": f"/usr/bin:{scripts_dir()}:/bin"})
    assert env["PRIMGATE_PYTHON"] == sys.executable
    assert env["PATH"].split(os.pathsep) == [scripts_dir(), "/usr/bin", "/bin"]
    assert (Path(scripts_dir()) / "primgate").exists()


@pytest.mark.slow
def test_example_gate_passes_from_an_unactivated_venv(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """README command 1 by absolute path: the scenario scripts still find our python/primgate."""
    shutil.copytree(REPO / "manifests", pytester.path / "manifests")
    pytest_bin = _unactivated(monkeypatch)
    assert shutil.which("primgate", path=PLAIN_PATH) is None
    result = pytester.run(
        str(pytest_bin), "--primgate", "--primgate-sandbox", "--ci", "-p", "no:cacheprovider",
        "-v", "manifests/", timeout=240,
    )
    out = result.stdout.str()
    assert "No module named" not in out, out
    assert result.ret == 0, out
    result.stdout.fnmatch_lines(["*manifest.toml::infer_chat_paid_completion PASSED*",
                                 "*manifest.toml::smoke_manifest_lints_clean PASSED*"])
    assert result.parseoutcomes().get("failed", 0) == 0


def _run_bounded(argv: list[str], env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run in its own process group, killed whole if it overruns."""
    import signal
    import subprocess

    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"{argv} did not finish in {timeout} s")
    return proc.returncode, out


def test_ci_run_fails_without_upstream_files() -> None:
    env = {**os.environ, "PRIMGATE_UPSTREAM_DIR": "/nonexistent/upstream"}
    env.pop("PRIMGATE_UPSTREAM_OPTIONAL", None)
    code, out = _run_bounded(["bash", ".ci/run"], env, timeout=30)
    assert code == 1
    assert out.strip() == (".ci/run: upstream files not found at /nonexistent/upstream "
                           "(set PRIMGATE_UPSTREAM_DIR): CI must run the upstream tests")


@pytest.mark.parametrize(("require", "code", "outcome"),
                         [("", 0, "1 skipped"), ("1", 1, "1 error")])
def test_upstream_tests_skip_loudly_or_fail_when_required(
    require: str, code: int, outcome: str
) -> None:
    env = {**os.environ, "PRIMGATE_UPSTREAM_DIR": "/nonexistent/upstream",
           "PRIMGATE_REQUIRE_UPSTREAM": require}
    code_seen, out = _run_bounded(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "tests/test_checks.py::test_counts_as_pass_on_upstream"], env, timeout=120)
    assert code_seen == code, out
    assert outcome in out
    loud = "PRIMGATE_REQUIRE_UPSTREAM=1" if require else "1 upstream tests SKIPPED"
    assert loud in out
