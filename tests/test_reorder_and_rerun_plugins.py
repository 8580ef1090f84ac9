"""pytest-randomly and pytest-rerunfailures (test extras) do not change the gate: the example
manifests give the same verdict and per-item outcomes with them as without them, and a rerun
item has exactly one result in the gate, the results file and junit-xml."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.plans import results

MANIFESTS = Path(__file__).resolve().parent.parent / "manifests"
GATE = ("--primgate", "--primgate-sandbox", "--ci", "-p", "no:cacheprovider")


def examples(pytester: pytest.Pytester) -> None:
    for entry in MANIFESTS.iterdir():
        target = pytester.path / entry.name
        if entry.is_dir():
            shutil.copytree(entry, target)
        else:
            shutil.copy(entry, target)


def outcomes(data: dict[str, Any]) -> dict[str, tuple[str, int, int]]:
    """Per item: outcome, attempts, passes (what must not depend on plugins)."""
    return {x["nodeid"]: (x["outcome"], x["attempts"], x["passes"]) for x in data["tests"]}


def gate(pytester: pytest.Pytester, out: str, *args: str) -> tuple[int, str, dict[str, Any]]:
    result = pytester.runpytest_subprocess(*GATE, "--primgate-results-dir", out, *args)
    data = results(pytester.path / out)
    assert result.outlines[-1] == data["verdict_line"]
    assert result.ret == data["exit_code"]
    return result.ret, data["verdict"], data


def test_randomly_keeps_plan_and_dependency_order(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)  # the suite's fixed order: off here
    examples(pytester)
    base = gate(pytester, "base", "-p", "no:randomly", "--group", "store")
    assert base[:2] == (0, "PASSED")
    for seed in ("1", "2", "3"):
        shuffled = gate(pytester, f"seed-{seed}", "-p", "randomly", "-p", "no:xdist",
                        f"--randomly-seed={seed}", "--group", "store")
        assert shuffled[:2] == base[:2], seed
        assert outcomes(shuffled[2]) == outcomes(base[2]), seed
    xdist = gate(pytester, "xdist", "-p", "randomly", "--randomly-seed=4", "-n", "2")
    whole = gate(pytester, "whole", "-p", "no:randomly", "-p", "no:xdist")
    assert xdist[:2] == whole[:2] == (0, "PASSED")
    assert outcomes(xdist[2]) == outcomes(whole[2])


def test_rerunfailures_leaves_one_result_per_item(pytester: pytest.Pytester) -> None:
    examples(pytester)
    base = gate(pytester, "base", "--group", "store")
    rerun = gate(pytester, "rerun", "--group", "store", "--reruns", "2")
    assert rerun[:2] == base[:2] and outcomes(rerun[2]) == outcomes(base[2])


FLAKY_ONCE = 'if [ -f "$0.ran" ]; then exit 0; fi\ntouch "$0.ran"\necho first >&2\nexit 1\n'


def test_primgate_items_are_not_rerun_plain_tests_are(pytester: pytest.Pytester) -> None:
    smoke = pytester.path / "smoke"
    smoke.mkdir()
    (smoke / "ok.sh").write_text("exit 0\n")
    (smoke / "second.sh").write_text(FLAKY_ONCE)
    (smoke / "manifest.toml").write_text(
        '[[scenario]]\nname = "steady"\nscript = "ok.sh"\n\n'
        '[[scenario]]\nname = "second_time_lucky"\nscript = "second.sh"\n\n'
        '[[scenario]]\nname = "also_steady"\nscript = "ok.sh"\n'
    )
    pytester.makepyfile(test_plain="""
        from pathlib import Path

        def test_flaky_once(tmp_path_factory):
            marker = Path(__file__).with_suffix(".ran")
            if not marker.exists():
                marker.touch()
                raise AssertionError("first time")
        """)
    result = pytester.runpytest_subprocess(
        "--primgate", "--ci", "-p", "no:cacheprovider", "--reruns", "2",
        "--primgate-results-dir", "out", "--junit-xml", "junit.xml",
    )
    counts = result.parseoutcomes()
    assert (counts["passed"], counts["rerun"]) == (4, 1), result.stdout.str()
    assert result.ret == 0, result.stdout.str()
    assert result.outlines[-1] == "primgate: PASSED — 1 prim gated, all hard gates pass"
    data = results(pytester.path / "out")
    got = [(x["test_id"], x["outcome"], x["attempt_outcomes"]) for x in data["tests"]]
    assert got == [("steady", "passed", ["P", "P"]),
                   ("second_time_lucky", "passed", ["F", "P", "P"]),
                   ("also_steady", "passed", ["P", "P"])]
    cases = ET.parse(pytester.path / "junit.xml").getroot().findall(".//testcase")
    names = [c.get("name") for c in cases if c.get("classname") == "smoke.manifest.toml"]
    assert sorted(names) == ["also_steady", "second_time_lucky", "steady"]


@pytest.mark.parametrize("flag", [("--force-reruns", "1"), ("--reruns", "1", "--reruns-mode",
                                                              "append")])
def test_forcing_reruns_of_primgate_items_is_a_usage_error(
    pytester: pytest.Pytester, flag: tuple[str, ...]
) -> None:
    result = pytester.runpytest_subprocess("--primgate", "--ci", "-p", "no:cacheprovider", *flag)
    assert result.ret == 4
    assert "would rerun primgate items; they retry by majority" in result.stderr.str()
    assert "primgate:" not in result.stdout.str()


def test_strict_markers_without_rerunfailures_under_xdist_is_no_internal_error(
    pytester: pytest.Pytester,
) -> None:
    examples(pytester)
    pytester.makeini("[pytest]\nstrict = true\n")
    result = pytester.runpytest_subprocess(
        "--primgate", "--primgate-sandbox", "--ci", "-n", "2", "-p", "no:rerunfailures",
        "-p", "no:cacheprovider",
    )
    text = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in text and result.ret == 0, text
    result.stdout.fnmatch_lines(["primgate: PASSED*"])
