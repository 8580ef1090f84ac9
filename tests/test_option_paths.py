"""Option values never move rootdir: `--primgate-results-dir DIR`, `--primgate-holdout DIR`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCENARIO = """
[[scenario]]
name = "blind_one"
script = "ok.sh"
expect_stdout = "fine"
"""


def _outside(pytester: pytest.Pytester, name: str) -> Path:
    """A folder beside (not inside) the pytester project."""
    path = pytester.path.parent / f"{pytester.path.name}-{name}"
    path.mkdir()
    return path


def test_results_dir_as_two_arguments_keeps_rootdir(pytester: pytest.Pytester) -> None:
    results = _outside(pytester, "results")
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest("--primgate", "--primgate-results-dir", str(results), "-v")
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "test_plain.py::test_one PASSED*"])
    assert result.ret == 0
    assert len(list(results.glob("*-local.json"))) == 1


def test_holdout_as_two_arguments_writes_under_the_project(pytester: pytest.Pytester) -> None:
    holdout = _outside(pytester, "holdout")
    (holdout / "blind.smoke.toml").write_text(SCENARIO)
    (holdout / "ok.sh").write_text("echo fine\n")
    result = pytester.runpytest("--primgate-holdout", str(holdout), "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}"])
    assert result.ret == 0, result.stdout.str()
    assert sorted(p.name for p in holdout.iterdir()) == ["blind.smoke.toml", "ok.sh"]
    [run] = (pytester.path / "tests" / "runs").glob("*-holdout.json")
    assert json.loads(run.read_text())["mode"] == "holdout"
    assert list((pytester.path / "evidence" / "holdout").glob("*.json"))


def test_ini_file_of_the_project_is_still_found(pytester: pytest.Pytester) -> None:
    results = _outside(pytester, "results")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nmarkers = mine: a marker\n")
    pytester.makepyfile(test_m="import pytest\n\n@pytest.mark.mine\ndef test_one():\n    pass\n")
    result = pytester.runpytest("--strict-markers", "--primgate-results-dir", str(results))
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "configfile: tox.ini"])
    result.assert_outcomes(passed=1)
