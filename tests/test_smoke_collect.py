"""The real workgraph manifest collects through the plugin exactly as is."""

from __future__ import annotations

import re
import shutil

import pytest

from tests.plans import UPSTREAM as UPSTREAM_DIR

UPSTREAM = UPSTREAM_DIR / "workgraph" / "manifest.toml"
pytestmark = pytest.mark.upstream


def _owned(text: str, task: str) -> list[str]:
    names = []
    for block in re.split(r"^\[\[scenario\]\]\s*$", text, flags=re.M)[1:]:
        if re.search(rf'^\s*"{re.escape(task)}",?\s*$', block, re.M):
            found = re.search(r'^name = "([^"]+)"', block, re.M)
            assert found is not None
            names.append(found.group(1))
    return names


def test_upstream_manifest_collects_108_items(pytester: pytest.Pytester) -> None:
    smoke = pytester.path / "tests" / "smoke"
    smoke.mkdir(parents=True)
    shutil.copy(UPSTREAM, smoke / "manifest.toml")
    result = pytester.runpytest("--primgate", "--collect-only", "-q", "-p", "no:cacheprovider")
    nodeids = [line for line in result.outlines if "manifest.toml::" in line]
    assert len(nodeids) == 108
    assert nodeids[0] == "tests/smoke/manifest.toml::agency_csv_roundtrip"


def test_owner_task_marker_selects_owned_scenarios(pytester: pytest.Pytester) -> None:
    text = UPSTREAM.read_text(encoding="utf-8")
    shutil.copy(UPSTREAM, pytester.path / "wg.smoke.toml")
    expected = _owned(text, "smoke-gate-is")
    result = pytester.runpytest(
        "--primgate", "--collect-only", "-q", "-p", "no:cacheprovider",
        "-m", "owner_task(name='smoke-gate-is')",
    )
    selected = [line.split("::", 1)[1] for line in result.outlines if "wg.smoke.toml::" in line]
    assert selected == expected
    assert len(selected) == 46


def test_owned_scenarios_run_as_script_not_found_cleanly(pytester: pytest.Pytester) -> None:
    """The scripts are not shipped: every owned scenario fails "script not found", no traceback."""
    shutil.copy(UPSTREAM, pytester.path / "wg.smoke.toml")
    result = pytester.runpytest_subprocess(
        "--primgate", "-p", "no:cacheprovider", "--primgate-runs", "1", "-n", "2",
        "--owner-task", "smoke-gate-is", "--primgate-results-dir", "out",
    )
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == 1
    assert result.parseoutcomes()["failed"] == 46
    assert out.count("script not found: ") >= 46
    assert "Traceback" not in out and "INTERNALERROR" not in out
