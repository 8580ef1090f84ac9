"""pytest-split owns ``--group``: primgate never breaks its command line, nor ``-W error`` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plans import plan, t

PLAN = plan({
    "onboarding": [t("W-1", "https://wallet.prim.sh/")],
    "search": [t("SE-1", "https://search.prim.sh/", service="search.sh")],
})


def write_plan(pytester: pytest.Pytester) -> None:
    (pytester.path / "smoke-test-plan.json").write_text(json.dumps(PLAN, indent=2))

NOTE = "primgate: --group belong(s) to another installed plugin here; primgate's form: *"


@pytest.fixture(scope="session")
def pytest_split_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pytest-split installed into its own folder (not the suite's venv: it would own --group
    for every other test); skips loudly when pip cannot get it."""
    target = tmp_path_factory.mktemp("pytest-split")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         "pytest-split>=0.9"], capture_output=True, text=True, timeout=180, check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"PYTEST-SPLIT NOT INSTALLABLE, clash test not run: {proc.stderr[-300:]}")
    return target


@pytest.fixture
def split_env(monkeypatch: pytest.MonkeyPatch, pytest_split_dir: Path) -> None:
    """Subprocess runs see pytest-split (its entry point autoloads, as when installed)."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(pytest_split_dir), os.environ.get("PYTHONPATH", "")])
    )


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_pytest_split_is_really_loaded(pytester: pytest.Pytester, split_env: None) -> None:
    result = _run(pytester, "--help")
    result.stdout.fnmatch_lines(["*--splits*", "*--primgate-group*"])


def test_no_note_and_no_error_under_w_error_without_group(
    pytester: pytest.Pytester, split_env: None
) -> None:
    write_plan(pytester)
    result = _run(pytester, "--primgate", "-W", "error", "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "belong(s) to another" not in result.stdout.str()
    assert len([line for line in result.outlines if "::" in line]) == 2


def test_typed_short_name_gets_a_note_never_an_error(
    pytester: pytest.Pytester, split_env: None
) -> None:
    write_plan(pytester)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    result = _run(pytester, "--primgate", "--primgate-group", "search",
                  "--group", "1", "--splits", "1", "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["smoke-test-plan.json::search::SE-1"])
    result.stdout.fnmatch_lines([NOTE])
