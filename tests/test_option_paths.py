"""Option values never move rootdir: `--primgate-results-dir DIR`, `--primgate-holdout DIR`.

pytest picks rootdir before plugins load, so a path written as a separate argument of a primgate
option would count as a test path there. Outside the start directory that is a usage error
naming the ``--opt=DIR`` form; the ``=`` form and values inside the start directory work.
"""

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


def test_results_dir_outside_as_two_arguments_is_a_usage_error(
    pytester: pytest.Pytester,
) -> None:
    results = _outside(pytester, "results")
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--primgate", "--primgate-results-dir", str(results))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"ERROR: --primgate-results-dir {results}: written as two arguments, pytest takes "
        f"{results} for a test path *; write --primgate-results-dir={results}",
    ])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not list(results.iterdir())


def test_results_dir_with_equals_keeps_rootdir(pytester: pytest.Pytester) -> None:
    results = _outside(pytester, "results")
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--primgate", f"--primgate-results-dir={results}", "-v")
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "test_plain.py::test_one PASSED*"])
    assert result.ret == 0
    assert len(list(results.glob("*-local.json"))) == 1


def test_results_dir_inside_as_two_arguments_is_fine(pytester: pytest.Pytester) -> None:
    (pytester.path / "out").mkdir()
    pytester.makepyfile(test_plain="def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--primgate", "--primgate-results-dir", "out", "-v")
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "test_plain.py::test_one PASSED*"])
    assert result.ret == 0
    assert len(list((pytester.path / "out").glob("*-local.json"))) == 1


def test_holdout_with_equals_writes_under_the_project(pytester: pytest.Pytester) -> None:
    holdout = _outside(pytester, "holdout")
    (holdout / "blind.smoke.toml").write_text(SCENARIO)
    (holdout / "ok.sh").write_text("echo fine\n")
    result = pytester.runpytest_subprocess(
        f"--primgate-holdout={holdout}", "-p", "no:cacheprovider"
    )
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}"])
    assert result.ret == 0, result.stdout.str()
    assert sorted(p.name for p in holdout.iterdir()) == ["blind.smoke.toml", "ok.sh"]
    [run] = (pytester.path / "tests" / "runs").glob("*-holdout.json")
    assert json.loads(run.read_text())["mode"] == "holdout"
    assert list((pytester.path / "evidence" / "holdout").glob("*.json"))


def test_holdout_outside_as_two_arguments_is_a_usage_error(pytester: pytest.Pytester) -> None:
    holdout = _outside(pytester, "holdout")
    (holdout / "blind.smoke.toml").write_text(SCENARIO)
    result = pytester.runpytest_subprocess("--primgate-holdout", str(holdout))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*write --primgate-holdout={holdout}"])
    assert sorted(p.name for p in holdout.iterdir()) == ["blind.smoke.toml"]


def test_ini_file_of_the_project_is_still_found(pytester: pytest.Pytester) -> None:
    results = _outside(pytester, "results")
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider\nmarkers = mine: a marker\n")
    pytester.makepyfile(test_m="import pytest\n\n@pytest.mark.mine\ndef test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--strict-markers", f"--primgate-results-dir={results}")
    result.stdout.fnmatch_lines([f"rootdir: {pytester.path}", "configfile: tox.ini"])
    result.assert_outcomes(passed=1)
