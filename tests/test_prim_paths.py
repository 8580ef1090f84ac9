"""ini ``primgate_prim_paths``: glob semantics and where the value is read from."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_primgate.prim_paths import compile_prim_paths, prims_of_path, read_ini_lines

KNOWN = ("store", "search", "email")


@pytest.mark.parametrize(("path", "prims"), [
    ("packages/store/src/service.ts", {"store"}),
    ("packages/store/prim.yaml", {"store"}),
    ("packages/ring/src/x.ts", set()),
    ("packages/store", set()),
    ("docs/store.md", set()),
    ("apps/search-api/main.go", {"search"}),
    ("apps/search-api/cmd/x/main.go", {"search"}),
    ("deploy/email.conf", {"email"}),
    ("deploy/sub/email.conf", set()),
])
def test_globs(path: str, prims: set[str]) -> None:
    compiled = compile_prim_paths(["packages/{id}/**", "search=apps/search-api/**",
                                   "# a comment", "deploy/{id}.conf"])
    assert prims_of_path(path, compiled, KNOWN) == prims


def test_an_entry_must_name_its_prim() -> None:
    with pytest.raises(ValueError, match=r"'src/\*\*' needs an \{id\} segment or PRIM=GLOB"):
        compile_prim_paths(["src/**"])


@pytest.mark.parametrize(("name", "text"), [
    ("pytest.ini", "[pytest]\nprimgate_prim_paths =\n    packages/{id}/**\n    x=lib/x/**\n"),
    ("tox.ini", "[pytest]\nprimgate_prim_paths =\n    packages/{id}/**\n    x=lib/x/**\n"),
    ("setup.cfg", "[tool:pytest]\nprimgate_prim_paths =\n    packages/{id}/**\n    x=lib/x/**\n"),
    ("pyproject.toml", '[tool.pytest.ini_options]\nprimgate_prim_paths = '
                       '["packages/{id}/**", "x=lib/x/**"]\n'),
])
def test_ini_sources(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert read_ini_lines(tmp_path) == ["packages/{id}/**", "x=lib/x/**"]


def test_pytest_ini_wins_even_without_the_key(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -q\n", encoding="utf-8")
    (tmp_path / "tox.ini").write_text("[pytest]\nprimgate_prim_paths = a/{id}/**\n")
    assert read_ini_lines(tmp_path) is None
    (tmp_path / "pytest.ini").unlink()
    assert read_ini_lines(tmp_path) == ["a/{id}/**"]
