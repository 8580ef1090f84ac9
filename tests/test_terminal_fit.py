"""What the terminal shows fits it: the 80-column layout, dry-run URLs, skip locations."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from tests.plans import plan, t

SMOKE = """
[[scenario]]
name = "a_scenario_with_a_rather_long_name_that_pushes_the_table"
script = "ok.sh"
prim = "a-prim-with-a-long-name"
expect_stdout = "ok"

[[scenario]]
name = "skips"
script = "skip.sh"
expect_exit = 0
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    (pytester.path / "x.smoke.toml").write_text(SMOKE)
    (pytester.path / "ok.sh").write_text("echo ok\n")
    (pytester.path / "skip.sh").write_text("echo 'no docker here' >&2\nexit 77\n")
    return pytester


def _gate_section(result: pytest.RunResult) -> list[str]:
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "primgate gate" in line)
    return lines[start:]


def test_summary_fits_80_columns(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = project.runpytest("--primgate", "--primgate-runs", "1", "-p", "no:cacheprovider")
    section = _gate_section(result)
    too_wide = [line for line in section if len(line) > 80]
    assert too_wide == []
    assert section[1].split() == ["name", "status", "pass", "fail", "blkd", "skip", "unr",
                                  "flky", "retries", "rate%", "thr%", "verdict"]
    assert any(line.startswith("pass/fail/blkd/skip/unr/flky = passed/") for line in section)
    assert any(line.startswith("prim  a-prim-") and "…" in line for line in section)
    assert section[-1].startswith("primgate: PASSED")  # the verdict: one line, last


def test_summary_keeps_the_full_layout_when_wide(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = project.runpytest("--primgate", "--primgate-runs", "1", "-p", "no:cacheprovider")
    header = _gate_section(result)[1]
    assert header.split()[2:6] == ["passed", "failed", "blocked", "skipped"]
    assert "pass/fail/blkd" not in result.stdout.str()


def test_verdict_line_is_one_line_naming_every_failure(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    names = [f"failing_scenario_number_{i}_with_a_long_name" for i in range(3)]
    pytester.makefile(".smoke.toml", x="".join(
        f'[[scenario]]\nname = "{n}"\nscript = "no.sh"\nexpect_exit = 0\n' for n in names))
    (pytester.path / "no.sh").write_text("exit 3\n")
    result = pytester.runpytest("--primgate", "--primgate-runs", "1", "-p", "no:cacheprovider")
    last = result.outlines[-1]
    assert last.startswith("primgate: FAILED")
    assert all(f"x.smoke.toml::{name}" in last for name in names)
    section = _gate_section(result)[:-1]
    assert [line for line in section if len(line) > 80] == []


def test_dry_run_shows_the_sandbox_url_and_fits(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    (pytester.path / "smoke-test-plan.json").write_text(json.dumps(plan({"store": [
        t("ST-1", "https://store.prim.sh/v1/buckets/{{test_prefix}}-with-a-long-bucket-name"),
    ]})))
    result = pytester.runpytest("--primgate", "--primgate-sandbox", "--primgate-dry-run")
    out = result.stdout.str()
    assert "https://store.prim.sh" not in out
    result.stdout.fnmatch_lines(["    http://127.0.0.1:<port>/store/v1/buckets/*-with-a-long-bucket-name"])
    section = out[out.index("primgate dry run"):].splitlines()
    assert [line for line in section[1:] if len(line) > 80 and "127.0.0.1" not in line] == []
    assert result.ret == 0


def test_skip_location_is_the_manifest_line(project: pytest.Pytester) -> None:
    result = project.runpytest("--primgate", "--primgate-runs", "1", "-rs",
                               "--junit-xml=junit.xml", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["SKIPPED [[]1] x.smoke.toml:8: *no docker here*"])
    assert "items.py" not in result.stdout.str()
    skipped = ET.parse(project.path / "junit.xml").find(".//skipped")
    assert skipped is not None and skipped.text is not None
    assert skipped.text.startswith(f"{project.path / 'x.smoke.toml'}:8: ")
