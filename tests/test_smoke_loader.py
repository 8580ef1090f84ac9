"""Smoke manifest loading: the real workgraph manifest, expectations, and every load error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pytest_primgate.manifests.errors import ManifestError
from pytest_primgate.manifests.smoke import load_smoke, owners_kebab_ok
from tests.plans import UPSTREAM as UPSTREAM_DIR

UPSTREAM = UPSTREAM_DIR / "workgraph" / "manifest.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> ManifestError:
    path = _write(tmp_path, text)
    with pytest.raises(ManifestError) as info:
        load_smoke(path)
    return info.value


@pytest.mark.upstream
def test_upstream_workgraph_manifest_loads_exactly() -> None:
    text = UPSTREAM.read_text(encoding="utf-8")
    lines = text.splitlines()
    manifest = load_smoke(UPSTREAM)
    assert len(manifest.scenarios) == 108
    assert manifest.unknown_fields == ()
    headers = [n for n, line in enumerate(lines) if line.strip() == "[[scenario]]"]
    assert [s.line for s in manifest.scenarios] == headers
    assert all(s.owners and s.script.endswith(".sh") for s in manifest.scenarios)
    assert all(not s.has_assertions and not s.unknown_fields for s in manifest.scenarios)
    # owners blocks: count the scenarios listing "smoke-gate-is", straight from the text
    blocks = re.split(r"^\[\[scenario\]\]\s*$", text, flags=re.M)[1:]
    expected = sum(1 for block in blocks if re.search(r'^\s*"smoke-gate-is",?\s*$', block, re.M))
    assert len(manifest.owned_by("smoke-gate-is")) == expected == 46
    first = manifest.scenarios[0]
    assert first.name == "agency_csv_roundtrip"
    assert first.owners == ("impl-agency-csv-roundtrip", "fix-agency-csv")
    assert first.timeout_seconds == 30


def test_defaults_and_extensions(tmp_path: Path) -> None:
    manifest = load_smoke(_write(tmp_path, """
require_assertions = true
extra_top = 1

[[scenario]]
name = "a"
script = "a.sh"
expect_stdout = "hello"
expect_stdout_regex = "^h.*o$"
future_key = true

[[scenario]]
name = "b"
script = "b.sh"
owners = [" smoke-task ", ""]
timeout_seconds = 2.5
expect_exit = 3
expect_json = {ok = "boolean"}
endpoints = ["http://127.0.0.1:9/"]
cwd = "sub"
prim = "infer"
runs = 3
quorum = 2
env = {A = "1"}
expect_file = [{path = "out.txt", contains = ["x", "y"]}, {path = "o.json", json = {a = 1}}]

