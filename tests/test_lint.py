"""`primgate lint` findings on smoke manifests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_primgate.cli import main
from tests.plans import UPSTREAM

MANIFEST = """\
colour = "blue"

[[scenario]]
name = "eyeball"
script = "ok.sh"
owners = ["good-task", "Bad_Owner"]

[[scenario]]
name = "typo"
script = "missing.sh"
expect_stdot = "x"
expect_exit = 0

[[scenario]]
name = "clean"
script = "ok.sh"
owners = ["good-task"]
expect_stdout = "ok"
"""


def test_findings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                  capsys: pytest.CaptureFixture[str]) -> None:
    smoke = tmp_path / "smoke"
    smoke.mkdir()
    (smoke / "manifest.toml").write_text(MANIFEST)
    (smoke / "ok.sh").write_text("echo ok\n")
    monkeypatch.chdir(tmp_path)
    assert main(["lint"]) == 1
    m = "smoke/manifest.toml"
    assert capsys.readouterr().out.splitlines() == [
        f"{m}:1: unknown top-level key 'colour'",
        f"{m}:3: scenario 'eyeball' has no expect_* assertion (exit code only): "
        "state its expected output",
        f"{m}:6: scenario 'eyeball': owner 'Bad_Owner' is not a kebab-case task id",
        f"{m}:11: scenario 'typo': unknown key 'expect_stdot'",
        f"{m}:10: scenario 'typo': script not found: {m.replace('manifest.toml', 'missing.sh')}",
        "primgate lint: 1 file, 5 findings",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_script(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.smoke.toml").write_text(
        '[[scenario]]\nname = "a"\nscript = "a.sh"\nexpect_exit = 0\n')
    (tmp_path / "a.sh").write_text("true\n")
    (tmp_path / "a.sh").chmod(0)
    assert main(["lint", str(tmp_path / "a.smoke.toml")]) == 1
    assert "script not readable" in capsys.readouterr().out


def test_clean_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.smoke.toml"
    path.write_text('[[scenario]]\nname = "a"\nscript = "a.sh"\nowners = ["t-1"]\n'
                    'expect_stdout = "a"\n')
    (tmp_path / "a.sh").write_text("echo a\n")
    assert main(["lint", str(tmp_path)]) == 0
    assert capsys.readouterr().out == "primgate lint: 1 file, 0 findings\n"


def test_invalid_manifest_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.smoke.toml"
    path.write_text('[[scenario]]\nname = "a"\nscript = "a.sh"\nruns = "two"\n')
    assert main(["lint", str(path)]) == 2
    assert capsys.readouterr().out == (
        f"{path}:4: scenario[0].runs: must be an integer, got string 'two'\n"
        "primgate lint: 1 file, 0 findings, 1 invalid\n")


@pytest.mark.upstream
def test_upstream_manifest_is_all_eyeball_gates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(UPSTREAM / "workgraph" / "manifest.toml")]) == 1
    out = capsys.readouterr().out.splitlines()
    assert sum("has no expect_* assertion" in line for line in out) == 108
    assert out[-1] == f"primgate lint: 1 file, {len(out) - 1} findings"


PLAN = """{
  "plan": "x",
  "version": 1,
  "network": "eip155:84532",
  "context": "",
  "colour": "blue",
  "groups": [{"id": "g", "name": "G", "prompt": "", "tests": ["T-1"]}],
  "tests": [
    {
      "id": "T-1", "service": "store.sh", "test": "health", "method": "GET",
      "endpoint": "https://store.prim.sh/", "input": null,
      "expected": {"status": 200}, "depends_on": [], "captures": {}, "notes": "",
      "expeced": {"status": 201}
    }
  ]
}
"""


def test_plan_unknown_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.plan.json"
    path.write_text(PLAN)
    assert main(["lint", str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:6: unknown top-level key 'colour'",
        f"{path}:13: unknown key 'tests[0].expeced' (test 'T-1')",
        "primgate lint: 1 file, 2 findings",
    ]


GROUPS_PLAN = """{
  "plan": "x", "version": 1, "network": "eip155:84532", "context": "",
  "groups": [
    {"id": "a", "name": "A", "prompt": "", "tests": ["T-1"]},
    {
      "id": "b",
      "name": "B",
      "prompt": "",
      "bar": 1,
      "tests": ["T-2"]
    },
    {
      "id": "c", "name": "C", "prompt": "", "tests": [],
      "canary_only": true,
      "interface": "cli",
      "setup": "echo hi",
      "cleanup": "echo bye"
    }
  ],
  "tests": [
    {
      "id": "T-1", "service": "store.sh", "test": "health", "method": "GET",
      "endpoint": "https://store.prim.sh/", "input": null,
      "expected": {
        "status": 200,
        "bdy": {}
      },
      "depends_on": [], "captures": {}, "notes": ""
    },
    {
      "id": "T-2", "service": "store.sh", "test": "generated", "method": "GET",
      "endpoint": "https://store.prim.sh/v1/buckets", "input": null,
      "expected": {"status": 402}, "depends_on": [], "captures": {}, "notes": "",
      "generated": true
    }
  ]
}
"""


def test_plan_keys_at_their_own_lines_with_key_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.plan.json"
    path.write_text(GROUPS_PLAN)
    assert main(["lint", str(path)]) == 1
    canary = "is used only by --canary; a deterministic run ignores it"
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:9: unknown key 'groups[1].bar' (group 'b')",
        f"{path}:26: unknown key 'tests[0].expected.bdy' (test 'T-1')",
        f"{path}:14: note: key 'groups[2].canary_only' (group 'c') {canary}",
        f"{path}:15: note: key 'groups[2].interface' (group 'c') {canary}",
        f"{path}:16: note: key 'groups[2].setup' (group 'c') {canary}",
        f"{path}:17: note: key 'groups[2].cleanup' (group 'c') {canary}",
        f"{path}:34: note: key 'tests[1].generated' (test 'T-2') is informational "
        "(set by prim.sh's gen-gate); it changes nothing",
        "primgate lint: 1 file, 2 findings",
    ]


def test_inert_keys_alone_are_notes_not_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.plan.json"
    path.write_text(GROUPS_PLAN.replace('"bar": 1,', "").replace('"bdy": {}', '"body": {}'))
    assert main(["lint", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6 and all(": note: key '" in line for line in out[:5])
    assert out[5] == "primgate lint: 1 file, 0 findings"


def test_example_manifests_are_lint_clean(capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).resolve().parent.parent / "manifests"
    assert main(["lint", str(examples)]) == 0, capsys.readouterr().out
    assert capsys.readouterr().out.splitlines()[-1] == "primgate lint: 2 files, 0 findings"


def test_console_script_reports_group_key_at_its_line(pytester: pytest.Pytester) -> None:
    """The installed ``primgate`` command, as a user runs it."""
    import shutil
    import sys

    exe = shutil.which("primgate", path=str(Path(sys.executable).parent))
    assert exe is not None
    pytester.makefile(".plan.json", x=GROUPS_PLAN)
    result = pytester.run(exe, "lint", "x.plan.json")
    assert result.ret == 1
    lines = result.outlines
    assert lines[:2] == ["x.plan.json:9: unknown key 'groups[1].bar' (group 'b')",
                         "x.plan.json:26: unknown key 'tests[0].expected.bdy' (test 'T-1')"]
    assert lines[2].startswith("x.plan.json:14: note: key 'groups[2].canary_only' (group 'c') "
                               "is used only by --canary")
    assert lines[6].startswith("x.plan.json:34: note: key 'tests[1].generated' (test 'T-2') "
                               "is informational")
    assert lines[-1] == "primgate lint: 1 file, 2 findings"
    assert "top-level key 'groups" not in result.stdout.str()