[[scenario]]
name = "c"
script = "c.sh"
[scenario.env]
B = "2"
[[scenario.expect_file]]
path = "f"
regex = "ab+c"
"""))
    assert manifest.require_assertions
    assert manifest.unknown_fields == ("extra_top",)
    a, b, c = manifest.scenarios
    assert (a.line, b.line, c.line) == (4, 11, 26)
    assert a.timeout_seconds == 180
    assert a.expect_stdout == ("hello",)
    assert a.stdout_pattern is not None and a.stdout_pattern.search("x\nhello\n")
    assert a.unknown_fields == ("future_key",)
    assert b.owners == ("smoke-task",)
    assert b.expect_exit == 3 and b.has_expect_json and b.expect_json == {"ok": "boolean"}
    assert [f.path for f in b.expect_file] == ["out.txt", "o.json"]
    assert b.expect_file[0].contains == ("x", "y") and b.expect_file[1].has_json
    assert (b.runs, b.quorum, b.cwd, b.prim, b.env) == (3, 2, "sub", "infer", {"A": "1"})
    assert c.env == {"B": "2"} and c.expect_file[0].pattern is not None
    assert all(s.has_assertions for s in (a, b, c))


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = = "x"\n')
    assert err.line == 3
    assert str(err) == f"{tmp_path / 'manifest.toml'}:3: invalid TOML: Invalid value"


def test_toml_error_at_end_of_document(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = [\n"a.sh",\n')
    assert (err.line, err.message) == (4, "invalid TOML: Invalid value")


def test_missing_script(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\n\n'
                           '[[scenario]]\nname = "b"\n')
    assert (err.line, err.field) == (5, "scenario[1].script")
    assert err.message == "missing required key 'script'"


def test_missing_name(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nscript = "a.sh"\n')
    assert (err.line, err.field, err.message) == (
        1, "scenario[0].name", "missing required key 'name'")


def test_wrong_type_names_field_and_line(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\ntimeout_seconds = "long"\n')
    assert str(err) == (
        f"{tmp_path / 'manifest.toml'}:4: scenario[0].timeout_seconds: "
        "must be a number, got string 'long'"
    )


def test_non_positive_timeout(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\ntimeout_seconds = 0\n')
    assert (err.line, err.field, err.message) == (
        4, "scenario[0].timeout_seconds", "must be > 0, got 0")


def test_expect_stdout_wrong_type(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\nexpect_stdout = 3\n')
    assert (err.line, err.field, err.message) == (
        4, "scenario[0].expect_stdout", "must be a string or an array, got number 3")


def test_owners_wrong_type(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\nowners = "x"\n')
    assert (err.line, err.field) == (4, "scenario[0].owners")
    assert err.message == "must be an array, got string 'x'"


def test_duplicate_names_give_both_lines(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\n\n'
                           '[[scenario]]\nname = "a"\nscript = "b.sh"\n')
    assert (err.line, err.field) == (6, "scenario[1].name")
    assert err.message.startswith(
        "duplicate scenario name 'a' (first defined at line 2, again at line 6)")


def test_bad_regex(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\n'
                           'expect_stdout_regex = "a(b"\n')
    assert (err.line, err.field) == (4, "scenario[0].expect_stdout_regex")
    assert err.message.startswith("invalid regex 'a(b': missing ), unterminated subpattern")


def test_bad_regex_in_expect_file(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\n'
                           'expect_file = {path = "f", regex = "[x"}\n')
    assert (err.line, err.field) == (4, "scenario[0].expect_file")
    assert err.message.startswith("invalid regex '[x'")


def test_expect_file_needs_path(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\n'
                           'expect_file = {contains = "x"}\n')
    assert (err.line, err.field, err.message) == (
        4, "scenario[0].expect_file.path", "missing required key 'path'")


def test_quorum_over_runs(tmp_path: Path) -> None:
    err = _error(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\nruns = 1\nquorum = 2\n')
    assert (err.line, err.field, err.message) == (
        5, "scenario[0].quorum", "quorum (2) must not exceed runs (1)")


def test_require_assertions_rejects_scenario_without_expectations(tmp_path: Path) -> None:
    err = _error(tmp_path, 'require_assertions = true\n\n'
                           '[[scenario]]\nname = "ok"\nscript = "a.sh"\nexpect_exit = 0\n\n'
                           '[[scenario]]\nname = "eyeball"\nscript = "b.sh"\n')
    assert (err.line, err.field) == (8, "scenario[1]")
    assert err.message.startswith(
        "scenario 'eyeball' has no expect_* key, but the manifest sets require_assertions = true")


def test_require_assertions_wrong_type(tmp_path: Path) -> None:
    err = _error(tmp_path, 'require_assertions = "yes"\n')
    assert (err.line, err.field) == (1, "require_assertions")


def test_multiline_strings_do_not_confuse_lines(tmp_path: Path) -> None:
    manifest = load_smoke(_write(tmp_path, '[[scenario]]\nname = "a"\nscript = "a.sh"\n'
                                           'description = """\n[[scenario]]\nname = "x"\n"""\n\n'
                                           '[[scenario]]\nname = "b"\nscript = "b.sh"\n'))
    assert [s.line for s in manifest.scenarios] == [0, 8]


def test_empty_manifest(tmp_path: Path) -> None:
    assert load_smoke(_write(tmp_path, "# nothing yet\n")).scenarios == ()


def test_unreadable_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read manifest"):
        load_smoke(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("owner", "ok"),
    [("smoke-gate-is", True), ("a1", True), ("Smoke", False), ("a_b", False), ("a--b", False),
     ("-a", False), ("", False)],
)
def test_owners_kebab_ok(owner: str, ok: bool) -> None:
    assert owners_kebab_ok(owner) is ok
